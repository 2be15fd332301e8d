import uuid

import pgtrigger
from django.db import models
from django.db.models import Func, Value
from django.utils import timezone

# The practice's event sequence: one PostgreSQL sequence, so that every process numbers events from it.
SEQUENCE = "events_event_sequence"


class NextValue(Func):
    function = "nextval"
    output_field = models.BigIntegerField()


class Event(models.Model):
    """Something that happened, recorded in the transaction of the change itself (the outbox): it exists exactly
    when the change committed. Ids only (`about`); never names, answers, note text or scores. Append-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Increases with each event of the practice. Two changes committing at once may commit out of sequence order,
    # so receivers order by it and do not read a gap as a loss (docs/events.md).
    sequence = models.BigIntegerField(unique=True, db_default=NextValue(Value(SEQUENCE)), editable=False)
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField(default=timezone.now)
    about = models.JSONField(default=dict)
    # The record that decides who may receive the event (the catalog's `scope`): a case, or a client.
    case_id = models.UUIDField(null=True, blank=True)
    client_id = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["type", "sequence"], name="event_by_type")]
        triggers = [pgtrigger.Protect(name="events_are_immutable", operation=pgtrigger.Update)]

    def __str__(self):
        return f"{self.type} #{self.sequence}"
