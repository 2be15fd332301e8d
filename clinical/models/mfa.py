"""The second factor of a staff account's sign-in, beside the authenticator app (django-otp's TOTPDevice): its
single-use recovery codes.

django-otp's own recovery codes (otp_static) keep each code as it is, in a 16-character column; here only a code's
SHA-256 digest is kept (kernel.tokens), as for every other secret handed to a person once, so a copy of the database
opens no account. A code has 80 random bits, so an unsalted digest cannot be reversed by trying codes.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from kernel.tokens import token_digest

from .identity import Role

# Who signs in with a second factor: the staff, the practice admin among them (clients do not).
MFA_ROLES = (Role.ADMIN, Role.CLINICIAN, Role.SUPERVISOR)


def recovery_code_digest(code: str) -> str:
    """The digest of a recovery code as typed: case, spaces and dashes do not matter."""
    return token_digest("".join(code.split()).replace("-", "").lower())


class RecoveryCodeSet(TimestampMixin, ThrottlingMixin, Device):
    """A staff member's recovery codes, as one django-otp device: each code signs in once, in place of the
    authenticator app's. Failed codes back off as the app's do (1 s, 2 s, 4 s, ... after each failure in a row)."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user"], name="recovery_codes_one_set_per_user")]

    def get_throttle_factor(self):
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        used = self.codes.filter(digest=recovery_code_digest(str(token))).delete()[0]
        if used:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment()
        return bool(used)


class RecoveryCode(models.Model):
    """One unused recovery code (its digest); a code that was used is deleted."""

    device = models.ForeignKey(RecoveryCodeSet, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"recovery code of {self.device.user_id}"
