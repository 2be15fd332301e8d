"""What every domain app shares: the columns of a versioned record, the goal domains that goals and exercises
both speak of, and the audit trail every read and change of a record is appended to."""

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class Record(models.Model):
    """Columns every API resource shares: a UUID, creation and change times, and an ETag version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Raised by every service that changes the row; the API's ETag is this number.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class GoalDomain(models.TextChoices):
    """What a treatment goal works on, and what an exercise serves."""

    TRUST_REBUILDING = "trust_rebuilding"
    COMMUNICATION = "communication"
    CONFLICT_RESOLUTION = "conflict_resolution"
    EMOTIONAL_INTIMACY = "emotional_intimacy"
    OTHER = "other"


class AuditEvent(models.Model):
    """Who read or changed which record, when, from where.

    Append-only (a trigger refuses UPDATE and DELETE) and hash-chained: `hash` is the SHA-256 of the row's
    content and the previous row's hash, so a removed or altered row breaks the chain (`verify_audit`).
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    # No index of its own: audit_by_actor leads with it.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
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
    # Unique by construction (the SHA-256 of the row and the previous hash), and without an index: nothing looks
    # an event up by its hash, and a unique index on a random key read and wrote a random page of an index as large
    # as the trail on every audited request (kernel migration 0003). A copied row breaks the chain (`verify_audit`).
    hash = models.CharField(max_length=64)

    class Meta:
        # Created by the clinical app before the kernel existed; the table keeps its name.
        db_table = "clinical_auditevent"
        indexes = [
            models.Index(fields=["actor", "occurred_at"], name="audit_by_actor"),
            models.Index(fields=["object_type", "occurred_at"], name="audit_by_type"),
            models.Index(fields=["occurred_at"], name="audit_by_time"),
        ]
        triggers = [pgtrigger.Protect(name="audit_is_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self):
        return f"{self.action} {self.object_type} by {self.actor_id} at {self.occurred_at:%Y-%m-%d %H:%M}"
