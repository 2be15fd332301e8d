"""Homework reminders on the client's phone, with the clock frozen (time-machine): due at the reminder time of the
client's own local day, across time zones and daylight-saving changes; quiet hours move them to their end; none
when the period is done, the homework cancelled, the case paused or closed, or the client opted out; exactly one per
assignment, period and device; then, end to end, the real worker hands each to a real gateway on this machine that
verifies the Standard Webhooks signature and sees no PHI. Only clients who consented to electronic communication
are reminded (issue 17)."""

import base64
import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks import Webhook

from clinical.models import AuditEvent, Reminder, ReminderStatus
from clinical.services import homework as homework_services
from clinical.services.cases import case_transition
from clinical.services.consents import consent_give, consent_revoke
from clinical.services.measures import assessment_record, schedule_create
from clinical.services.reminders import device_register, device_revoke, preferences_of, preferences_update
from events.reminders import send_due_reminders
from tests.factories.scenes import CoupleInCare, answers_for

SECRET = "whsec_" + base64.b64encode(b"a gateway secret of 32 bytes!!!!").decode()
RESPONSES = {
    "usual_sentence": "You never listen.",
    "i_statement": "I feel alone when my news goes unanswered, and I would like a minute of your attention.",
    "said_it": True,
    "felt_natural": 5,
}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


@pytest.fixture
def gateway(settings):
    settings.PUSH_GATEWAY_URL = "https://push.example.com/v1/send"  # nothing is sent in these tests: no worker runs
    settings.PUSH_GATEWAY_SECRET = SECRET


def run_at(instant: datetime) -> list[Reminder]:
    """The worker's periodic run at `instant`; the reminders it made."""
    before = set(Reminder.objects.values_list("pk", flat=True))
    with time_machine.travel(instant, tick=False):
        send_due_reminders()
    return list(Reminder.objects.exclude(pk__in=before).select_related("device", "client"))


def prefer(user, **changes):
    return preferences_update(actor=user, preferences=preferences_of(user=user), expected_version=None, **changes)


def token_of(user, device="phone") -> str:
    """A push token of its own (registering a token another login holds takes it from that login)."""
    return f"{device}-{user.pk}"


def scene(clinician, catalog, *, day: datetime, zones=("Europe/Berlin", "Europe/Berlin"), **assign):
    """A couple in care, both with a phone and a time zone, given daily homework (each partner) begun the day
    before `day` (the homework is created with the clock at `day`)."""
    with time_machine.travel(day, tick=False):
        care = CoupleInCare(clinician)
        assign = {"frequency": "daily", "target_count": 7, **assign}
        care.homework = care.assign(catalog, days_ago=1, **assign)
        for user, zone in ((care.a_user, zones[0]), (care.b_user, zones[1])):
            device_register(actor=user, platform="ios", token=token_of(user))
            consent_give(actor=user, kind="electronic_communication")
            prefer(user, time_zone=zone)
    return care


def test_a_reminder_is_due_at_18_00_local_in_each_partners_time_zone(clinician, catalog, gateway):
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30), zones=("America/New_York", "Asia/Tokyo"))

    assert run_at(utc(2026, 6, 10, 8, 59)) == []
    [tokyo] = run_at(utc(2026, 6, 10, 9, 0))  # 18:00 in Tokyo (UTC+9)
    assert tokyo.client == care.b
    assert tokyo.due_at == local("Asia/Tokyo", 2026, 6, 10, 18, 0)
    assert run_at(utc(2026, 6, 10, 21, 59)) == []
    [new_york] = run_at(utc(2026, 6, 10, 22, 0))  # 18:00 in New York (EDT, UTC-4)
    assert new_york.client == care.a
    assert new_york.due_at == utc(2026, 6, 10, 22, 0)
    assert new_york.period == tokyo.period == 1  # the homework's second day
    assert new_york.expires_at == local("America/New_York", 2026, 6, 11, 0, 0)


@pytest.mark.parametrize(
    ("zone", "day", "instant"),
    [
        ("America/New_York", (2026, 3, 7), utc(2026, 3, 7, 23, 0)),  # EST, UTC-5
        ("America/New_York", (2026, 3, 8), utc(2026, 3, 8, 22, 0)),  # clocks went forward at 02:00 that morning
        ("America/New_York", (2026, 3, 9), utc(2026, 3, 9, 22, 0)),  # EDT, UTC-4
        ("Europe/Berlin", (2026, 3, 28), utc(2026, 3, 28, 17, 0)),  # CET, UTC+1
        ("Europe/Berlin", (2026, 3, 30), utc(2026, 3, 30, 16, 0)),  # CEST, UTC+2 since 29 March
        ("Europe/Berlin", (2026, 10, 26), utc(2026, 10, 26, 17, 0)),  # back to CET on 25 October
    ],
)
def test_across_a_daylight_saving_change_18_00_local_is_the_right_utc_instant(
    clinician, catalog, gateway, zone, day, instant
):
    with time_machine.travel(utc(*day, 0, 30), tick=False):
        care = CoupleInCare(clinician)
        care.assign(catalog, assignees=[care.a], days_ago=3, frequency="daily", target_count=7)
        device_register(actor=care.a_user, platform="android", token="token-a")
        consent_give(actor=care.a_user, kind="electronic_communication")
        prefer(care.a_user, time_zone=zone)

    assert run_at(instant - timedelta(minutes=1)) == []
    [reminder] = run_at(instant)
    assert reminder.due_at == instant == local(zone, *day, 18, 0)


def test_the_clinicians_reminder_time_and_the_practices_time_zone_by_default(clinician, catalog, gateway):
    with time_machine.travel(utc(2026, 6, 10, 0, 30), tick=False):
        care = CoupleInCare(clinician)
        care.assign(catalog, assignees=[care.a], days_ago=0, frequency="daily", reminder_time=time(7, 30))
        device_register(actor=care.a_user, platform="ios", token="token-a")  # no preferences: the practice's UTC
        consent_give(actor=care.a_user, kind="electronic_communication")

    assert run_at(utc(2026, 6, 10, 7, 29)) == []
    [reminder] = run_at(utc(2026, 6, 10, 7, 30))
    assert reminder.period == 0


def test_quiet_hours_move_a_reminder_to_their_end_the_same_day(clinician, catalog, gateway):
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    prefer(care.a_user, quiet_hours_start=time(17, 0), quiet_hours_end=time(20, 0))

    [b] = run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0))
    assert b.client == care.b  # a is in quiet hours
    assert run_at(local("Europe/Berlin", 2026, 6, 10, 19, 59)) == []
    [a] = run_at(local("Europe/Berlin", 2026, 6, 10, 20, 0))
    assert a.client == care.a
    assert a.due_at == local("Europe/Berlin", 2026, 6, 10, 20, 0)


def test_quiet_hours_over_midnight_wait_for_the_morning_or_leave_the_day_without_a_reminder(
    clinician, catalog, gateway
):
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30), reminder_time=time(6, 0))
    prefer(care.a_user, quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0))
    late = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30), reminder_time=time(23, 0))
    prefer(late.a_user, quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0))

    made = run_at(local("Europe/Berlin", 2026, 6, 10, 6, 30))
    assert [r.client for r in made] == [care.b]
    assert [r.client for r in run_at(local("Europe/Berlin", 2026, 6, 10, 7, 0))] == [care.a]
    assert [r.client for r in run_at(local("Europe/Berlin", 2026, 6, 10, 23, 59))] == [late.b]  # a: quiet till 07:00


def test_none_once_the_period_is_done_each_for_themselves_joint_for_both(clinician, catalog, gateway):
    each = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    joint = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30), mode="joint")
    with time_machine.travel(utc(2026, 6, 10, 12, 0), tick=False):
        for care in (each, joint):
            submit(care, care.a)

    made = run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0))
    assert [(r.assignment_id, r.client) for r in made] == [(each.homework.pk, each.b)]


def submit(care, client):
    homework_services.submission_create(
        actor=client.user,
        assignment=care.homework,
        completed_at=timezone.now(),
        responses=RESPONSES,
    )


def test_none_for_cancelled_homework_paused_or_closed_cases_or_clients_who_opted_out(clinician, catalog, gateway):
    cancelled = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    homework_services.assignment_cancel(actor=clinician, assignment=cancelled.homework)
    paused = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    case_transition(actor=clinician, case=paused.case, action="pause")
    closed = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    case_transition(actor=clinician, case=closed.case, action="close", closing_reason="Therapy ended.")
    opted = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    prefer(opted.a_user, opted_out=["homework"])

    made = run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0))
    assert [r.client for r in made] == [opted.b]


def test_none_without_consent_to_electronic_communication(clinician, catalog, gateway):
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    consent_revoke(actor=care.a_user, consent=care.a.consents.get())

    made = run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0))
    assert [r.client for r in made] == [care.b]


def test_exactly_one_per_assignment_period_and_device_however_often_the_worker_runs(clinician, catalog, gateway):
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    second = device_register(actor=care.a_user, platform="web", token=token_of(care.a_user, "laptop"))
    device_revoke(actor=care.b_user, device=care.b_user.devices.get())  # b's only phone: b gets none

    made = run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0))
    assert sorted(r.device.token for r in made) == [token_of(care.a_user, "laptop"), token_of(care.a_user)]
    assert run_at(local("Europe/Berlin", 2026, 6, 10, 18, 5)) == []
    assert run_at(local("Europe/Berlin", 2026, 6, 10, 23, 55)) == []
    assert device_register(actor=care.a_user, platform="web", token=token_of(care.a_user, "laptop")) == second

    tomorrow = run_at(local("Europe/Berlin", 2026, 6, 11, 18, 0))
    assert sorted((r.period, r.device.platform) for r in tomorrow) == [(2, "ios"), (2, "web")]


def test_a_self_report_due_is_reminded_once_per_period_until_it_is_answered(clinician, catalog, gateway):
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    homework_services.assignment_cancel(actor=clinician, assignment=care.homework)  # measures only here
    with time_machine.travel(utc(2026, 6, 8, 9, 0), tick=False):  # a Monday: weekly from that day
        schedule, _ = (
            schedule_create(actor=clinician, client=partner, case=care.case, instrument="csi4", frequency="weekly")
            for partner in (care.a, care.b)
        )
    prefer(care.b_user, opted_out=["measures"])

    assert run_at(local("Europe/Berlin", 2026, 6, 10, 17, 59)) == []
    [reminder] = run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0))  # b opted out of measure reminders
    assert (reminder.kind, reminder.schedule_id, reminder.period) == ("measures", schedule.pk, 0)
    assert reminder.client == care.a
    assert run_at(local("Europe/Berlin", 2026, 6, 11, 18, 0)) == []  # once in the week
    with time_machine.travel(local("Europe/Berlin", 2026, 6, 16, 9, 0), tick=False):
        assessment_record(
            actor=care.a_user,
            schedule=schedule,
            instrument="csi4",
            answers=answers_for("csi4", 15),
            administered_at=timezone.now(),
        )
    assert run_at(local("Europe/Berlin", 2026, 6, 16, 18, 0)) == []  # week 1 answered already
    [next_week] = run_at(local("Europe/Berlin", 2026, 6, 22, 18, 0))
    assert next_week.period == 2


def test_nothing_without_a_push_gateway(clinician, catalog, settings):
    settings.PUSH_GATEWAY_URL = ""
    scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    assert run_at(local("Europe/Berlin", 2026, 6, 10, 18, 0)) == []


# ---------------------------------------------------------------- end to end: the worker and a real gateway


@pytest.mark.django_db(transaction=True)
def test_the_gateway_gets_a_signed_phi_free_reminder_once_retried_under_the_same_id(
    clinician, catalog, receiver, work, clean_queue, settings
):
    settings.PUSH_GATEWAY_URL, settings.PUSH_GATEWAY_SECRET = receiver.url, SECRET
    care = scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))
    device_revoke(actor=care.b_user, device=care.b_user.devices.get())
    receiver.statuses = [503]  # the gateway fails once

    with time_machine.travel(local("Europe/Berlin", 2026, 6, 10, 18, 0), tick=True):
        assert send_due_reminders() == 1
        work()
        assert send_due_reminders() == 0
        first, second = receiver.received
        payload = Webhook(SECRET).verify(second.body.decode(), second.headers)  # as the gateway does, on receipt

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    reminder = Reminder.objects.get()
    assert payload == {
        "id": str(reminder.pk),
        "token": token_of(care.a_user),
        "platform": "ios",
        "kind": "homework",
        "text": "You have a practice exercise for today",
    }
    body = second.body.decode()
    for secret in (care.a.given_name, care.a.family_name, care.b.given_name, str(care.case.pk), str(care.homework.pk)):
        assert secret not in body
    assert json.loads(body) == payload
    assert (reminder.status, reminder.attempts, reminder.last_status_code) == (ReminderStatus.SENT, 2, 204)
    assert AuditEvent.objects.filter(object_type="reminder", action="deliver").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_reminder_whose_day_has_ended_is_dropped_unsent(clinician, catalog, receiver, work, clean_queue, settings):
    settings.PUSH_GATEWAY_URL, settings.PUSH_GATEWAY_SECRET = receiver.url, SECRET
    scene(clinician, catalog, day=utc(2026, 6, 10, 0, 30))

    with time_machine.travel(local("Europe/Berlin", 2026, 6, 10, 23, 59, 59), tick=True):
        assert send_due_reminders() == 2
    with time_machine.travel(local("Europe/Berlin", 2026, 6, 11, 0, 0, 5), tick=True):
        work()

    assert receiver.received == []
    assert set(Reminder.objects.values_list("status", flat=True)) == {ReminderStatus.DROPPED}
