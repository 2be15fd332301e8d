"""The one hook by which the domain says that something happened.

A service calls `happened("note.signed", note=note.pk, case=note.case_id)` inside its own transaction. Whoever
listens — the events app records the event in its outbox — does so in that same transaction, so an event exists
exactly when its change committed, and never for one rolled back. The domain imports nothing of who listens:
`clinical` and `exercises` know this module only. An event names what it is about by id, never by content.
"""

import uuid
from collections.abc import Callable

Listener = Callable[[str, dict[str, str]], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    """Called once by the listening app when Django starts (events.apps)."""
    if listener not in _listeners:
        _listeners.append(listener)


def happened(event_type: str, **about) -> None:
    """Tell every listener that `event_type` happened to the records named in `about` (ids or model instances)."""
    ids = {name: str(getattr(value, "pk", value)) for name, value in about.items() if value is not None}
    for value in ids.values():
        uuid.UUID(value)  # ids only: a value that is not one is a bug in the caller, not data to pass on
    for listener in _listeners:
        listener(event_type, ids)
