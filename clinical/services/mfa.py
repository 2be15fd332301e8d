"""Two-factor sign-in for staff: enrolling an authenticator app (TOTP, django-otp), confirming it with a first code,
single-use recovery codes, removing it, an admin's reset, and the code a sign-in asks for. Every change is audited
(object type `mfa`, the account's id); no secret or code is ever written to the trail or a log.

A code is checked under a lock on its device. A wrong one counts against the device (django-otp's back-off: 1 s, 2 s,
4 s, ... after each failure in a row) and is audited; both are kept although the request is refused
(RecordedRefusal), so that guessing cannot undo its own traces. While the back-off runs, every code is refused
with TooManyAttempts, the right one included.
"""

import math
import secrets
from base64 import b32encode
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinical.models import MFA_ROLES, RecoveryCode, RecoveryCodeSet, Role, User
from clinical.models.mfa import recovery_code_digest
from clinical.selectors import mfa_required_for
from kernel.audit import audit_append
from kernel.errors import Conflict, NotAllowed, RecordedRefusal, TooManyAttempts

APP_NAME = "authenticator app"


class Enrolment(NamedTuple):
    """What an authenticator app needs, shown once: the otpauth URI (the QR code's content) and its secret."""

    device: TOTPDevice
    otpauth_uri: str
    secret: str  # base32, as apps take it typed in


def enrolment_of(device: TOTPDevice) -> Enrolment:
    return Enrolment(device, device.config_url, b32encode(device.bin_key).decode())


def _require_staff(actor: User) -> None:
    if actor.role not in MFA_ROLES:
        raise NotAllowed("Only staff accounts sign in with a second factor.", code="role_not_allowed")


def _audit(actor: User, action: str, user: User, **detail) -> None:
    audit_append(actor=actor, action=action, object_type="mfa", object_ids=[user.pk], detail=detail)


def _locked(user: User, *, confirmed: bool) -> TOTPDevice | None:
    return TOTPDevice.objects.select_for_update().filter(user=user, confirmed=confirmed).first()


def _new_recovery_codes(user: User) -> list[str]:
    """Fresh recovery codes for the user (replacing any left): 80 random bits each, shown once as
    `xxxx-xxxx-xxxx-xxxx`; only their digests are kept."""
    device, _ = RecoveryCodeSet.objects.get_or_create(user=user, defaults={"name": "recovery codes"})
    device.codes.all().delete()
    codes = []
    for _ in range(settings.MFA_RECOVERY_CODES):
        raw = b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    RecoveryCode.objects.bulk_create(RecoveryCode(device=device, digest=recovery_code_digest(c)) for c in codes)
    return codes


def _check(device, code: str, *, actor: User, user: User, via: str) -> bool:
    """Whether `code` is a current code of `device` (locked by the caller), counting a failure against it."""
    allowed, why = device.verify_is_allowed()
    if not allowed:
        wait = math.ceil((why["locked_until"] - timezone.now()).total_seconds()) if why else 1
        raise TooManyAttempts(
            f"Too many wrong codes in a row: try again in {max(wait, 1)} seconds.", retry_after=max(wait, 1)
        )
    if device.verify_token(code):
        return True
    _audit(actor, "refuse_code", user, via=via, failures=device.throttling_failure_count)
    return False


def _refused(what: str = "a current code from your authenticator app or an unused recovery code") -> RecordedRefusal:
    return RecordedRefusal({"code": [f"This is not {what}."]}, code="mfa_code_invalid")


def _current_device(user: User, code: str, *, recovery: bool = True):
    """The locked device a code is meant for: six digits are the app's, anything else a recovery code."""
    digits = "".join(code.split())
    if digits.isdigit() and len(digits) == 6:
        return _locked(user, confirmed=True), digits
    if not recovery:
        return None, code
    return RecoveryCodeSet.objects.select_for_update().filter(user=user).first(), code


def _verified(*, actor: User, user: User, code: str, via: str, recovery: bool = True):
    """Check a code of the user's confirmed second factor; a wrong one is recorded and refused. Returns the device
    that took it. Called outside the service's own atomic block, so that the record of a failure survives."""
    with transaction.atomic():
        device, code = _current_device(user, code, recovery=recovery)
        ok = device is not None and _check(device, code, actor=actor, user=user, via=via)
    if not ok:
        raise _refused()
    return device


@transaction.atomic
def mfa_enrol_start(*, actor: User) -> Enrolment:
    """Start enrolling an authenticator app: a new secret, unconfirmed until its first code (mfa_enrol_confirm); an
    enrolment started before and never confirmed is replaced. An account that has one confirmed removes it first."""
    _require_staff(actor)
    User.objects.select_for_update().filter(pk=actor.pk).first()  # one enrolment at a time per account
    if TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
        raise Conflict(
            "You already sign in with an authenticator app; remove it first to enrol another.",
            code="mfa_already_enrolled",
        )
    TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
    # 160 random bits, as RFC 4226 recommends for HMAC-SHA-1 (drawn here, through `secrets`, as every secret is).
    device = TOTPDevice.objects.create(user=actor, name=APP_NAME, key=secrets.token_bytes(20).hex(), confirmed=False)
    _audit(actor, "enrol", actor)
    return enrolment_of(device)


def mfa_enrol_confirm(*, actor: User, code: str) -> list[str]:
    """Confirm the enrolment with the app's first code: from now on every sign-in asks for a code. Returns the
    recovery codes, shown this once."""
    _require_staff(actor)
    with transaction.atomic():
        device = _locked(actor, confirmed=False)
        if device is None:
            raise Conflict("No enrolment is waiting for its first code: start one first.", code="mfa_not_pending")
        ok = _check(device, "".join(code.split()), actor=actor, user=actor, via="enrolment")
        if ok:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _new_recovery_codes(actor)
            _audit(actor, "confirm", actor, recovery_codes=len(codes))
            return codes
    raise _refused("the code your authenticator app shows now")


def _enrolled(user: User) -> None:
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("You do not sign in with a second factor.", code="mfa_not_enrolled")


def mfa_recovery_codes_regenerate(*, actor: User, code: str) -> list[str]:
    """New recovery codes for a current code (the app's, or a recovery code); the old ones stop working."""
    _require_staff(actor)
    _enrolled(actor)
    _verified(actor=actor, user=actor, code=code, via="recovery_codes")
    with transaction.atomic():
        codes = _new_recovery_codes(actor)
        _audit(actor, "regenerate_recovery_codes", actor, recovery_codes=len(codes))
    return codes


def mfa_remove(*, actor: User, code: str) -> None:
    """Stop signing in with a second factor, for a current code; refused while the practice requires one."""
    _require_staff(actor)
    _enrolled(actor)
    if mfa_required_for(actor):
        raise Conflict(
            "The practice requires a second factor for staff: it cannot be removed (an admin can reset it).",
            code="mfa_required",
        )
    _verified(actor=actor, user=actor, code=code, via="remove")
    with transaction.atomic():
        _delete_devices(actor)
        _audit(actor, "remove", actor)


def _delete_devices(user: User) -> bool:
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += RecoveryCodeSet.objects.filter(user=user).delete()[0]
    return bool(removed)


@transaction.atomic
def mfa_reset(*, actor: User | None, clinician: User) -> User:
    """The practice admin takes a staff member's second factor away (a lost phone): their next sign-in asks for
    none, or takes them through enrolment where the practice requires one. Audited when there was one to take
    (an enrolment not yet confirmed included); nothing to take changes nothing. No actor: the server's operator
    (`manage.py mfa_reset`, for the admin's own account), recorded as such."""
    if actor is not None and actor.role != Role.ADMIN:
        raise NotAllowed("Only the practice admin resets a second factor.", code="role_not_allowed")
    if _delete_devices(clinician):
        audit_append(
            actor=actor,
            action="reset",
            object_type="mfa",
            object_ids=[clinician.pk],
            detail={} if actor else {"via": "manage.py mfa_reset"},
        )
    return clinician


def mfa_sign_in_verify(*, user: User, code: str):
    """The code a sign-in asks for after the password (the app's, or a recovery code): the device that took it,
    for django_otp.login. A recovery code used is audited with how many are left."""
    device = _verified(actor=user, user=user, code=code, via="sign_in")
    if isinstance(device, RecoveryCodeSet):
        _audit(user, "use_recovery_code", user, recovery_codes_left=device.codes.count())
    return device
