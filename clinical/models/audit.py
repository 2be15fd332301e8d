import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """Who read or changed which clinical record, when, from where.

    Append-only (a trigger refuses UPDATE and DELETE) and hash-chained: `hash` is the SHA-256 of the row's
    content and the previous row's hash, so a removed or altered row breaks the chain (`verify_audit`).
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=32)
    object_type = models.CharField(max_length=40)
    object_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        indexes = [
            models.Index(fields=["actor", "occurred_at"], name="audit_by_actor"),
            models.Index(fields=["object_type", "occurred_at"], name="audit_by_type"),
            models.Index(fields=["occurred_at"], name="audit_by_time"),
        ]
        triggers = [pgtrigger.Protect(name="audit_is_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self):
        return f"{self.action} {self.object_type} by {self.actor_id} at {self.occurred_at:%Y-%m-%d %H:%M}"
