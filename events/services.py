"""Recording events: the listener the domain's hook calls (kernel.events.happened), in the change's transaction."""

import json

from django.db import connection

from kernel.errors import InvalidInput

from .catalog import EVENT_TYPES
from .models import Event


def event_record(event_type: str, about: dict[str, str]) -> Event:
    """Append the event to the outbox in the caller's transaction: a rolled-back change leaves none, a committed one
    exactly one, which the worker's relay finds by its transaction id once the transaction has ended. No job and no
    NOTIFY here: PostgreSQL serialises the commits of notifying transactions, which cost every POST 17 %; nor a pending
    row per event (docs/performance.md)."""
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        raise InvalidInput({"type": [f"No event type {event_type!r} in the catalog (events/catalog.py)."]})
    if set(about) != set(kind.about):
        raise InvalidInput({"about": [f"{event_type} is about {', '.join(kind.about)}; got {', '.join(about)}."]})
    event = Event(
        type=kind.name,
        version=kind.version,
        about=about,
        case_id=about.get("case") if kind.scope == "case" else None,
        client_id=about.get("client") if kind.scope == "client" else None,
    )
    # One statement, no ORM: this runs in every change a client or clinician makes.
    with connection.cursor() as cursor:
        cursor.execute(
            RECORD,
            [event.pk, event.type, event.version, event.occurred_at, json.dumps(about), event.case_id, event.client_id],
        )
    return event


RECORD = """
INSERT INTO events_event (id, type, version, occurred_at, about, case_id, client_id)
VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s)
"""
