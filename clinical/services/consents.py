"""Consents (issue 17, the part reminders need): a client consents to electronic communication in the app."""

from django.db import transaction
from django.utils import timezone

from clinical.models import Client, Consent
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_valid, update_versioned
from kernel.errors import NotAllowed


def _own_client(actor) -> Client:
    client = Client.objects.filter(user=actor).first()
    if client is None:
        raise NotAllowed("Only a client in care consents here.", code="not_a_client")
    return client


@transaction.atomic
def consent_give(*, actor, kind: str) -> Consent:
    """The caller (a client) consents to `kind`. Consenting again while it is in force is the same consent."""
    client = _own_client(actor)
    current = Consent.objects.select_for_update().filter(client=client, kind=kind, revoked_at__isnull=True).first()
    if current is not None:
        return current
    consent = save_valid(Consent(client=client, kind=kind, given_by=actor))
    audit_append(actor=actor, action="consent", object_type="consent", object_ids=[consent.pk], detail={"kind": kind})
    return consent


@transaction.atomic
def consent_revoke(*, actor, consent: Consent) -> Consent:
    """The consent ends now (kept, with when it was revoked). Idempotent."""
    locked = lock_at_version(consent, expected_version=None)
    if locked.revoked_at is not None:
        return locked
    consent = update_versioned(locked, expected_version=None, changes={"revoked_at": timezone.now()}, locked=True)
    audit_append(actor=actor, action="revoke", object_type="consent", object_ids=[consent.pk])
    return consent
