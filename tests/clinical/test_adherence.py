"""Homework progress arithmetic (clinical.adherence), checked against numbers worked out by hand.

Calendar used throughout: 2026-03-02 is a Monday; March has 31 days. Every expected value below is a literal,
with the computation that gives it in a comment; none is obtained by calling the formula under test.
"""

from datetime import date

import pytest

from clinical.adherence import (
    AssignmentProgress,
    Progress,
    assignment_progress,
    expected_by,
    period_of,
    ratio,
)

START = date(2026, 3, 2)
A, B = "client-a", "client-b"


def d(day: int, month: int = 3) -> date:
    return date(2026, month, day)


# ---------------------------------------------------------------- period_of


@pytest.mark.parametrize(
    ("frequency", "on", "period"),
    [
        ("once", d(2), 0),  # a one-off has a single period
        ("once", d(20), 0),
        ("once", d(30, 4), 0),
        ("daily", d(2), 0),  # the start day is day 0
        ("daily", d(3), 1),  # 1 day after
        ("daily", d(5), 3),  # 5 - 2 = 3 days after
        ("daily", d(31), 29),  # 31 - 2 = 29
        ("daily", d(1, 4), 30),  # 29 days to 31 March, +1 = 30
        ("weekly", d(2), 0),  # 0 // 7 = 0
        ("weekly", d(8), 0),  # Sunday: 6 days // 7 = 0, still the first week
        ("weekly", d(9), 1),  # Monday: 7 // 7 = 1
        ("weekly", d(15), 1),  # 13 // 7 = 1
        ("weekly", d(16), 2),  # 14 // 7 = 2
        ("weekly", d(22), 2),  # 20 // 7 = 2
        ("weekly", d(30), 4),  # 28 // 7 = 4
        ("weekly", d(1, 4), 4),  # 30 // 7 = 4
    ],
)
def test_period_of(frequency, on, period):
    assert period_of(frequency=frequency, start=START, on=on) == period


def test_several_completions_in_one_period_are_one_period():
    # Three completions on 3 March (day 1) and two in the week of 9-15 March (week 1).
    daily = {period_of(frequency="daily", start=START, on=on) for on in (d(3), d(3), d(3))}
    weekly = {period_of(frequency="weekly", start=START, on=on) for on in (d(9), d(11), d(15))}

    assert daily == {1}
    assert weekly == {1}


# ---------------------------------------------------------------- expected_by


@pytest.mark.parametrize(
    ("due", "target", "today", "expected"),
    [
        (d(8), 7, d(1), 0),  # before the start: nothing expected
        (d(8), 7, d(2), 1),  # start day: day 0 has begun → 1
        (d(8), 7, d(5), 4),  # days 0..3 have begun → 4
        (d(8), 7, d(8), 7),  # due day: days 0..6 → 7
        (d(8), 7, d(20), 7),  # after the due date it stops at the due day: days 0..6 → 7
        (d(8), 3, d(5), 3),  # 4 days begun, capped at the target 3
        (d(8), 3, d(20), 3),  # 7 days by the due date, capped at 3
        (None, 30, d(20), 19),  # no due date: days 0..18 (20 - 2 = 18) → 19
        (None, 7, d(20), 7),  # no due date: 19 days begun, capped at 7
    ],
)
def test_expected_by_daily(due, target, today, expected):
    assert expected_by(frequency="daily", start=START, due=due, target=target, today=today) == expected


@pytest.mark.parametrize(
    ("due", "target", "today", "expected"),
    [
        (d(29), 4, d(1), 0),  # before the start
        (d(29), 4, d(2), 1),  # start day: week 0 has begun → 1
        (d(29), 4, d(8), 1),  # 6 days in: still week 0 → 1
        (d(29), 4, d(9), 2),  # 7 days in: week 1 begins → 2
        (d(29), 4, d(16), 3),  # 14 // 7 = 2 → weeks 0..2 → 3
        (d(29), 4, d(30, 4), 4),  # after due: due is 27 days in, 27 // 7 = 3 → weeks 0..3 → 4
        (d(8), 4, d(30, 4), 1),  # due 8 March is 6 days in: only week 0 lies before the due date → 1
        (d(30, 4), 4, d(31, 5), 4),  # due 59 days in → 59 // 7 = 8 → 9 weeks, capped at target 4
        (None, 10, d(30), 5),  # no due: 28 // 7 = 4 → weeks 0..4 → 5
    ],
)
def test_expected_by_weekly(due, target, today, expected):
    assert expected_by(frequency="weekly", start=START, due=due, target=target, today=today) == expected


@pytest.mark.parametrize(
    ("due", "today", "expected"),
    [
        (d(6), d(1), 0),  # before the start
        (d(6), d(2), 1),  # the one time is expected from the start day
        (d(6), d(4), 1),  # mid-way
        (d(6), d(30), 1),  # after the due date: still the one time
        (None, d(30), 1),
    ],
)
def test_expected_by_once(due, today, expected):
    assert expected_by(frequency="once", start=START, due=due, target=1, today=today) == expected


# ---------------------------------------------------------------- ratio


@pytest.mark.parametrize(
    ("completed", "expected", "result"),
    [
        (0, 0, None),  # nothing expected yet
        (2, 0, None),
        (0, 4, 0.0),
        (1, 3, 0.3333),  # 0.33333… rounded to 4 places
        (2, 3, 0.6667),  # 0.66666… rounded up
        (3, 4, 0.75),
        (4, 4, 1.0),
        (5, 4, 1.0),  # 1.25 capped at 1
        (3, 1, 1.0),  # 3.0 capped at 1
    ],
)
def test_ratio(completed, expected, result):
    assert ratio(completed, expected) == result


# ---------------------------------------------------------------- assignment_progress


def progress(**kwargs) -> AssignmentProgress:
    kwargs.setdefault("start", START)
    kwargs.setdefault("assignees", [A, B])
    return assignment_progress(**kwargs)


class TestDailyEach:
    # Daily, each partner, 2-8 March, target 7.
    base = {"frequency": "daily", "mode": "each", "due": d(8), "target": 7}

    def test_before_the_start_nothing_is_expected(self):
        result = progress(**self.base, periods_by_client={}, today=d(1))

        assert result.overall == Progress(0, 0, None)
        assert result.by_assignee == {A: Progress(0, 0, None), B: Progress(0, 0, None)}
        assert (result.done, result.overdue) == (False, False)

    def test_on_the_start_day(self):
        # Day 0 expected of each: 1 each, 2 overall; A did day 0.
        result = progress(**self.base, periods_by_client={A: {0}}, today=d(2))

        assert result.by_assignee == {A: Progress(1, 1, 1.0), B: Progress(0, 1, 0.0)}
        assert result.overall == Progress(1, 2, 0.5)  # 1 / 2

    def test_mid_way_each_owes_their_own_and_overall_sums(self):
        # Today 5 March: days 0..3 → 4 expected of each, 8 overall.
        # A did days 0, 1, 3 → 3 (3/4 = 0.75); B did day 2 → 1 (1/4 = 0.25); overall 4/8 = 0.5.
        result = progress(**self.base, periods_by_client={A: {0, 1, 3}, B: {2}}, today=d(5))

        assert result.by_assignee == {A: Progress(3, 4, 0.75), B: Progress(1, 4, 0.25)}
        assert result.overall == Progress(4, 8, 0.5)
        assert (result.done, result.overdue) == (False, False)

    def test_an_assignee_with_no_completions_counts_zero(self):
        # Today 4 March: 3 expected of each. A days 0, 1, 2 → 3/3; B none → 0/3; overall 3/6 = 0.5.
        result = progress(**self.base, periods_by_client={A: {0, 1, 2}}, today=d(4))

        assert result.by_assignee == {A: Progress(3, 3, 1.0), B: Progress(0, 3, 0.0)}
        assert result.overall == Progress(3, 6, 0.5)

    def test_after_the_due_date_expected_stops_and_unfinished_is_overdue(self):
        # Today 10 March, due 8 March: 7 expected of each (days 0..6), 14 overall.
        # A did all 7 (7/7 = 1.0); B did days 0 and 1 (2/7 = 0.28571… → 0.2857); overall 9/14 = 0.642857… → 0.6429.
        result = progress(**self.base, periods_by_client={A: set(range(7)), B: {0, 1}}, today=d(10))

        assert result.by_assignee == {A: Progress(7, 7, 1.0), B: Progress(2, 7, 0.2857)}
        assert result.overall == Progress(9, 14, 0.6429)
        assert (result.done, result.overdue) == (False, True)

    def test_on_the_due_date_itself_it_is_not_yet_overdue(self):
        # Today = due 8 March: 7 expected; B has 2 → not done, but not past the due date.
        result = progress(**self.base, periods_by_client={A: set(range(7)), B: {0, 1}}, today=d(8))

        assert result.overall == Progress(9, 14, 0.6429)  # as above
        assert (result.done, result.overdue) == (False, False)

    def test_done_when_every_assignee_reaches_the_target(self):
        # Both did days 0..6: 7 each, 14 overall, after the due date: done and so not overdue.
        result = progress(**self.base, periods_by_client={A: set(range(7)), B: set(range(7))}, today=d(12))

        assert result.overall == Progress(14, 14, 1.0)
        assert (result.done, result.overdue) == (True, False)

    def test_completions_beyond_the_target_are_capped(self):
        # Target 3: A did days 0..5 → min(3, 6) = 3; today 5 March: min(3, 4 begun) = 3 expected.
        # B did day 0 → 1/3 = 0.3333. Overall (3 + 1) / (3 + 3) = 4/6 = 0.6667.
        result = progress(**{**self.base, "target": 3}, periods_by_client={A: {0, 1, 2, 3, 4, 5}, B: {0}}, today=d(5))

        assert result.by_assignee == {A: Progress(3, 3, 1.0), B: Progress(1, 3, 0.3333)}
        assert result.overall == Progress(4, 6, 0.6667)
        assert result.done is False

    def test_a_single_assignee(self):
        # One client, today 4 March: 3 expected; days 0 and 2 done → 2/3 = 0.6667; overall the same.
        result = progress(**self.base, assignees=[A], periods_by_client={A: {0, 2}}, today=d(4))

        assert result.by_assignee == {A: Progress(2, 3, 0.6667)}
        assert result.overall == Progress(2, 3, 0.6667)

    def test_other_clients_periods_do_not_count(self):
        # A period recorded for somebody who is not an assignee is ignored: A 1/2, B 0/2, overall 1/4 = 0.25.
        result = progress(**self.base, periods_by_client={A: {0}, "stranger": {0, 1}}, today=d(3))

        assert result.by_assignee == {A: Progress(1, 2, 0.5), B: Progress(0, 2, 0.0)}
        assert result.overall == Progress(1, 4, 0.25)


class TestWeeklyEach:
    # Weekly, each partner, 2-29 March, target 4.
    base = {"frequency": "weekly", "mode": "each", "due": d(29), "target": 4}

    def test_completions_in_different_weeks(self):
        # Today 16 March: 14 // 7 = 2 → weeks 0..2 → 3 expected of each, 6 overall.
        # A did weeks 0 and 2 → 2/3 = 0.6667; B week 1 → 1/3 = 0.3333; overall 3/6 = 0.5.
        result = progress(**self.base, periods_by_client={A: {0, 2}, B: {1}}, today=d(16))

        assert result.by_assignee == {A: Progress(2, 3, 0.6667), B: Progress(1, 3, 0.3333)}
        assert result.overall == Progress(3, 6, 0.5)

    def test_after_the_due_date(self):
        # Today 1 April, due 29 March (27 // 7 = 3): 4 expected of each, 8 overall.
        # A weeks 0..3 → 4; B weeks 0, 1 → 2 (0.5); overall 6/8 = 0.75; B not done → overdue.
        result = progress(**self.base, periods_by_client={A: {0, 1, 2, 3}, B: {0, 1}}, today=d(1, 4))

        assert result.by_assignee == {A: Progress(4, 4, 1.0), B: Progress(2, 4, 0.5)}
        assert result.overall == Progress(6, 8, 0.75)
        assert (result.done, result.overdue) == (False, True)

    def test_ratio_capped_when_completed_exceeds_expected(self):
        # Due 8 March leaves only week 0 before the due date: expected min(4, 1) = 1 of each.
        # Today 20 March; A did weeks 0, 1, 2 (the late ones too) → 3 → 3/1 capped at 1.0; B week 0 → 1/1.
        # Overall 4/2 capped at 1.0. Neither reached the target 4: not done, and past the due date.
        result = progress(**{**self.base, "due": d(8)}, periods_by_client={A: {0, 1, 2}, B: {0}}, today=d(20))

        assert result.by_assignee == {A: Progress(3, 1, 1.0), B: Progress(1, 1, 1.0)}
        assert result.overall == Progress(4, 2, 1.0)
        assert (result.done, result.overdue) == (False, True)


class TestWeeklyJoint:
    # Weekly, joint, 2-29 March, target 4.
    base = {"frequency": "weekly", "mode": "joint", "due": d(29), "target": 4}

    def test_a_week_done_by_either_partner_counts_for_both(self):
        # Today 16 March: weeks 0..2 → 3 expected (not multiplied by the assignees).
        # A did week 0, B weeks 0 and 2 → weeks {0, 2} → 2; 2/3 = 0.6667 for each and overall.
        result = progress(**self.base, periods_by_client={A: {0}, B: {0, 2}}, today=d(16))

        shared = Progress(2, 3, 0.6667)
        assert result.by_assignee == {A: shared, B: shared}
        assert result.overall == shared
        assert (result.done, result.overdue) == (False, False)

    def test_one_partner_alone_completes_it_for_both(self):
        # Only B submits, weeks 0..3 → 4 ≥ 4: done; today 1 April (after due) → 4 expected; 4/4 = 1.0.
        result = progress(**self.base, periods_by_client={B: {0, 1, 2, 3}}, today=d(1, 4))

        assert result.by_assignee == {A: Progress(4, 4, 1.0), B: Progress(4, 4, 1.0)}
        assert result.overall == Progress(4, 4, 1.0)
        assert (result.done, result.overdue) == (True, False)

    def test_split_between_partners_and_overdue(self):
        # After due (4 expected): A week 0, B week 1 → weeks {0, 1} → 2/4 = 0.5; not done → overdue.
        result = progress(**self.base, periods_by_client={A: {0}, B: {1}}, today=d(1, 4))

        assert result.overall == Progress(2, 4, 0.5)
        assert result.by_assignee == {A: Progress(2, 4, 0.5), B: Progress(2, 4, 0.5)}
        assert (result.done, result.overdue) == (False, True)

    def test_shared_count_capped_at_target(self):
        # Weeks {0, 1} from A and {2, 3, 4} from B → 5 distinct, capped at 4; today 1 April → 4 expected.
        result = progress(**self.base, periods_by_client={A: {0, 1}, B: {2, 3, 4}}, today=d(1, 4))

        assert result.overall == Progress(4, 4, 1.0)
        assert result.done is True

    def test_before_the_start(self):
        result = progress(**self.base, periods_by_client={}, today=d(1))

        assert result.overall == Progress(0, 0, None)
        assert result.by_assignee == {A: Progress(0, 0, None), B: Progress(0, 0, None)}
        assert (result.done, result.overdue) == (False, False)


class TestDailyJoint:
    base = {"frequency": "daily", "mode": "joint", "due": d(8), "target": 7}

    def test_the_same_day_by_both_partners_is_one_day(self):
        # Today 5 March: days 0..3 → 4 expected. A days 0, 1; B days 1, 3 → {0, 1, 3} → 3; 3/4 = 0.75.
        result = progress(**self.base, periods_by_client={A: {0, 1}, B: {1, 3}}, today=d(5))

        assert result.overall == Progress(3, 4, 0.75)
        assert result.by_assignee == {A: Progress(3, 4, 0.75), B: Progress(3, 4, 0.75)}


class TestOnce:
    # Once, 2-6 March, target 1.
    base = {"frequency": "once", "due": d(6), "target": 1}

    def test_each_before_the_start(self):
        result = progress(**self.base, mode="each", periods_by_client={}, today=d(1))

        assert result.overall == Progress(0, 0, None)
        assert (result.done, result.overdue) == (False, False)

    def test_each_mid_way_one_partner_done(self):
        # 1 expected of each, 2 overall; A did it → 1/1, B 0/1; overall 1/2 = 0.5; not done (B owes it).
        result = progress(**self.base, mode="each", periods_by_client={A: {0}}, today=d(4))

        assert result.by_assignee == {A: Progress(1, 1, 1.0), B: Progress(0, 1, 0.0)}
        assert result.overall == Progress(1, 2, 0.5)
        assert (result.done, result.overdue) == (False, False)

    def test_each_overdue_only_after_the_due_date(self):
        on_due = progress(**self.base, mode="each", periods_by_client={A: {0}}, today=d(6))
        after = progress(**self.base, mode="each", periods_by_client={A: {0}}, today=d(7))

        assert (on_due.done, on_due.overdue) == (False, False)
        assert (after.done, after.overdue) == (False, True)
        assert after.overall == Progress(1, 2, 0.5)  # still 1 of 2 after the due date

    def test_each_done_by_both(self):
        result = progress(**self.base, mode="each", periods_by_client={A: {0}, B: {0}}, today=d(9))

        assert result.overall == Progress(2, 2, 1.0)
        assert (result.done, result.overdue) == (True, False)

    def test_joint_done_by_one(self):
        # B did it: the one shared completion → 1/1 for both; done, so never overdue.
        result = progress(**self.base, mode="joint", periods_by_client={B: {0}}, today=d(9))

        assert result.by_assignee == {A: Progress(1, 1, 1.0), B: Progress(1, 1, 1.0)}
        assert result.overall == Progress(1, 1, 1.0)
        assert (result.done, result.overdue) == (True, False)

    def test_joint_not_done_after_due_is_overdue(self):
        result = progress(**self.base, mode="joint", periods_by_client={}, today=d(9))

        assert result.overall == Progress(0, 1, 0.0)
        assert (result.done, result.overdue) == (False, True)

    def test_without_a_due_date_it_is_never_overdue(self):
        result = progress(**{**self.base, "due": None}, mode="each", periods_by_client={}, today=d(1, 12))

        assert result.overall == Progress(0, 2, 0.0)
        assert (result.done, result.overdue) == (False, False)
