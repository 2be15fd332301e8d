"""Recording events: the listener the domain's hook calls (kernel.events.happened), in the change's transaction."""

from django.db import transaction

from kernel.errors import InvalidInput

from .catalog import EVENT_TYPES
from .models import Event, PendingFanOut


def event_record(event_type: str, about: dict[str, str]) -> Event:
    """Append the event to the outbox, marked pending for the worker's relay, both in the caller's transaction: a
    rolled-back change leaves neither, a committed one exactly one event. No job and no NOTIFY here: PostgreSQL
    serialises the commits of notifying transactions, which cost every POST 17 % (docs/performance.md)."""
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        raise InvalidInput({"type": [f"No event type {event_type!r} in the catalog (events/catalog.py)."]})
    if set(about) != set(kind.about):
        raise InvalidInput({"about": [f"{event_type} is about {', '.join(kind.about)}; got {', '.join(about)}."]})
    with transaction.atomic(savepoint=False):  # the caller's transaction, or one of its own; no savepoint to pay for
        event = Event.objects.create(
            type=kind.name,
            version=kind.version,
            about=about,
            case_id=about.get("case") if kind.scope == "case" else None,
            client_id=about.get("client") if kind.scope == "client" else None,
        )
        PendingFanOut.objects.create(event=event)
    return event
