"""How a client gets their app login: an invitation from their clinician, accepted with a new password."""

from datetime import timedelta
from typing import NamedTuple

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinical.models import Client, ClientInvitation, Role, User
from clinical.selectors import clients_writable_by
from kernel.audit import audit_append
from kernel.changes import require_in
from kernel.errors import Conflict, InvalidInput
from kernel.events import happened
from kernel.tokens import new_token, token_digest

from .accounts import user_create

INVITATION_LIFETIME = timedelta(hours=72)


class IssuedInvitation(NamedTuple):
    invitation: ClientInvitation
    token: str  # shown once: only its hash is kept


@transaction.atomic
def invitation_create(*, actor, client: Client) -> IssuedInvitation:
    """A new single-use invitation (valid 72 hours) replacing any open one. The token is returned once and
    only its hash is kept."""
    require_in(clients_writable_by(user=actor), client, detail="Only the client's clinician may invite them.")
    if client.user_id is not None:
        raise Conflict("This client already has a login.", code="client_has_login")
    now = timezone.now()
    Client.objects.select_for_update().filter(pk=client.pk).first()  # one invitation at a time per client
    ClientInvitation.objects.filter(client=client, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    token = new_token()
    invitation = ClientInvitation.objects.create(
        client=client, token_hash=token_digest(token), created_by=actor, expires_at=now + INVITATION_LIFETIME
    )
    audit_append(actor=actor, action="invite", object_type="client", object_ids=[client.pk])
    return IssuedInvitation(invitation, token)


@transaction.atomic
def invitation_accept(*, token: str, email: str, password: str) -> User:
    """Create the client's login from a valid invitation. Used, replaced, expired and unknown tokens are
    refused alike."""
    invitation = (
        ClientInvitation.objects.select_for_update()
        .select_related("client")
        .filter(
            token_hash=token_digest(token), used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .first()
    )
    if invitation is None or invitation.client.user_id is not None:
        raise InvalidInput({"token": ["This invitation is not valid: it was used, replaced or has expired."]})
    client = invitation.client
    display_name = client.preferred_name or client.given_name
    try:
        validate_password(password, User(email=email, display_name=display_name))
    except ValidationError as exc:
        raise InvalidInput({"password": list(exc.messages)}) from exc
    user = user_create(email=email, display_name=display_name, role=Role.CLIENT, password=password)
    Client.objects.filter(pk=client.pk).update(user=user, version=client.version + 1, updated_at=timezone.now())
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    audit_append(actor=user, action="accept_invitation", object_type="client", object_ids=[client.pk])
    happened("invitation.accepted", client=client)
    return user
