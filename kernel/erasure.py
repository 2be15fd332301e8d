"""The one hook by which stores above the domain forget an erased client.

The erasure service (clinical/services/erasure.py) decides what happens to the domain's records. Some copies of a
client's data live in apps the domain may not import: the API's stored idempotent answers, the FHIR bulk export's
files. Each such app registers, when Django starts, a function that erases its copies of one client and says what it
did; the service calls every one of them in its own transaction, so an erasure is all of it or none of it. As with
kernel.events, the domain imports nothing of who registered.
"""

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Erased:
    """What an app erased: how many of its records (`record_type`), and why they could go."""

    record_type: str
    count: int
    reason: str


# (client id, the client's login id or None) → what was erased
Eraser = Callable[[UUID, UUID | None], Erased]
_erasers: dict[str, Eraser] = {}


def register(record_type: str, eraser: Eraser) -> None:
    """Called once by the app that keeps `record_type` when Django starts (its AppConfig.ready)."""
    _erasers[record_type] = eraser


def erase_elsewhere(*, client_id: UUID, user_id: UUID | None) -> list[Erased]:
    """Every registered app's erasure of this client, in the order they registered."""
    return [eraser(client_id, user_id) for eraser in _erasers.values()]
