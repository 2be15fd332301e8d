from django.conf import settings
from django.db import models
from django.utils import timezone

from clinical.fields import EncryptedTextField


class IdempotencyRecord(models.Model):
    """The first successful response to a POST sent with an Idempotency-Key, kept for replays.

    The body may hold PHI (a submission's answers), so it is encrypted like the records themselves.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and canonical body")
    status_code = models.PositiveSmallIntegerField()
    response_body = EncryptedTextField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]

    def __str__(self):
        return f"{self.key} ({self.status_code})"
