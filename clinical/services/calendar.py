"""A clinician's private calendar feed: enabling it (or replacing its secret), revoking it, and reading it with the
secret alone, as a calendar app does. Every change, and every read of the sessions it shows, is audited."""

from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from clinical.calendar import FeedEvent, feed_event
from clinical.models import STAFF_ROLES, CalendarFeed, User
from clinical.selectors import calendar_feed_by_token, calendar_feed_sessions
from kernel.audit import audit_append
from kernel.errors import NotAllowed, NotFound
from kernel.tokens import new_token, token_digest


class IssuedFeed(NamedTuple):
    feed: CalendarFeed
    token: str  # shown once: only its hash is kept


class FeedRead(NamedTuple):
    clinician: User
    events: list[FeedEvent]


def _require_staff(actor) -> None:
    if actor.role not in STAFF_ROLES:
        raise NotAllowed("Only clinicians and supervisors have a calendar feed.")


def _revoke_live(actor, now) -> CalendarFeed | None:
    """End the actor's live feed, if any (its row locked: two enables at once make one feed, not a clash)."""
    live = CalendarFeed.objects.select_for_update().filter(user=actor, revoked_at__isnull=True).first()
    if live is not None:
        live.revoked_at = now
        live.save(update_fields=["revoked_at"])
    return live


@transaction.atomic
def calendar_feed_enable(*, actor) -> IssuedFeed:
    """A new feed for the caller's own sessions, replacing any feed they had (its URL stops answering at once).
    The secret is returned once, in the feed's URL; only its hash is kept."""
    _require_staff(actor)
    User.objects.select_for_update().filter(pk=actor.pk).first()  # one enable at a time per clinician
    now = timezone.now()
    replaced = _revoke_live(actor, now)
    token = new_token()
    feed = CalendarFeed.objects.create(user=actor, token_hash=token_digest(token), created_at=now)
    audit_append(
        actor=actor,
        action="rotate" if replaced else "enable",
        object_type="calendar_feed",
        object_ids=[feed.pk, *([replaced.pk] if replaced else [])],
    )
    return IssuedFeed(feed, token)


@transaction.atomic
def calendar_feed_revoke(*, actor) -> None:
    """Turn the caller's feed off: its URL answers 404 from now on. Idempotent (no feed, nothing to do)."""
    _require_staff(actor)
    revoked = _revoke_live(actor, timezone.now())
    if revoked is not None:
        audit_append(actor=actor, action="revoke", object_type="calendar_feed", object_ids=[revoked.pk])


@transaction.atomic
def calendar_feed_read(*, token: str) -> FeedRead:
    """The feed a calendar app fetches with the secret in its URL: the clinician's sessions as events (times,
    modality, the clients' initials). The secret stands for the clinician, so the read is audited as theirs, like
    any read of the schedule. An unknown, replaced or revoked secret is NotFound, the same for each."""
    feed = calendar_feed_by_token(token=token)
    if feed is None:
        raise NotFound("No calendar feed at this address: it was never issued, or was replaced or revoked.")
    sessions = list(calendar_feed_sessions(user=feed.user))
    audit_append(
        actor=feed.user,
        action="read",
        object_type="session",
        object_ids=[session.pk for session in sessions],
        detail={"via": "calendar_feed", "feed": str(feed.pk)},
    )
    return FeedRead(feed.user, [feed_event(session) for session in sessions])
