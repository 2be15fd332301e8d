"""Homework progress, as plain arithmetic (no database): how many completions were expected by a date,
how many there were, and the ratio.

A completion falls in a *period* of the assignment: the whole assignment for `once`, a day for `daily`, a week
(counted from the start date) for `weekly`. What counts is the number of distinct periods with a completion,
so three check-ins on one day are one day of practice. Periods are expected from the start date until today
(the current one included) or the due date, whichever comes first, and never more than `target_count`.
"""

from dataclasses import dataclass
from datetime import date, timedelta

ONCE, DAILY, WEEKLY = "once", "daily", "weekly"


def period_of(*, frequency: str, start: date, on: date) -> int:
    """The period a completion on `on` falls in (0-based). Completions before the start are refused upstream."""
    if frequency == ONCE:
        return 0
    days = (on - start).days
    return days if frequency == DAILY else days // 7


def period_end(*, frequency: str, start: date, due: date | None, period: int) -> date | None:
    """The last day of a period (cut short by the due date); a one-off ends on its due date, or never."""
    if frequency == ONCE:
        return due
    natural = start + timedelta(days=period if frequency == DAILY else 7 * period + 6)
    return min(natural, due) if due else natural


def periods_ending(*, frequency: str, start: date, due: date | None, target: int, first: date, last: date) -> list:
    """The owed periods (those expected before the target is reached, begun by the due date) whose last day falls
    from `first` to `last`."""
    if frequency == ONCE:
        return [0] if due and first <= due <= last else []
    lowest = max(0, period_of(frequency=frequency, start=start, on=max(first, start)) - 1)
    highest = min(target - 1, period_of(frequency=frequency, start=start, on=max(last, start)))
    return [
        p
        for p in range(lowest, highest + 1)
        if (due is None or start + timedelta(days=p if frequency == DAILY else 7 * p) <= due)
        and first <= period_end(frequency=frequency, start=start, due=due, period=p) <= last
    ]


def behind_after(
    *, frequency: str, mode: str, target: int, assignees: list, periods_by_client: dict, period: int
) -> bool:
    """At the end of `period`, fewer periods with a completion than expected by then (for `each`, any assignee;
    for `joint`, the two together): the rule of `expected_by`, applied on the period's last day."""
    expected = 1 if frequency == ONCE else min(target, period + 1)

    def done(periods) -> int:
        return len({p for p in periods if p <= period})

    if mode == "joint":
        return done(set().union(*(periods_by_client.get(c, set()) for c in assignees))) < expected
    return any(done(periods_by_client.get(c, set())) < expected for c in assignees)


def expected_by(*, frequency: str, start: date, due: date | None, target: int, today: date) -> int:
    """Completions expected by `today`: periods begun since the start, up to the due date, at most `target`."""
    if today < start:
        return 0
    if frequency == ONCE:
        return 1
    end = min(today, due) if due else today
    begun = period_of(frequency=frequency, start=start, on=end) + 1
    return min(target, begun)


def ratio(completed: int, expected: int) -> float | None:
    """completed / expected, at most 1; None before anything is expected."""
    if expected == 0:
        return None
    return round(min(1.0, completed / expected), 4)


@dataclass(frozen=True)
class Progress:
    completed: int
    expected: int
    adherence: float | None


@dataclass(frozen=True)
class AssignmentProgress:
    overall: Progress
    by_assignee: dict  # client id → Progress
    done: bool  # every required completion is in
    overdue: bool


def assignment_progress(
    *,
    frequency: str,
    mode: str,
    start: date,
    due: date | None,
    target: int,
    assignees: list,
    periods_by_client: dict,
    today: date,
) -> AssignmentProgress:
    """Progress overall and per assignee.

    `each`: every assignee owes `target` completions; overall sums them. `joint`: a completion by either
    partner counts for both; every assignee shows the shared count.
    """
    expected = expected_by(frequency=frequency, start=start, due=due, target=target, today=today)
    if mode == "joint":
        shared = min(target, len(set().union(*(periods_by_client.get(c, set()) for c in assignees))))
        one = Progress(shared, expected, ratio(shared, expected))
        by_assignee = dict.fromkeys(assignees, one)
        overall, done = one, shared >= target
    else:
        by_assignee = {}
        for client in assignees:
            completed = min(target, len(periods_by_client.get(client, set())))
            by_assignee[client] = Progress(completed, expected, ratio(completed, expected))
        total_completed = sum(p.completed for p in by_assignee.values())
        total_expected = expected * len(assignees)
        overall = Progress(total_completed, total_expected, ratio(total_completed, total_expected))
        done = all(p.completed >= target for p in by_assignee.values())
    overdue = due is not None and today > due and not done
    return AssignmentProgress(overall, by_assignee, done, overdue)


def done_by_counts(*, mode: str, target: int, assignees: list, periods: dict) -> bool:
    """`assignment_progress(...).done` from counts instead of sets: `periods` maps each client to how many distinct
    periods have a current submission of theirs, and None to how many across all of them (the kept progress rows,
    clinical/services/progress.py). Only assignees submit, so "across all of them" is the union a `joint`
    assignment counts."""
    if mode == "joint":
        return periods.get(None, 0) >= target
    return all(periods.get(client, 0) >= target for client in assignees)
