"""Measures before each session (issue 15), through HTTP with the clock moved by time-machine: a before_each_session
schedule asks its client for the measure MEASURE_BEFORE_SESSION_HOURS before each scheduled session they attend,
until it starts; not for a session the client does not attend; a cancelled session withdraws it; an answer in the
window settles it; the reminder run reminds once per session and device and never of a cancelled session; the due
list and the reminder run cost the same for one session as for many."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clinical.models import AuditEvent, Reminder, ReminderStatus
from clinical.reminders import session_period
from clinical.services.consents import consent_give
from clinical.services.reminders import device_register, measure_reminders_create_due
from events.reminders import reminder_attempt, send_due_reminders
from tests.factories import issue_token
from tests.factories.scenes import answers_for
from tests.helpers import HOMEWORK, READ_WRITE, Caller

SCHEDULES = "/api/v1/assessment-schedules/"
SESSIONS = "/api/v1/sessions/"
ASSESSMENTS = "/api/v1/assessments/"
DUE = "/api/v1/me/assessments-due/"
LEAD = timedelta(hours=48)


@pytest.fixture(autouse=True)
def lead(settings):
    settings.MEASURE_BEFORE_SESSION_HOURS = 48


def caller(user, scopes):
    """A caller whose token outlives the days these tests move the clock through."""
    return Caller(user, issue_token(user, scopes, expires_in=30 * 86400))


@pytest.fixture
def staff(care):
    return caller(care.clinician, READ_WRITE)


@pytest.fixture
def app_a(care):
    return caller(care.a_user, HOMEWORK)


@pytest.fixture
def app_b(care):
    return caller(care.b_user, HOMEWORK)


def start(hours: float):
    """An instant `hours` from now, on the minute."""
    return (timezone.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)


def schedule(staff, care, client, instrument="csi4", frequency="before_each_session", **extra):
    response = staff.post(
        SCHEDULES,
        {
            "client": str(client.pk),
            "case": str(care.case.pk),
            "instrument": instrument,
            "frequency": frequency,
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def book(staff, care, starts_at, **extra) -> dict:
    response = staff.post(
        SESSIONS,
        {
            "case": str(care.case.pk),
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + timedelta(minutes=50)).isoformat(),
            "modality": "video",
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def cancel(staff, session, to="cancelled"):
    response = staff.post(
        f"{SESSIONS}{session['id']}/transition/", {"to": to, "reason": "The couple asked to move it."}, format="json"
    )
    assert response.status_code == 200, response.content


def due_at(app, instant) -> list[dict]:
    with time_machine.travel(instant, tick=False):
        response = app.get(DUE)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def sessions_due(app, instant) -> list[str]:
    return [item["session"] for item in due_at(app, instant)]


def answer(app, scheduled, instant, instrument="csi4"):
    with time_machine.travel(instant, tick=False):
        response = app.post(
            ASSESSMENTS,
            {
                "schedule": scheduled["id"],
                "instrument": instrument,
                "answers": answers_for(instrument, 15),
                "administered_at": timezone.now().isoformat(),
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    assert response.status_code == 201, response.content
    return response.json()


# ---------------------------------------------------------------- what is due


def test_due_from_the_lead_time_before_a_session_until_it_starts(staff, app_a, app_b, care):
    scheduled = schedule(staff, care, care.a)
    assert scheduled["frequency"] == "before_each_session"
    starts_at = start(50)
    session = book(staff, care, starts_at)
    opens = starts_at - LEAD

    assert due_at(app_a, timezone.now()) == []
    assert due_at(app_a, opens - timedelta(minutes=1)) == []  # not before the window opens
    [item] = due_at(app_a, opens)
    assert (item["schedule"], item["case"], item["frequency"], item["session"], item["due_since"]) == (
        scheduled["id"],
        str(care.case.pk),
        "before_each_session",
        session["id"],
        timezone.localdate(opens).isoformat(),
    )
    assert parse_datetime(item["due_before"]) == starts_at
    assert item["instrument"]["code"] == "csi4"
    assert sessions_due(app_a, starts_at - timedelta(minutes=1)) == [session["id"]]
    assert due_at(app_a, starts_at) == []  # the session has begun: no longer asked
    assert due_at(app_b, opens) == []  # the partner has no such schedule


def test_each_session_the_client_attends_and_none_they_do_not(staff, app_a, app_b, care):
    schedule(staff, care, care.a)
    schedule(staff, care, care.b)
    bs_own = book(staff, care, start(20), kind="individual", partner=str(care.b.pk))
    joint = book(staff, care, start(30))
    a_alone = book(staff, care, start(40), attendees=[str(care.a.pk)])
    now = timezone.now()

    assert sessions_due(app_a, now) == [joint["id"], a_alone["id"]]  # never b's individual session
    assert sessions_due(app_b, now) == [bs_own["id"], joint["id"]]


def test_a_session_after_the_schedules_end_does_not_count(staff, app_a, care):
    tomorrow = timezone.localdate() + timedelta(days=1)
    schedule(staff, care, care.a, end_date=tomorrow.isoformat())
    ten = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)
    within = book(staff, care, ten)  # tomorrow, the schedule's last day
    book(staff, care, ten + timedelta(days=1) - timedelta(hours=1))  # the day after: its window opens tomorrow 09:00

    assert sessions_due(app_a, ten - timedelta(minutes=30)) == [within["id"]]


def test_a_window_opens_no_earlier_than_the_schedules_start_date(staff, app_a, care):
    tomorrow = timezone.localdate() + timedelta(days=1)
    scheduled = schedule(staff, care, care.a, start_date=tomorrow.isoformat())
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    session = book(staff, care, midnight + timedelta(hours=10))

    assert due_at(app_a, midnight - timedelta(minutes=1)) == []
    [item] = due_at(app_a, midnight)
    assert (item["session"], item["due_since"]) == (session["id"], tomorrow.isoformat())
    answer(app_a, scheduled, midnight + timedelta(minutes=30))
    assert due_at(app_a, midnight + timedelta(hours=1)) == []


@pytest.mark.parametrize("to", ["cancelled", "late_cancelled"])
def test_cancelling_the_session_withdraws_it(staff, app_a, care, to):
    schedule(staff, care, care.a)
    session = book(staff, care, start(24))
    kept = book(staff, care, start(30))
    assert sessions_due(app_a, timezone.now()) == [session["id"], kept["id"]]

    cancel(staff, session, to)

    assert sessions_due(app_a, timezone.now()) == [kept["id"]]


def test_an_answer_in_the_window_settles_that_session_only(staff, app_a, care):
    scheduled = schedule(staff, care, care.a)
    weekly = schedule(staff, care, care.a, instrument="phq9", frequency="weekly")
    first = book(staff, care, start(24))
    second = book(staff, care, start(24 * 5))
    now = timezone.now()
    assert [(i["schedule"], i["session"]) for i in due_at(app_a, now)] == [
        (scheduled["id"], first["id"]),
        (weekly["id"], None),
    ]

    body = answer(app_a, scheduled, now + timedelta(minutes=5))
    assert body["schedule"] == scheduled["id"]

    assert [i["schedule"] for i in due_at(app_a, now + timedelta(minutes=10))] == [weekly["id"]]
    # The answer before the first session does not answer the second: due once its own window opens.
    second_opens = parse_datetime(second["starts_at"]) - LEAD
    assert sessions_due(app_a, second_opens - timedelta(minutes=1)) == [None]  # the weekly measure only
    assert sessions_due(app_a, second_opens) == [second["id"], None]


def test_the_due_list_costs_the_same_for_one_session_and_many(staff, app_a, care, count_queries):
    schedule(staff, care, care.a)
    schedule(staff, care, care.a, instrument="phq9", frequency="weekly")
    book(staff, care, start(10))

    def due():
        response = app_a.get(DUE)
        assert response.status_code == 200
        return len(response.json()["results"])

    assert due() == 2
    one = count_queries(due)

    schedule(staff, care, care.a, instrument="gad7")
    schedule(staff, care, care.a, instrument="phq9")
    for hours in (12, 14, 20, 30, 40):
        book(staff, care, start(hours))
    assert due() == 1 + 3 * 6
    assert count_queries(due) == one


# ---------------------------------------------------------------- reminders


@pytest.fixture
def gateway(settings):
    settings.PUSH_GATEWAY_URL = "https://push.example.com/v1/send"  # nothing is sent: no worker runs here
    settings.PUSH_GATEWAY_SECRET = "whsec_" + "QSBnYXRld2F5IHNlY3JldCBvZiAzMiBieXRlcyEhISE="


def phones(care):
    for user in (care.a_user, care.b_user):
        device_register(actor=user, platform="ios", token=f"phone-{user.pk}")
        consent_give(actor=user, kind="electronic_communication")
    device_register(actor=care.a_user, platform="web", token=f"laptop-{care.a_user.pk}")


def run_at(instant) -> list[Reminder]:
    before = set(Reminder.objects.values_list("pk", flat=True))
    with time_machine.travel(instant, tick=False):
        send_due_reminders()
    return list(Reminder.objects.exclude(pk__in=before).select_related("device"))


def test_reminded_once_per_session_and_device_never_of_a_cancelled_session(staff, care, gateway):
    phones(care)
    scheduled = schedule(staff, care, care.a)
    first_at, second_at = start(50), start(60)
    first = book(staff, care, first_at)
    second = book(staff, care, second_at)
    cancelled = book(staff, care, start(55))
    cancel(staff, cancelled)

    assert run_at(first_at - LEAD - timedelta(minutes=1)) == []
    made = run_at(first_at - LEAD)
    assert sorted((str(r.session_id), r.device.platform) for r in made) == [
        (first["id"], "ios"),
        (first["id"], "web"),
    ]
    assert {(str(r.schedule_id), r.kind, r.period, r.due_at) for r in made} == {
        (scheduled["id"], "measures", session_period(first_at), first_at - LEAD)
    }
    assert all(r.expires_at <= first_at for r in made)
    assert run_at(first_at - LEAD + timedelta(minutes=5)) == []  # once per session and device
    assert run_at(second_at - LEAD - timedelta(minutes=1)) == []
    later = run_at(second_at - LEAD)
    assert sorted((str(r.session_id), r.device.platform) for r in later) == [
        (second["id"], "ios"),
        (second["id"], "web"),
    ]
    assert run_at(first_at - timedelta(minutes=1)) == []
    assert not Reminder.objects.filter(session_id=cancelled["id"]).exists()


def test_no_reminder_once_answered_and_a_pending_one_is_dropped_when_the_session_is_cancelled(
    staff, app_a, care, gateway
):
    phones(care)
    scheduled = schedule(staff, care, care.a)
    answered_at, cancelled_at = start(30), start(60)
    book(staff, care, answered_at)
    session = book(staff, care, cancelled_at)
    answer(app_a, scheduled, timezone.now())  # in the first session's window, before the second's opens

    made = run_at(cancelled_at - LEAD)
    assert {str(r.session_id) for r in made} == {session["id"]}  # the first session's measure is answered
    cancel(staff, session)

    for reminder in made:
        assert reminder_attempt(reminder_id=str(reminder.pk)) == ReminderStatus.DROPPED
    drops = AuditEvent.objects.filter(object_type="reminder", action="drop").values_list("detail", flat=True)
    assert list(drops) == [{"reason": "session cancelled"}] * len(made)


def test_a_session_moved_to_another_time_is_reminded_of_again_and_the_old_reminder_is_dropped(staff, care, gateway):
    phones(care)
    schedule(staff, care, care.a)
    booked_at, moved_to = start(50), start(75)
    session = book(staff, care, booked_at)
    made = run_at(booked_at - LEAD)
    assert sorted(r.device.platform for r in made) == ["ios", "web"]

    moved = staff.patch(
        f"{SESSIONS}{session['id']}/",
        {"starts_at": moved_to.isoformat(), "ends_at": (moved_to + timedelta(minutes=50)).isoformat()},
        format="json",
        HTTP_IF_MATCH=f'"{session["version"]}"',
    )
    assert moved.status_code == 200, moved.content

    for reminder in made:  # not yet sent: the old time's reminder is not sent any more
        assert reminder_attempt(reminder_id=str(reminder.pk)) == ReminderStatus.DROPPED
    drops = AuditEvent.objects.filter(object_type="reminder", action="drop").values_list("detail", flat=True)
    assert list(drops) == [{"reason": "session moved"}] * 2
    assert run_at(moved_to - LEAD - timedelta(minutes=1)) == []
    again = run_at(moved_to - LEAD)
    assert sorted((str(r.session_id), r.period, r.device.platform) for r in again) == [
        (session["id"], session_period(moved_to), "ios"),
        (session["id"], session_period(moved_to), "web"),
    ]
    assert run_at(moved_to - LEAD + timedelta(minutes=5)) == []  # once per session, time and device


def test_the_reminder_run_costs_the_same_for_one_session_and_many(staff, care, gateway, count_queries):
    phones(care)
    schedule(staff, care, care.a)
    schedule(staff, care, care.b, instrument="phq9", frequency="weekly")
    book(staff, care, start(10))
    now = timezone.now()

    def run(instant):
        def made():
            with time_machine.travel(instant, tick=False):
                return measure_reminders_create_due()

        return made

    one = count_queries(run(now))
    assert Reminder.objects.filter(session__isnull=False).count() == 2

    schedule(staff, care, care.a, instrument="gad7")
    schedule(staff, care, care.b, instrument="gad7")
    for hours in (12, 14, 20, 30, 40):
        book(staff, care, start(hours))
    many = count_queries(run(now + timedelta(minutes=1)))
    assert Reminder.objects.filter(session__isnull=False).count() == 2 + 2 * 5 + 2 * 6 + 6
    assert many == one
