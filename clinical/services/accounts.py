"""Accounts and supervision: the practice admin's work."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical.models import STAFF_ROLES, Role, Supervision, User
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput


@transaction.atomic
def user_create(*, email: str, display_name: str, role: str, password: str | None = None) -> User:
    """Create an account. E-mail addresses are unique whatever their case (they are stored lower-case)."""
    email = User.objects.normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise InvalidInput({"email": ["An account with this e-mail address already exists."]})
    user = User(email=email, display_name=display_name, role=role)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            return save_valid(user, exclude_validation=["password"])
    except IntegrityError as exc:  # a concurrent create with the same address
        raise InvalidInput({"email": ["An account with this e-mail address already exists."]}) from exc


@transaction.atomic
def staff_create(
    *, actor: User, email: str, display_name: str, role: str = Role.CLINICIAN, password: str | None = None
) -> User:
    """The practice admin creates a clinician or supervisor account; other roles are created elsewhere."""
    if role not in STAFF_ROLES:
        raise InvalidInput({"role": [f"A clinician's role is one of: {', '.join(STAFF_ROLES)}."]})
    user = user_create(email=email, display_name=display_name, role=role, password=password)
    audit_append(actor=actor, action="create", object_type="staff", object_ids=[user.pk], detail={"role": role})
    return user


@transaction.atomic
def staff_update(*, actor: User, clinician: User, expected_version: int | None, **changes) -> User:
    """Change a clinician's name, e-mail, role or active flag.

    A supervisor who still supervises someone cannot be made a plain clinician. Deactivating an account
    revokes its tokens at once: it can no longer call the API, even with a token issued before.
    """
    role = changes.get("role")
    if role is not None and role not in STAFF_ROLES:
        raise InvalidInput({"role": [f"A clinician's role is one of: {', '.join(STAFF_ROLES)}."]})
    demoted = role == Role.CLINICIAN and clinician.role == Role.SUPERVISOR
    if demoted and Supervision.objects.filter(supervisor=clinician, ended_on__isnull=True).exists():
        raise Conflict("End this supervisor's active supervisions first.", code="supervisor_has_supervisees")
    if "email" in changes:
        changes["email"] = User.objects.normalize_email(changes["email"])
        if User.objects.filter(email=changes["email"]).exclude(pk=clinician.pk).exists():
            raise InvalidInput({"email": ["An account with this e-mail address already exists."]})
    updated = update_versioned(clinician, expected_version=expected_version, changes=changes)
    if changes.get("is_active") is False:
        tokens_revoke_all(user=updated)
    # Which fields changed, and the new role or active flag (no names or addresses: the trail outlives them).
    detail = {"fields": sorted(changes), **{k: changes[k] for k in ("role", "is_active") if k in changes}}
    action = "deactivate" if changes.get("is_active") is False else "update"
    audit_append(actor=actor, action=action, object_type="staff", object_ids=[updated.pk], detail=detail)
    return updated


def tokens_revoke_all(*, user: User) -> None:
    """Revoke every access and refresh token of the user, and drop their pending authorization codes."""
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    for refresh in get_refresh_token_model().objects.filter(user=user, revoked__isnull=True):
        refresh.revoke()  # also deletes its access token
    get_access_token_model().objects.filter(user=user).delete()
    get_grant_model().objects.filter(user=user).delete()


def _supervisors_above(user: User) -> set:
    """The ids of the chain of active supervisors above `user` (each has at most one)."""
    chain, current = set(), user
    while True:
        link = Supervision.objects.filter(supervisee=current, ended_on__isnull=True).select_related("supervisor")
        link = link.first()
        if link is None or link.supervisor_id in chain:
            return chain
        chain.add(link.supervisor_id)
        current = link.supervisor


@transaction.atomic
def supervision_start(*, actor: User, supervisor: User, supervisee: User, started_on=None) -> Supervision:
    """A supervisor starts overseeing a clinician. A clinician has at most one active supervisor, and
    supervision never runs in a circle (A supervises B, B supervises A)."""
    errors = {}
    if supervisor.role != Role.SUPERVISOR:
        errors["supervisor"] = ["Only an account with the supervisor role can supervise."]
    if supervisee.role not in STAFF_ROLES:
        errors["supervisee"] = ["Only a clinician or supervisor can be supervised."]
    if supervisor.pk == supervisee.pk:
        errors["supervisee"] = ["Nobody supervises themselves."]
    elif supervisee.pk in _supervisors_above(supervisor):
        errors["supervisee"] = ["This person already supervises the supervisor, directly or further up."]
    if errors:
        raise InvalidInput(errors)
    # Serialise starts for the same supervisee; the partial unique index is the last word.
    User.objects.select_for_update().filter(pk=supervisee.pk).first()
    if Supervision.objects.filter(supervisee=supervisee, ended_on__isnull=True).exists():
        raise Conflict(
            "This clinician already has an active supervisor; end that supervision first.",
            code="already_supervised",
        )
    supervision = save_valid(
        Supervision(supervisor=supervisor, supervisee=supervisee, started_on=started_on or timezone.localdate())
    )
    audit_append(
        actor=actor,
        action="create",
        object_type="supervision",
        object_ids=[supervision.pk],
        detail={"supervisor": str(supervisor.pk), "supervisee": str(supervisee.pk)},
    )
    return supervision


@transaction.atomic
def supervision_end(
    *, actor: User, supervision: Supervision, ended_on=None, expected_version: int | None = None
) -> Supervision:
    """End an active supervision; an ended one stays as history."""
    locked = lock_at_version(supervision, expected_version=expected_version)
    if locked.ended_on is not None:
        raise Conflict("This supervision has already ended.", code="supervision_ended")
    ended_on = ended_on or timezone.localdate()
    if ended_on < locked.started_on:
        raise InvalidInput({"ended_on": ["A supervision cannot end before it started."]})
    supervision = update_versioned(locked, expected_version=None, changes={"ended_on": ended_on}, locked=True)
    audit_append(actor=actor, action="end", object_type="supervision", object_ids=[supervision.pk])
    return supervision
