"""A case's outcomes: each client's score series per instrument, the couple's CSI-4 discrepancy over time,
and the Goal Attainment Scaling T-score; and the chart of them."""

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS

from clinical import instruments
from clinical.models import Assessment, Case, GoalAttainmentRating, GoalLifecycle

from .services.homework import case_clients


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
    series: dict = field(default_factory=dict)  # {client id: {instrument: [Point]}}
    discrepancy: list = field(default_factory=list)  # CSI-4 partner differences
    gas_t: float | None = None
    gas_goals: int = 0


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
    """Everything the outcome view of a case shows, in three queries: the case's clients from the case's own
    database, the scores and GAS ratings from `using` (the API may choose a streaming replica)."""
    clients = case_clients(case)
    outcomes = CaseOutcomes(case=case, clients=clients)
    series = defaultdict(lambda: defaultdict(list))
    for a in Assessment.objects.using(using).filter(case=case).order_by("administered_at", "created_at"):
        series[a.client_id][a.instrument].append(
            Point(a.pk, a.administered_at, a.total, a.band, a.change, a.reliable_change or None)
        )
    outcomes.series = {client.pk: dict(series.get(client.pk, {})) for client in clients}
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
    return outcomes


def render_chart(outcomes: CaseOutcomes) -> bytes:
    """A PNG: one panel per instrument with scores, each client a line, band limits or the cut-off drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt

    codes = [code for code in instruments.INSTRUMENTS if any(code in s for s in outcomes.series.values())]
    panels = max(1, len(codes))
    figure, axes = plt.subplots(panels, 1, figsize=(8, 3.2 * panels), squeeze=False, constrained_layout=True)
    colours = ["#6b3e75", "#d9822b"]
    names = {c.pk: (c.preferred_name or c.given_name) for c in outcomes.clients}
    if not codes:
        ax = axes[0][0]
        ax.text(0.5, 0.5, "No assessments yet", ha="center", va="center", fontsize=14, color="#666")
        ax.set_axis_off()
    for ax, code in zip((row[0] for row in axes), codes, strict=False):
        instrument = instruments.INSTRUMENTS[code]
        _draw_bands(ax, instrument)
        for colour, client in zip(colours, outcomes.clients, strict=False):
            points = outcomes.series.get(client.pk, {}).get(code, [])
            if points:
                ax.plot(
                    [p.administered_at for p in points],
                    [p.total for p in points],
                    marker="o",
                    linewidth=2,
                    color=colour,
                    label=names[client.pk],
                )
        better = "lower is better" if instrument.direction == instruments.LOWER_IS_BETTER else "higher is better"
        ax.set_title(f"{instrument.name} ({better})", fontsize=11, loc="left")
        ax.set_ylim(instrument.min_total - 0.5, instrument.max_total + 0.5)
        ax.set_ylabel("Total score")
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.grid(axis="y", alpha=0.25)
        ax.legend(loc="upper left", fontsize=9, frameon=False)
    figure.suptitle("Outcome measures over time", fontsize=13)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _draw_bands(ax, instrument) -> None:
    shades = ["#e8f5e9", "#fff8e1", "#ffe0b2", "#ffccbc", "#ffcdd2"]
    if instrument.direction == instruments.HIGHER_IS_BETTER:
        shades = ["#ffcdd2", "#e8f5e9"]
    for shade, band in zip(shades, instrument.bands, strict=False):
        ax.axhspan(band.low - 0.5, band.high + 0.5, color=shade, alpha=0.6, linewidth=0)
        ax.text(
            1.005,
            (band.low + band.high) / 2,
            band.label,
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            va="center",
            color="#555",
        )
    if instrument.case_at_or_above is not None:
        line, label = instrument.case_at_or_above - 0.5, f"caseness: {instrument.case_at_or_above:g} or more"
    else:
        line, label = instrument.case_below, f"distress: below {instrument.case_below:g}"
    ax.axhline(line, color="#b71c1c", linestyle="--", linewidth=1, label=label)
