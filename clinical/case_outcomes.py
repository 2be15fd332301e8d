"""A case's outcomes: each client's score series per measure (built-in or the practice's own), the measure each
series is drawn against, the couple's CSI-4 discrepancy over time, and the Goal Attainment Scaling T-score. (The
HTTP layer draws them: api/charts.py.)"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Q

from clinical import instruments
from clinical.models import Assessment, Case, GoalAttainmentRating, GoalLifecycle, Session, SessionStatus

from .selectors import case_clients, measure_order, measures_scored_with


@dataclass
class Point:
    assessment: object
    administered_at: datetime
    total: int
    band: str
    change: int | None
    reliable_change: str | None


@dataclass
class CaseOutcomes:
    case: Case
    clients: list
    series: dict = field(default_factory=dict)  # {client id: {instrument: [Point]}}, measures in measure_order
    # {instrument: instruments.Instrument} for every measure in the series, in measure_order: the version its latest
    # score (of either client) was scored with, whose bands and cut-off the chart draws.
    measures: dict = field(default_factory=dict)
    discrepancy: list = field(default_factory=list)  # CSI-4 partner differences
    gas_t: float | None = None
    gas_goals: int = 0
    sessions: dict = field(default_factory=dict)  # {status: count} of every session of the case


def csi4_discrepancy(first: list[Point], second: list[Point]) -> list[dict]:
    """For every CSI-4 score of either partner, the other's score nearest in time, and their absolute
    difference; each pair once, in time order (the later of the two dates)."""
    pairs = {}
    for mine, theirs, flipped in ((first, second, False), (second, first, True)):
        for point in mine:
            if not theirs:
                continue
            nearest = min(
                theirs, key=lambda other: abs((other.administered_at - point.administered_at).total_seconds())
            )
            a, b = (nearest, point) if flipped else (point, nearest)
            pairs[(a.assessment, b.assessment)] = (a, b)
    rows = [
        {
            "at": max(a.administered_at, b.administered_at),
            "first_partner_score": a.total,
            "second_partner_score": b.total,
            "discrepancy": abs(a.total - b.total),
        }
        for a, b in pairs.values()
    ]
    return sorted(rows, key=lambda row: row["at"])


def case_outcomes(*, case: Case, using: str = DEFAULT_DB_ALIAS) -> CaseOutcomes:
    """Everything the outcome view of a case shows, in five queries (four without assessments): the case's clients
    and the measures' versions from the case's own database, the scores, GAS ratings and session counts from
    `using` (the API may choose a streaming replica; a version, immutable, is on the primary before any score)."""
    clients = case_clients(case)
    outcomes = CaseOutcomes(case=case, clients=clients)
    series = defaultdict(lambda: defaultdict(list))
    shown = {client.pk for client in clients}
    latest_version = {}  # {instrument: the version its latest score (of a client shown) was scored with}
    for a in Assessment.objects.using(using).filter(case=case).order_by("administered_at", "created_at"):
        series[a.client_id][a.instrument].append(
            Point(a.pk, a.administered_at, a.total, a.band, a.change, a.reliable_change or None)
        )
        if a.client_id in shown:
            latest_version[a.instrument] = a.instrument_version_id
    outcomes.series = {
        client.pk: dict(sorted(series[client.pk].items(), key=lambda pair: measure_order(pair[0])))
        for client in clients
    }
    scored_with = measures_scored_with(versions=latest_version.values())
    outcomes.measures = {code: scored_with[latest_version[code]] for code in sorted(latest_version, key=measure_order)}
    if len(clients) == 2:
        first, second = (outcomes.series[c.pk].get("csi4", []) for c in clients)
        outcomes.discrepancy = csi4_discrepancy(first, second)
    latest = (
        GoalAttainmentRating.objects.using(using)
        .filter(goal__case=case, goal__gas_levels__isnull=False)
        .exclude(goal__lifecycle_status__in=[GoalLifecycle.ENTERED_IN_ERROR, GoalLifecycle.CANCELLED])
        .order_by("goal", "-rated_on")
        .distinct("goal")
        .values_list("score", flat=True)
    )
    scores = list(latest)
    outcomes.gas_t, outcomes.gas_goals = instruments.gas_t_score(scores), len(scores)
    outcomes.sessions = (
        Session.objects.using(using)
        .filter(case=case)
        .aggregate(**{status: Count("pk", filter=Q(status=status)) for status in SessionStatus.values})
    )
    return outcomes
