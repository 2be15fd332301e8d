"""assignment.overdue: once per assignment and period that ended with its assignees behind, noticed by the worker
(clinical.services.homework.notice_overdue_homework, run every 15 minutes by events.notice_overdue_homework)."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django import app

from clinical import adherence
from clinical.services import homework as services
from clinical.services.cases import case_transition
from events.models import Event
from events.tasks import notice_overdue_homework
from tests.factories.scenes import CoupleInCare

RESPONSES = {
    "usual_sentence": "You never listen.",
    "i_statement": "I feel alone when my news goes unanswered, and I would like a minute of your attention.",
    "said_it": True,
    "felt_natural": 5,
}


def overdue_events(assignment=None) -> list[Event]:
    found = Event.objects.filter(type="assignment.overdue").order_by("sequence")
    return [e for e in found if assignment is None or e.about["assignment"] == str(assignment.pk)]


def submit(assignment, client, days_ago):
    when = timezone.now() - timedelta(days=days_ago)
    services.submission_create(actor=client.user, assignment=assignment, completed_at=when, responses=RESPONSES)


@pytest.fixture
def care(clinician):
    return CoupleInCare(clinician)


def test_a_week_that_ended_with_nothing_done_is_overdue_once(care, catalog):
    homework = care.assign(catalog, days_ago=10)  # week 0 ended 4 days ago

    assert services.notice_overdue_homework() == 1
    assert services.notice_overdue_homework() == 0  # noticed once, however often the worker looks

    [event] = overdue_events(homework)
    assert event.about == {"assignment": str(homework.pk), "case": str(care.case.pk)}
    assert event.case_id == care.case.pk


def test_each_partner_owes_their_own_week_and_a_joint_week_is_shared(care, catalog):
    each = care.assign(catalog, days_ago=10)
    joint = care.assign(catalog, days_ago=10, mode="joint")
    for homework in (each, joint):
        submit(homework, care.a, days_ago=8)  # only a practised in week 0

    services.notice_overdue_homework()

    assert len(overdue_events(each)) == 1  # b is behind
    assert overdue_events(joint) == []  # one completion counts for both


def test_nothing_when_the_week_was_done_or_has_not_ended(care, catalog):
    done = care.assign(catalog, days_ago=10)
    for partner in (care.a, care.b):
        submit(done, partner, days_ago=9)
    care.assign(catalog, days_ago=3)  # week 0 ends in 3 days

    assert services.notice_overdue_homework() == 0
    assert overdue_events() == []


def test_every_later_week_behind_is_noticed_in_turn(care, catalog):
    homework = care.assign(catalog, days_ago=10)
    submit(homework, care.a, days_ago=9)
    submit(homework, care.b, days_ago=9)
    today = timezone.localdate()

    assert services.notice_overdue_homework(today=today) == 0  # week 0 done
    assert services.notice_overdue_homework(today=today + timedelta(days=4)) == 1  # week 1 ended, nothing done
    assert services.notice_overdue_homework(today=today + timedelta(days=5)) == 0
    assert len(overdue_events(homework)) == 1


def test_cancelled_homework_paused_cases_and_old_periods_are_left_alone(care, catalog, clinician):
    cancelled = care.assign(catalog, days_ago=10)
    services.assignment_cancel(actor=clinician, assignment=cancelled)
    old = care.assign(catalog, days_ago=30, target_count=2)  # both weeks ended more than 7 days ago

    assert services.notice_overdue_homework() == 0

    other = CoupleInCare(clinician)
    homework = other.assign(catalog, days_ago=10)
    case_transition(actor=clinician, case=other.case, action="pause")
    assert services.notice_overdue_homework() == 0
    assert overdue_events() == []

    case_transition(actor=clinician, case=other.case, action="resume")
    assert services.notice_overdue_homework() == 1
    assert [e.about["assignment"] for e in overdue_events()] == [str(homework.pk)]
    assert str(old.pk) not in [e.about["assignment"] for e in overdue_events()]


def test_a_one_off_is_overdue_after_its_due_date_and_never_without_one(care, catalog):
    due = care.assign(
        catalog, days_ago=5, frequency="once", target_count=1, due_date=timezone.localdate() - timedelta(days=1)
    )
    care.assign(catalog, days_ago=5, frequency="once", target_count=1)

    assert services.notice_overdue_homework() == 1
    assert [e.about["assignment"] for e in overdue_events()] == [str(due.pk)]


@pytest.mark.parametrize(
    ("frequency", "due", "first", "last", "periods"),
    [
        ("weekly", None, date(2026, 3, 7), date(2026, 3, 7), [0]),  # week 0 is 1 to 7 March
        ("weekly", None, date(2026, 3, 8), date(2026, 3, 14), [1]),
        ("weekly", date(2026, 3, 10), date(2026, 3, 8), date(2026, 3, 14), [1]),  # week 1 ends on the due date
        ("weekly", date(2026, 3, 3), date(2026, 3, 1), date(2026, 3, 7), [0]),  # cut short by the due date
        ("weekly", date(2026, 3, 3), date(2026, 3, 8), date(2026, 3, 20), []),  # nothing owed after the due date
        ("daily", None, date(2026, 3, 1), date(2026, 3, 3), [0, 1, 2]),
        ("daily", None, date(2026, 3, 1), date(2026, 3, 30), [0, 1, 2, 3]),  # never more than the target
        ("once", None, date(2026, 3, 1), date(2026, 3, 30), []),
    ],
)
def test_periods_ending_in_a_window(frequency, due, first, last, periods):
    found = adherence.periods_ending(
        frequency=frequency, start=date(2026, 3, 1), due=due, target=4, first=first, last=last
    )
    assert found == periods


@pytest.mark.django_db(transaction=True)
def test_the_worker_notices_on_its_schedule(clinician, catalog, work):
    care = CoupleInCare(clinician)
    homework = care.assign(catalog, days_ago=10)
    periodic = {each.task.name: each for each in app.periodic_registry.periodic_tasks.values()}
    assert periodic["events.notice_overdue_homework"].cron == "*/15 * * * *"

    notice_overdue_homework.defer(timestamp=int(timezone.now().timestamp()))
    work(queues=("events",))

    assert len(overdue_events(homework)) == 1
