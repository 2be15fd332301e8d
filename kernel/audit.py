"""The audit trail: every read and change of a clinical record, appended in the caller's transaction.

Events form a hash chain. Appending takes a transaction-scoped advisory lock, reads the last hash and
inserts the new row, so rows are chained in id order even under concurrent requests; the lock is
released when the caller's transaction commits or rolls back (and a rolled-back read or change leaves no
event behind, as it should).
"""

import contextvars
import hashlib
import json
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from kernel.models import AuditEvent

GENESIS_HASH = "0" * 64
_CHAIN_LOCK = 0x6175646974  # "audit"


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""


_request_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "audit_request_context", default=None
)


@contextmanager
def request_context(context: RequestContext):
    """Where the current request came from; set by the HTTP layer, read when an event is recorded."""
    token = _request_context.set(context)
    try:
        yield context
    finally:
        _request_context.reset(token)


def current_request_context() -> RequestContext:
    """Outside a request (a management command), an empty context."""
    return _request_context.get() or RequestContext()


def event_hash(event: AuditEvent) -> str:
    content = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor": str(event.actor_id) if event.actor_id else None,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_ids": [str(i) for i in event.object_ids],
        "request_id": event.request_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


@cache
def _insert_statement() -> tuple[str, list]:
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Names from the model's own metadata, values as parameters.
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id", fields  # noqa: S608


@cache
def _lock_and_head() -> str:
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    return f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK}); SELECT hash FROM {table} ORDER BY id DESC LIMIT 1"  # noqa: S608


def audit_append(*, actor, action: str, object_type: str, object_ids: Iterable = (), detail=None) -> AuditEvent:
    """Append one event to the chain inside the current transaction.

    Three statements in two round trips (lock and head, insert), written out rather than built by the ORM each time:
    every request that reads or changes a record runs them, and the query building was a tenth of a read.
    The values are prepared by the model's own fields, as the ORM would.
    """
    context = current_request_context()
    ip_field = AuditEvent._meta.get_field("ip_address")
    insert, fields = _insert_statement()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # The lock and the head in one round trip, as two statements: the head is read by the second, whose
        # snapshot is taken once the first holds the lock, so it is the last event committed before.
        cursor.execute(_lock_and_head())
        while cursor.nextset():  # the head's row (pghistory's wrapper may have moved there already)
            pass
        head = cursor.fetchone()
        event = AuditEvent(
            occurred_at=timezone.now(),
            actor=actor,
            actor_role=getattr(actor, "role", "") or "",
            action=action,
            object_type=object_type,
            object_ids=list(object_ids),
            request_id=context.request_id,
            ip_address=ip_field.to_python(context.ip_address),  # stored normalised; hash what is stored
            user_agent=context.user_agent[:300],
            detail=detail or {},
            prev_hash=head[0] if head else GENESIS_HASH,
        )
        event.hash = event_hash(event)
        cursor.execute(insert, [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields])
        (event.pk,) = cursor.fetchone()
    event._state.adding, event._state.db = False, connection.alias
    return event


@dataclass
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str = ""
    head_id: int | None = None
    head_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_verify(*, batch: int = 5000, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the chain in id order; report the first event whose hash or link does not hold.

    A chain alone cannot show that its newest rows were cut off. Record the head (id and hash) this reports
    somewhere outside the database, and pass it back as `anchor`: the event must still be there, unchanged.
    """
    expected_prev = GENESIS_HASH
    checked, head_id, anchor_seen = 0, None, anchor is None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=batch):
        if event.prev_hash != expected_prev:
            reason = "its prev_hash is not the previous event's hash (a row is missing, or this one was added)"
            return ChainReport(checked, event.id, reason)
        if event_hash(event) != event.hash:
            return ChainReport(checked, event.id, "its content does not match its hash (the row was altered)")
        if anchor is not None and event.id == anchor[0]:
            if event.hash != anchor[1]:
                return ChainReport(checked, event.id, "it is not the anchored event (the chain was rewritten)")
            anchor_seen = True
        expected_prev, head_id = event.hash, event.id
        checked += 1
    if not anchor_seen:
        return ChainReport(checked, anchor[0], "the anchored event is gone (the newest rows were removed)")
    return ChainReport(checked, head_id=head_id, head_hash=expected_prev)
