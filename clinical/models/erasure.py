"""Erasure requests (issue 17, the right to erasure): the practice admin erases a client who has left care. What
the law lets go is erased or pseudonymised; the clinical record a practice must keep stays for the retention period.
Each request keeps what was done to each kind of record, so that its answer can be read again."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from .base import Record
from .people import Client


class ErasureOutcome(models.TextChoices):
    ERASED = "erased"  # deleted
    PSEUDONYMISED = "pseudonymised"  # kept, with what identifies the client replaced
    KEPT = "kept"  # kept as it is, for the retention period


class ErasureRequest(Record):
    """One client's erasure, done when it was asked for. At most one per client (`client` is unique): a second
    request for the same client is refused, so the erasure happens exactly once. Never changed, never removed."""

    client = models.OneToOneField(Client, on_delete=models.PROTECT, related_name="erasure")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    erased_at = models.DateTimeField(default=timezone.now)
    # The end of the retention period of what was kept (clinical/services/erasure.py, RECORD_RETENTION_YEARS).
    retained_until = models.DateField()
    # Per kind of record: [{record_type, outcome, count, fields, kept_until, reason}], counts only, never contents.
    outcome = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["created_at", "id"], name="erasure_created_id")]
        triggers = [
            pgtrigger.Protect(name="erasure_requests_are_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self):
        return f"erasure {self.pk}"
