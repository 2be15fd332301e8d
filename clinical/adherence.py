"""Homework progress, as plain arithmetic (no database): how many completions were expected by a date,
how many there were, and the ratio.

A completion falls in a *period* of the assignment: the whole assignment for `once`, a day for `daily`, a week
(counted from the start date) for `weekly`. What counts is the number of distinct periods with a completion,
so three check-ins on one day are one day of practice. Periods are expected from the start date until today
(the current one included) or the due date, whichever comes first, and never more than `target_count`.
"""

from dataclasses import dataclass
from datetime import date

ONCE, DAILY, WEEKLY = "once", "daily", "weekly"


def period_of(*, frequency: str, start: date, on: date) -> int:
    """The period a completion on `on` falls in (0-based). Completions before the start are refused upstream."""
    if frequency == ONCE:
        return 0
    days = (on - start).days
    return days if frequency == DAILY else days // 7


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
