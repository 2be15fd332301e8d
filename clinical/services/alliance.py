"""Each partner's voice after every session: session ratings, a case's alliance series, and the split and low
alliance alerts (docs/outcome-measures.md, "The session rating and the alliance").

The thresholds are the practice's settings (ALLIANCE_SPLIT_THRESHOLD, ALLIANCE_FLOOR): clinical policy with
defaults of ours, not validated cut-offs.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinical.models import (
    RATING_ITEMS,
    Case,
    Client,
    SafetyAlert,
    Session,
    SessionKind,
    SessionRating,
    SessionStatus,
)
from clinical.selectors import case_clients
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_racing, save_valid, update_versioned
from kernel.errors import Conflict, NotAllowed
from kernel.events import happened

EDITABLE_FOR = timedelta(hours=24)
ONE_RATING = "rating_once_per_session_and_client"


def _rater(actor, session: Session) -> Client:
    """The client the actor's login is, among the session's attendees."""
    client = session.attendees.filter(user=actor).first()
    if client is None:
        raise NotAllowed("Only a client who attended the session rates it.", code="not_an_attendee")
    return client


def _require_first(session: Session, client: Client) -> None:
    first = SessionRating.objects.filter(session=session, client=client).values_list("pk", flat=True).first()
    if first is not None:
        raise Conflict(
            "You already rated this session; change that rating instead.",
            code="already_rated",
            existing_rating=str(first),
        )


@transaction.atomic
def rating_submit(*, actor, session: Session, **items) -> SessionRating:
    """An attending client rates an attended session, once (then changes that rating for 24 hours)."""
    client = _rater(actor, session)
    if session.status != SessionStatus.ATTENDED:
        raise Conflict("Only an attended session is rated.", code="session_not_attended")
    _require_first(session, client)
    rating = SessionRating(session=session, client=client, **items)
    save_racing(
        lambda: save_valid(rating, exclude_validation=["session"]),
        constraint=ONE_RATING,
        recheck=lambda: _require_first(session, client),
    )
    audit_append(actor=actor, action="create", object_type="session_rating", object_ids=[rating.pk])
    _check_alliance(actor, session.case, session)
    return rating


@transaction.atomic
def rating_update(*, actor, rating: SessionRating, expected_version: int | None, **items) -> SessionRating:
    """The client changes their rating within 24 hours of giving it."""
    if rating.client.user_id != actor.pk:
        raise NotAllowed("Only the client who gave a rating changes it.", code="not_rater")
    locked = lock_at_version(rating, expected_version=expected_version)
    if timezone.now() - locked.created_at > EDITABLE_FOR:
        raise Conflict("A rating can be changed for 24 hours after it was given.", code="rating_locked")
    rating = update_versioned(locked, expected_version=None, changes=items, locked=True)
    audit_append(
        actor=actor,
        action="update",
        object_type="session_rating",
        object_ids=[rating.pk],
        detail={"fields": sorted(items)},
    )
    _check_alliance(actor, rating.session.case, rating.session)
    return rating


# ---------------------------------------------------------------- the alliance of a case


def alliance(case: Case) -> dict:
    """Each partner's totals over the case's attended sessions, the split |A - B| of each joint session both
    rated, and each series' trend (least-squares slope per session, in points)."""
    clients = case_clients(case)
    sessions = list(
        Session.objects.filter(case=case, status=SessionStatus.ATTENDED)
        .order_by("starts_at", "pk")
        .values("pk", "starts_at", "kind")
    )
    ratings = {
        (r.session_id, r.client_id): r
        for r in SessionRating.objects.filter(session__case=case, session__status=SessionStatus.ATTENDED)
    }
    series = []
    for client in clients:
        points = [
            {"session": s["pk"], "starts_at": s["starts_at"], "total": rating.total, "items": _items(rating)}
            for s in sessions
            if (rating := ratings.get((s["pk"], client.pk))) is not None
        ]
        series.append({"client": client.pk, "points": points, "trend": _slope([p["total"] for p in points])})
    splits = []
    if len(clients) == 2:
        a, b = clients
        for s in sessions:
            ra, rb = ratings.get((s["pk"], a.pk)), ratings.get((s["pk"], b.pk))
            if s["kind"] == SessionKind.JOINT and ra is not None and rb is not None:
                splits.append({"session": s["pk"], "starts_at": s["starts_at"], "split": abs(ra.total - rb.total)})
    return {
        "case": case.pk,
        "series": series,
        "splits": splits,
        "split_trend": _slope([s["split"] for s in splits]),
        "split_threshold": settings.ALLIANCE_SPLIT_THRESHOLD,
        "floor": settings.ALLIANCE_FLOOR,
    }


def _items(rating: SessionRating) -> dict:
    return {item: getattr(rating, item) for item in RATING_ITEMS}


def _slope(values: list) -> float | None:
    """The least-squares slope of `values` against their position, or None for fewer than two."""
    n = len(values)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    variance = sum((x - mean_x) ** 2 for x in range(n))
    return round(covariance / variance, 3)


def _check_alliance(actor, case: Case, session: Session) -> None:
    """Raise `split_alliance` when the split reaches the threshold in two consecutive joint sessions, and
    `low_alliance` when a partner's total falls below the floor; once per episode (a run of sessions in that
    state), not again while it lasts."""
    figures = alliance(case)
    splits = figures["splits"]
    threshold = settings.ALLIANCE_SPLIT_THRESHOLD
    high = [entry["split"] >= threshold for entry in splits]
    for index in range(1, len(high)):
        starts_episode = high[index] and high[index - 1] and (index < 2 or not high[index - 2])
        if starts_episode and splits[index]["session"] == session.pk:
            lower = min(
                figures["series"],
                key=lambda s: next(p["total"] for p in s["points"] if p["session"] == session.pk),
            )
            _raise(
                actor,
                case,
                session,
                lower["client"],
                "split_alliance",
                f"The partners' session ratings differ by {threshold} points or more in two joint sessions in a row.",
            )
    floor = settings.ALLIANCE_FLOOR
    for one in figures["series"]:
        points = one["points"]
        for index, point in enumerate(points):
            below = point["total"] < floor
            starts_episode = below and (index == 0 or points[index - 1]["total"] >= floor)
            if starts_episode and point["session"] == session.pk:
                _raise(actor, case, session, one["client"], "low_alliance", f"A session rated below {floor} of 40.")


def _raise(actor, case: Case, session: Session, client_id, kind: str, detail: str) -> None:
    if SafetyAlert.objects.filter(session=session, client_id=client_id, kind=kind).exists():
        return  # raised already for this session (a rating changed within its 24 hours)
    alert = SafetyAlert.objects.create(case=case, client_id=client_id, session=session, kind=kind, detail=detail)
    audit_append(actor=actor, action="create", object_type="alert", object_ids=[alert.pk])
    happened("alert.raised", alert=alert, case=case, client=client_id)
