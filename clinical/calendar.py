"""What a clinician's calendar feed says about a session: when, how, and the attending clients' initials.

Nothing else leaves the practice this way: no names, no place or video link, no notes, no reason for a
cancellation. A calendar app copies the feed to its own servers and shows it on lock screens and in shared
calendars, so the feed holds what a paper diary left open on the desk may hold. A cancelled session stays in the
feed, marked `cancelled` (iCalendar STATUS:CANCELLED, and said in its title, since some apps ignore the status),
so that the app takes it off the clinician's day instead of keeping a copy it once saw.
"""

from dataclasses import dataclass
from datetime import datetime

from clinical.models import Session, SessionModality, SessionStatus

# The right-hand side of every event's UID: the session's id is unique already; this says whose ids they are.
UID_DOMAIN = "sessions.couples-care-api"
MODALITY_WORDS = {
    SessionModality.IN_PERSON: "in person",
    SessionModality.VIDEO: "video",
    SessionModality.PHONE: "phone",
}
CANCELLED = (SessionStatus.CANCELLED, SessionStatus.LATE_CANCELLED)


@dataclass(frozen=True)
class FeedEvent:
    uid: str  # stable per session: a calendar app updates the event it has instead of adding another
    starts_at: datetime
    ends_at: datetime
    summary: str  # e.g. "Session · A.B. & S.K. · video"
    modality: str  # a SessionModality value, also the event's category
    cancelled: bool
    sequence: int  # grows with every change of the session (its version)
    updated_at: datetime


def initials(client) -> str:
    """A client's initials, "A.B.": the first letter of the name they go by and of their family name."""
    letters = (name.strip()[:1].upper() for name in (client.preferred_name or client.given_name, client.family_name))
    return "".join(f"{letter}." for letter in letters if letter)


def feed_event(session: Session) -> FeedEvent:
    """The feed's event for a session (its attendees prefetched)."""
    who = " & ".join(filter(None, (initials(client) for client in session.attendees.all())))
    cancelled = session.status in CANCELLED
    summary = " · ".join(
        filter(None, ["Cancelled" if cancelled else "", "Session", who, MODALITY_WORDS[session.modality]])
    )
    return FeedEvent(
        uid=f"{session.pk}@{UID_DOMAIN}",
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        summary=summary,
        modality=session.modality,
        cancelled=cancelled,
        sequence=max(session.version - 1, 0),
        updated_at=session.updated_at,
    )
