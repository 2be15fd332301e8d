"""The clinician's private calendar feed (issue 15): enabling it, the feed a calendar app reads with the secret in
its address (parsed here with `ical`, a second iCalendar library, not `icalendar` that writes it), what it shows
(times, modality, the clients' initials) and what it never shows (names, notes, places, links), rotation and
revocation, whose sessions appear, the audit trail and the query count, through HTTP."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from ical.calendar_stream import IcsCalendarStream

from clinical.models import AuditEvent, CalendarFeed, Session
from clinical.services.sessions import session_create, session_transition
from tests.factories import CaseFactory, ClientFactory, NoteFactory
from tests.factories.scenes import CoupleInCare
from tests.helpers import assert_problem

FEED = "/api/v1/me/calendar-feed/"
NOTE_TEXT = "Argued about the Zanzibar inheritance again"
LOCATION = "https://video.example/r/quetzal-room-7731"


def at(hours: float):
    return (timezone.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)


def book(care, hours, *, modality="video", **extra):
    return session_create(
        actor=care.clinician,
        case=care.case,
        starts_at=at(hours),
        ends_at=at(hours) + timedelta(minutes=50),
        modality=modality,
        location=LOCATION,
        **extra,
    )


def enable(caller) -> str:
    """Turn the caller's feed on; the feed's path (the URL without scheme and host)."""
    response = caller.post(FEED)
    assert response.status_code == 201, response.content
    url = response.json()["url"]
    assert url.startswith("http://testserver/api/v1/calendar/")
    assert url.endswith(".ics")
    return url.removeprefix("http://testserver")


def read(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return response


def events_of(response):
    """The feed's events as a second library reads them (strict RFC 5545 parsing)."""
    calendar = IcsCalendarStream.calendar_from_ics(response.content.decode())
    return {event.uid: event for event in calendar.events}


@pytest.fixture
def care(clinician):
    care = CoupleInCare(clinician)
    care.a.given_name, care.a.family_name = "Philippa", "Quennell-Abernathy"
    care.a.save()
    care.b.given_name, care.b.preferred_name, care.b.family_name = "Theodora", "Sunny", "Kowalczyk"
    care.b.save()
    return care


# ---------------------------------------------------------------- turning it on, and what it shows


def test_enabled_feed_answers_an_icalendar_a_second_library_reads(api, anonymous, care):
    joint = book(care, 24)
    alone = book(care, 48, modality="phone", kind="individual", partner=care.b)
    in_person = book(care, -72, modality="in_person")

    path = enable(api)
    response = read(anonymous, path)
    events = events_of(response)

    assert set(events) == {f"{s.pk}@sessions.couples-care-api" for s in (joint, alone, in_person)}
    first = events[f"{joint.pk}@sessions.couples-care-api"]
    assert first.summary == "Session · P.Q. & S.K. · video"
    assert first.categories == ["video"]
    assert first.dtstart == joint.starts_at.astimezone(UTC)
    assert first.dtend == joint.ends_at.astimezone(UTC)
    assert first.dtstart.tzinfo is not None
    assert first.dtstart.utcoffset() == timedelta(0)
    assert first.status.value == "CONFIRMED"
    assert events[f"{alone.pk}@sessions.couples-care-api"].summary == "Session · S.K. · phone"
    assert events[f"{in_person.pk}@sessions.couples-care-api"].summary == "Session · P.Q. & S.K. · in person"
    text = response.content.decode()
    assert "X-WR-CALNAME:Sessions · " in text
    assert "DTSTAMP:" in text
    assert response["Cache-Control"] == "private, no-store"


def test_the_feed_shows_no_name_no_note_and_no_place(api, anonymous, care):
    session = book(care, 24)
    NoteFactory(case=care.case, sections={"subjective": NOTE_TEXT, "objective": "o", "assessment": "a", "plan": "p"})
    cancelled = book(care, 30)
    session_transition(actor=care.clinician, session=cancelled, to="cancelled", reason="Theodora's mother is ill")

    body = read(anonymous, enable(api)).content.decode().lower()

    assert str(session.pk) in body
    for client in (care.a, care.b):
        for name in (client.given_name, client.family_name, client.preferred_name):
            if name:
                assert name.lower() not in body, name
        assert client.email.lower() not in body
    assert NOTE_TEXT.lower() not in body
    assert "zanzibar" not in body
    assert "quetzal" not in body
    assert "video.example" not in body
    assert "mother" not in body  # no reason for a cancellation
    assert "LOCATION" not in body.upper()
    assert "DESCRIPTION" not in body.upper()
    assert "ATTENDEE" not in body.upper()


def test_a_cancelled_session_stays_marked_cancelled_and_takes_no_time(api, anonymous, care):
    session = book(care, 24)
    session_transition(actor=care.clinician, session=session, to="late_cancelled", reason="Ill")

    event = events_of(read(anonymous, enable(api)))[f"{session.pk}@sessions.couples-care-api"]

    assert event.status.value == "CANCELLED"
    assert event.summary == "Cancelled · Session · P.Q. & S.K. · video"
    assert event.transparency == "TRANSPARENT"


def test_the_feed_spans_the_last_30_days_and_the_next_180(api, anonymous, care):
    inside = [book(care, -24 * 29), book(care, 24 * 179)]
    outside = [book(care, -24 * 31), book(care, 24 * 181)]

    events = events_of(read(anonymous, enable(api)))

    assert {f"{s.pk}@sessions.couples-care-api" for s in inside} == set(events)
    assert all(f"{s.pk}@sessions.couples-care-api" not in events for s in outside)


def test_get_says_whether_the_feed_is_on_without_its_secret(api):
    assert api.get(FEED).json() == {"enabled": False, "created_at": None}
    path = enable(api)

    answer = api.get(FEED)

    assert answer.status_code == 200
    assert answer.json()["enabled"] is True
    assert answer.json()["created_at"]
    assert "url" not in answer.json()
    token = path.rsplit("/", 1)[-1].removesuffix(".ics")
    assert token not in answer.content.decode()
    assert not CalendarFeed.objects.filter(token_hash=token).exists()  # only its hash is kept


# ---------------------------------------------------------------- rotation and revocation


def test_enabling_again_replaces_the_address_and_the_old_one_is_404(api, anonymous, care):
    book(care, 24)
    old = enable(api)

    new = enable(api)

    assert new != old
    assert_problem(anonymous.get(old), 404, "not_found")
    read(anonymous, new)
    assert CalendarFeed.objects.filter(user=care.clinician, revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(object_type="calendar_feed", action="enable", actor=care.clinician).count() == 1
    assert AuditEvent.objects.filter(object_type="calendar_feed", action="rotate", actor=care.clinician).count() == 1


def test_revoking_turns_the_address_off(api, anonymous, care):
    path = enable(api)

    response = api.delete(FEED)

    assert response.status_code == 204
    assert_problem(anonymous.get(path), 404, "not_found")
    assert api.get(FEED).json() == {"enabled": False, "created_at": None}
    assert api.delete(FEED).status_code == 204  # nothing left to revoke: the same
    assert AuditEvent.objects.filter(object_type="calendar_feed", action="revoke").count() == 1


def test_an_unknown_address_is_404_problem_json(anonymous, db):
    assert_problem(anonymous.get("/api/v1/calendar/no-such-secret.ics"), 404, "not_found")


def test_a_deactivated_clinicians_feed_stops_answering(api, anonymous, care):
    path = enable(api)
    care.clinician.is_active = False
    care.clinician.save()

    assert_problem(anonymous.get(path), 404, "not_found")


# ---------------------------------------------------------------- whose sessions


def test_another_clinicians_sessions_never_appear(api, other_api, anonymous, care, other_clinician):
    mine = book(care, 24)
    theirs_care = CoupleInCare(other_clinician)
    theirs = session_create(
        actor=other_clinician,
        case=theirs_care.case,
        starts_at=at(24),
        ends_at=at(24) + timedelta(minutes=50),
        modality="video",
    )

    my_events = events_of(read(anonymous, enable(api)))
    their_events = events_of(read(anonymous, enable(other_api)))

    assert set(my_events) == {f"{mine.pk}@sessions.couples-care-api"}
    assert set(their_events) == {f"{theirs.pk}@sessions.couples-care-api"}


def test_a_session_on_a_case_moved_to_someone_else_leaves_the_feed(api, anonymous, care, other_clinician):
    session = book(care, 24)
    path = enable(api)
    care.case.clinician = other_clinician
    care.case.save()

    assert f"{session.pk}@" not in read(anonymous, path).content.decode()


def test_a_client_cannot_have_a_feed(client_api, call_as, client_user):
    assert_problem(client_api.post(FEED), 403, "insufficient_scope")  # the app's token: homework only
    every_scope = call_as(client_user)
    assert_problem(every_scope.post(FEED), 403, "role_not_allowed")
    assert_problem(every_scope.get(FEED), 403, "role_not_allowed")
    assert_problem(every_scope.delete(FEED), 403, "role_not_allowed")
    assert not CalendarFeed.objects.exists()


def test_the_admin_cannot_have_a_feed(admin_api):
    assert_problem(admin_api.post(FEED), 403)


def test_a_supervisor_has_a_feed_of_their_own_sessions_only(supervisor_api, anonymous, care):
    book(care, 24)  # their supervisee's

    events = events_of(read(anonymous, enable(supervisor_api)))

    assert events == {}


# ---------------------------------------------------------------- audit and cost


def test_reading_the_feed_is_audited_as_the_clinicians_read_of_the_sessions(api, anonymous, care):
    sessions = [book(care, 24), book(care, 48)]
    path = enable(api)

    read(anonymous, path)

    event = AuditEvent.objects.filter(action="read", object_type="session").latest("id")
    assert event.actor == care.clinician
    assert sorted(event.object_ids) == sorted(s.pk for s in sessions)
    assert event.detail["via"] == "calendar_feed"


def test_a_refused_address_writes_nothing(anonymous, db):
    before = AuditEvent.objects.count()

    anonymous.get("/api/v1/calendar/no-such-secret.ics")

    assert AuditEvent.objects.count() == before


def test_the_feed_costs_the_same_for_1_and_50_sessions(api, anonymous, care, clinician, count_queries):
    path = enable(api)
    book(care, 24)
    one = count_queries(lambda: read(anonymous, path))
    for n in range(49):
        other = CaseFactory(clinician=clinician, client=ClientFactory(primary_clinician=clinician))
        Session.objects.create(
            case=other,
            clinician=clinician,
            starts_at=at(48 + n),
            ends_at=at(48 + n) + timedelta(minutes=50),
            modality="phone",
        ).attendees.set([other.client])

    many = count_queries(lambda: read(anonymous, path))

    assert len(events_of(read(anonymous, path))) == 50
    assert many == one


def test_the_feed_refuses_json(api, anonymous, care):
    path = enable(api)

    assert_problem(anonymous.get(path, HTTP_ACCEPT="application/json"), 406, "not_acceptable")


def test_options_and_head_answer_as_elsewhere(api, anonymous, care):
    path = enable(api)

    options = anonymous.options(path)
    head = anonymous.head(path)

    assert options.status_code == 204
    assert options.content == b""
    assert set(options["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD", "OPTIONS"}
    assert head.status_code == 200
    assert head["Content-Type"] == "text/calendar; charset=utf-8"
    assert anonymous.options("/api/v1/calendar/0.ics").status_code == 204  # says nothing of any feed
