import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Func, Q, Value
from django.utils import timezone

from clinical.fields import EncryptedJSONField

# The practice's event sequence: one PostgreSQL sequence, so that every process numbers events from it.
SEQUENCE = "events_event_sequence"


class NextValue(Func):
    function = "nextval"
    output_field = models.BigIntegerField()


class TransactionIdField(models.Field):
    """PostgreSQL's `xid8`: a 64-bit transaction id, which never wraps around. Read as text."""

    description = "PostgreSQL transaction id (xid8)"

    def db_type(self, connection):
        return "xid8"


class CurrentTransactionId(Func):
    function = "pg_current_xact_id"
    template = "%(function)s()"
    output_field = TransactionIdField()


class Event(models.Model):
    """Something that happened, recorded in the transaction of the change itself (the outbox): it exists exactly
    when the change committed. Ids only (`about`); never names, answers, note text or scores. Append-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Increases with each event of the practice (unique by construction: no index to keep). Two changes committing at
    # once may commit out of sequence order, so receivers order by it and do not read a gap as a loss (docs/events.md).
    sequence = models.BigIntegerField(db_default=NextValue(Value(SEQUENCE)), editable=False)
    # The recording transaction: the worker's relay hands on the events of transactions that have ended, in this
    # order, past its mark (RelayMark). Null for events recorded before the relay kept a mark (all handed on).
    transaction_id = TransactionIdField(null=True, editable=False, db_default=CurrentTransactionId())
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField(default=timezone.now)
    about = models.JSONField(default=dict)
    # The record that decides who may receive the event (the catalog's `scope`): a case, or a client.
    case_id = models.UUIDField(null=True, blank=True)
    client_id = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["transaction_id", "sequence"], name="event_relay_order")]
        triggers = [pgtrigger.Protect(name="events_are_immutable", operation=pgtrigger.Update)]

    def __str__(self):
        return f"{self.type} #{self.sequence}"


class RelayMark(models.Model):
    """How far the worker's relay has handed events on: the last (transaction_id, sequence) it fanned out. One row.

    Every event of a transaction that has ended (its id below the oldest running transaction's) and past the mark is
    due; nothing is written per event beyond the event itself, where a pending row per event cost every request an
    insert, a foreign-key check and a delete (docs/performance.md)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    transaction_id = TransactionIdField()
    sequence = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="one_relay_mark")]

    def __str__(self):
        return f"relayed up to {self.transaction_id}/{self.sequence}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its first attempt or its next retry
    SUCCEEDED = "succeeded"  # the receiver answered 2xx
    FAILED = "failed"  # every retry failed
    WITHHELD = "withheld"  # not sent: the subscription's owner may not see the record any more, or it is disabled


class WebhookSubscription(models.Model):
    """A staff member's subscription: signed deliveries of the events they may see (a clinician their caseload, a
    supervisor also their supervisees', the admin the whole practice) to a URL of theirs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=64))
    active = models.BooleanField(default=True)
    # [{"secret": "whsec_…", "expires_at": ISO 8601 or null}], newest first; each signs until it expires.
    secrets = EncryptedJSONField(null=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at", "id"], name="webhook_created_id"),
            models.Index(fields=["owner"], name="webhook_by_owner"),
        ]

    def __str__(self):
        return f"webhook {self.id} → {self.url}"


class WebhookDelivery(models.Model):
    """One event (or a ping) for one subscription. Its id is the `webhook-id` the receiver sees: the same on every
    retry and redelivery, so that the receiver can drop duplicates."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Attempts made before the last redelivery: retries count from there.
    redelivered_after = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="one_delivery_per_event", condition=Q(event__isnull=False)
            )
        ]
        indexes = [models.Index(fields=["subscription", "created_at", "id"], name="delivery_by_subscription")]

    def __str__(self):
        return f"delivery {self.id} ({self.type}, {self.status})"


class WebhookAttempt(models.Model):
    """One try at a delivery: when, what the receiver answered, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")]

    def __str__(self):
        return f"attempt {self.number} of {self.delivery_id}"
