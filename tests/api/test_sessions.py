"""Sessions (issue 15): booking, double-booking refused (also under concurrency), rescheduling with history, the
lifecycle, closed cases, and a client's upcoming sessions (me/sessions/), through HTTP."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clinical.models import AuditEvent, ProgressNote, SafetyAlert, Session, SessionRating, SessionStatus
from clinical.services.cases import case_transition
from clinical.services.sessions import session_create, session_transition
from tests.factories import CaseFactory, ClientFactory, issue_token
from tests.factories.scenes import CoupleInCare
from tests.helpers import HOMEWORK, READ_WRITE, Caller, assert_problem

SESSIONS = "/api/v1/sessions/"
MY_SESSIONS = "/api/v1/me/sessions/"


def at(hours: float):
    """An instant `hours` from now, on the minute."""
    return (timezone.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)


def body(case, start_hours: float, minutes: int = 50, **extra):
    starts = at(start_hours)
    return {
        "case": str(case.pk),
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=minutes)).isoformat(),
        "modality": "video",
        **extra,
    }


@pytest.fixture
def as_clinician(call_as, clinician):
    return call_as(clinician, READ_WRITE)


def book(caller, case, start_hours, **extra):
    return caller.post(SESSIONS, body(case, start_hours, **extra), format="json")


def transition(caller, session_id, to, reason=""):
    return caller.post(f"{SESSIONS}{session_id}/transition/", {"to": to, "reason": reason}, format="json")


# ---------------------------------------------------------------- booking


def test_a_clinician_books_a_joint_session_with_both_partners(as_clinician, care):
    response = book(as_clinician, care.case, 24, location="https://video.example/room/7")

    assert response.status_code == 201, response.content
    session = response.json()
    assert session["status"] == "scheduled"
    assert session["kind"] == "joint"
    assert session["clinician"] == str(care.clinician.pk)
    assert sorted(session["attendees"]) == sorted([str(care.a.pk), str(care.b.pk)])
    assert session["partner"] is None
    assert session["location"] == "https://video.example/room/7"
    assert AuditEvent.objects.filter(object_type="session", action="create", object_ids=[session["id"]]).exists()


def test_an_individual_session_is_with_one_partner_alone(as_clinician, care):
    response = book(as_clinician, care.case, 24, kind="individual", partner=str(care.b.pk))

    assert response.status_code == 201, response.content
    assert response.json()["attendees"] == [str(care.b.pk)]
    assert response.json()["partner"] == str(care.b.pk)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"kind": "individual"}, "partner", id="individual-without-partner"),
        pytest.param({"partner": "a"}, "partner", id="joint-naming-a-partner"),
        pytest.param({"minutes": 0}, "ends_at", id="ends-when-it-starts"),
        pytest.param({"minutes": -30}, "ends_at", id="ends-before-it-starts"),
        pytest.param({"minutes": 13 * 60}, "ends_at", id="thirteen-hours"),
    ],
)
def test_a_session_that_cannot_be_is_refused_and_nothing_is_written(as_clinician, care, extra, field):
    if extra.get("partner") == "a":
        extra = {"partner": str(care.a.pk)}
    minutes = extra.pop("minutes", 50)

    response = as_clinician.post(SESSIONS, body(care.case, 24, minutes=minutes, **extra), format="json")

    assert_problem(response, 400, "invalid")
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Session.objects.exists()


def test_an_individual_session_is_for_couple_cases_only(as_clinician, clinician):
    client = ClientFactory(primary_clinician=clinician)
    case = CaseFactory(clinician=clinician, client=client)

    response = book(as_clinician, case, 24, kind="individual", partner=str(client.pk))

    assert_problem(response, 400, "invalid")
    assert not Session.objects.exists()


def test_attendees_are_the_cases_clients_only(as_clinician, care, clinician):
    stranger = ClientFactory(primary_clinician=clinician)

    response = book(as_clinician, care.case, 24, attendees=[str(care.a.pk), str(stranger.pk)])

    assert_problem(response, 400, "invalid")
    assert not Session.objects.exists()


def test_a_closed_case_takes_no_new_session(as_clinician, care):
    case_transition(actor=care.clinician, case=care.case, action="close", closing_reason="Goals met.")

    assert_problem(book(as_clinician, care.case, 24), 409, "case_closed")
    assert not Session.objects.exists()


def test_another_clinicians_case_is_not_found(call_as, other_clinician, care):
    caller = call_as(other_clinician, READ_WRITE)

    response = book(caller, care.case, 24)

    assert_problem(response, 400, "invalid")
    assert [e["field"] for e in response.json()["errors"]] == ["case"]
    assert not Session.objects.exists()


def test_a_supervisor_reads_but_does_not_book(call_as, supervisor, as_clinician, care):
    booked = book(as_clinician, care.case, 24).json()
    caller = call_as(supervisor, READ_WRITE)

    assert caller.get(f"{SESSIONS}{booked['id']}/").status_code == 200
    assert_problem(book(caller, care.case, 48), 403, "not_case_clinician")
    assert Session.objects.count() == 1


# ---------------------------------------------------------------- double-booking


def test_an_overlapping_session_is_refused_naming_the_other(as_clinician, care, clinician):
    first = book(as_clinician, care.case, 24).json()
    other_case = CaseFactory(clinician=clinician, client=ClientFactory(primary_clinician=clinician))

    response = book(as_clinician, other_case, 24.5)

    body = assert_problem(response, 409, "session_overlap")
    assert body["conflicting_session"] == first["id"]
    assert Session.objects.count() == 1


def test_back_to_back_sessions_do_not_overlap(as_clinician, care):
    assert book(as_clinician, care.case, 24, minutes=60).status_code == 201
    assert book(as_clinician, care.case, 25, minutes=60).status_code == 201


def test_a_cancelled_session_frees_its_time(as_clinician, care):
    first = book(as_clinician, care.case, 24).json()
    assert transition(as_clinician, first["id"], "cancelled", "The couple asked to move it.").status_code == 200

    assert book(as_clinician, care.case, 24).status_code == 201


def test_two_clinicians_may_see_clients_at_the_same_time(as_clinician, call_as, care, other_clinician):
    other_case = CaseFactory(clinician=other_clinician, client=ClientFactory(primary_clinician=other_clinician))

    assert book(as_clinician, care.case, 24).status_code == 201
    assert book(call_as(other_clinician, READ_WRITE), other_case, 24).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_overlapping_bookings_give_one_201_and_one_409(clinician):
    care = CoupleInCare(clinician)
    other_case = CaseFactory(clinician=clinician, client=ClientFactory(primary_clinician=clinician))
    token = issue_token(clinician, READ_WRITE)
    bodies = [body(care.case, 24), body(other_case, 24.25)]
    start = threading.Barrier(len(bodies))
    answers = []

    def send(payload):
        start.wait()
        try:
            answers.append(Caller(clinician, token).post(SESSIONS, payload, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(payload,)) for payload in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [201, 409], [a.content for a in answers]
    created = next(a for a in answers if a.status_code == 201).json()
    refused = next(a for a in answers if a.status_code == 409)
    assert assert_problem(refused, 409, "session_overlap")["conflicting_session"] == created["id"]
    assert list(Session.objects.values_list("pk", flat=True)) == [uuid.UUID(created["id"])]


# ---------------------------------------------------------------- rescheduling


def test_rescheduling_moves_the_session_and_keeps_its_history(as_clinician, care):
    booked = book(as_clinician, care.case, 24).json()
    new_start = at(48)

    response = as_clinician.patch(
        f"{SESSIONS}{booked['id']}/",
        {"starts_at": new_start.isoformat(), "ends_at": (new_start + timedelta(minutes=50)).isoformat()},
        format="json",
        HTTP_IF_MATCH=f'"{booked["version"]}"',
    )

    assert response.status_code == 200, response.content
    assert response.json()["starts_at"] == new_start.isoformat().replace("+00:00", "Z")
    assert response.json()["version"] == booked["version"] + 1
    history = Session.pgh_event_model.objects.filter(pgh_obj_id=booked["id"]).order_by("pgh_id")
    assert [event.starts_at for event in history] == [at(24), new_start]


def test_rescheduling_onto_another_session_is_refused(as_clinician, care):
    first = book(as_clinician, care.case, 24).json()
    second = book(as_clinician, care.case, 48).json()

    response = as_clinician.patch(
        f"{SESSIONS}{second['id']}/",
        {"starts_at": first["starts_at"], "ends_at": first["ends_at"]},
        format="json",
        HTTP_IF_MATCH=f'"{second["version"]}"',
    )

    assert assert_problem(response, 409, "session_overlap")["conflicting_session"] == first["id"]
    assert Session.objects.get(pk=second["id"]).starts_at == at(48)


def test_rescheduling_needs_the_current_version(as_clinician, care):
    booked = book(as_clinician, care.case, 24).json()

    response = as_clinician.patch(
        f"{SESSIONS}{booked['id']}/", {"modality": "phone"}, format="json", HTTP_IF_MATCH='"7"'
    )

    assert_problem(response, 412)
    assert Session.objects.get(pk=booked["id"]).modality == "video"


# ---------------------------------------------------------------- lifecycle


def test_a_session_that_has_begun_is_attended_and_then_final(as_clinician, care):
    booked = book(as_clinician, care.case, -1).json()

    attended = transition(as_clinician, booked["id"], "attended")

    assert attended.status_code == 200, attended.content
    assert attended.json()["status"] == "attended"
    assert_problem(
        transition(as_clinician, booked["id"], "no_show", "Wrong button."), 409, "session_transition_not_allowed"
    )
    patched = as_clinician.patch(
        f"{SESSIONS}{booked['id']}/",
        {"modality": "phone"},
        format="json",
        HTTP_IF_MATCH=f'"{attended.json()["version"]}"',
    )
    assert_problem(patched, 409, "session_not_scheduled")
    event = AuditEvent.objects.get(object_type="session", action="transition")
    assert event.detail == {"from": "scheduled", "to": "attended"}


def test_a_future_session_is_not_attended_yet(as_clinician, care):
    booked = book(as_clinician, care.case, 24).json()

    assert_problem(transition(as_clinician, booked["id"], "attended"), 409, "session_not_started")
    assert_problem(transition(as_clinician, booked["id"], "no_show", "Did not come."), 409, "session_not_started")
    assert Session.objects.get(pk=booked["id"]).status == SessionStatus.SCHEDULED


@pytest.mark.parametrize("to", ["cancelled", "late_cancelled", "no_show"])
def test_a_missed_or_cancelled_session_says_why(as_clinician, care, to):
    booked = book(as_clinician, care.case, -2).json()

    assert_problem(transition(as_clinician, booked["id"], to), 400, "invalid")
    answered = transition(as_clinician, booked["id"], to, "  Childcare fell through.  ")

    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == to
    assert answered.json()["status_reason"] == "Childcare fell through."


def test_sessions_list_by_start_time_and_filter_by_week(as_clinician, care):
    later = book(as_clinician, care.case, 72).json()
    sooner = book(as_clinician, care.case, 24).json()
    far = book(as_clinician, care.case, 24 * 10).json()

    listed = as_clinician.get(SESSIONS, {"starts_after": at(0).isoformat(), "starts_before": at(24 * 7).isoformat()})

    assert listed.status_code == 200, listed.content
    assert [row["id"] for row in listed.json()["results"]] == [sooner["id"], later["id"]]
    assert far["id"] not in {row["id"] for row in listed.json()["results"]}


def test_listing_sessions_costs_the_same_for_one_and_many(as_clinician, care, count_queries):
    book(as_clinician, care.case, 24)
    one = count_queries(lambda: as_clinician.get(SESSIONS))
    for hours in range(48, 48 + 24 * 20, 24):
        book(as_clinician, care.case, hours)

    assert count_queries(lambda: as_clinician.get(SESSIONS)) == one


# ---------------------------------------------------------------- a client's upcoming sessions


def test_a_client_sees_their_upcoming_sessions_and_nothing_clinical(call_as, as_clinician, care):
    past = book(as_clinician, care.case, -24).json()
    joint = book(as_clinician, care.case, 24, location="https://video.example/room/7").json()
    own = book(as_clinician, care.case, 48, kind="individual", partner=str(care.a.pk)).json()
    partners = book(as_clinician, care.case, 72, kind="individual", partner=str(care.b.pk)).json()

    mine = call_as(care.a_user, HOMEWORK).get(MY_SESSIONS)

    assert mine.status_code == 200, mine.content
    rows = mine.json()["results"]
    assert [row["id"] for row in rows] == [joint["id"], own["id"]]
    assert past["id"] not in {row["id"] for row in rows}
    assert partners["id"] not in {row["id"] for row in rows}  # the partner's individual session, not even counted
    assert set(rows[0]) == {"id", "starts_at", "ends_at", "modality", "kind", "location", "status", "updated_at"}
    assert rows[0]["location"] == "https://video.example/room/7"


def test_a_client_may_not_use_the_staff_sessions(call_as, care):
    caller = call_as(care.a_user, READ_WRITE + HOMEWORK)

    assert_problem(caller.get(SESSIONS), 403, "role_not_allowed")


# ---------------------------------------------------------------- notes hang on sessions

NOTES = "/api/v1/notes/"


def note_on(caller, case, session_id, **extra):
    payload = {
        "case": str(case.pk),
        "session": session_id,
        "format": "narrative",
        "sections": {"body": "Worked on the repair conversation."},
        **extra,
    }
    return caller.post(NOTES, payload, format="json")


def test_a_note_names_its_session_and_takes_its_date(as_clinician, care):
    session = book(as_clinician, care.case, -26).json()

    response = note_on(as_clinician, care.case, session["id"])

    assert response.status_code == 201, response.content
    assert response.json()["session"] == session["id"]
    assert response.json()["session_date"] == str(timezone.localdate(at(-26)))
    assert response.json()["partner"] is None


def test_a_second_note_of_the_same_author_for_a_session_is_refused_naming_the_first(as_clinician, care):
    session = book(as_clinician, care.case, -26).json()
    first = note_on(as_clinician, care.case, session["id"]).json()

    response = note_on(as_clinician, care.case, session["id"])

    assert assert_problem(response, 409, "session_has_note")["existing_note"] == first["id"]
    assert ProgressNote.objects.filter(session=session["id"]).count() == 1


def test_a_note_entered_in_error_makes_way_for_its_replacement(as_clinician, care):
    session = book(as_clinician, care.case, -26).json()
    first = note_on(as_clinician, care.case, session["id"]).json()
    as_clinician.post(f"{NOTES}{first['id']}/sign/", format="json")
    retired = as_clinician.post(f"{NOTES}{first['id']}/entered-in-error/", {"reason": "Wrong couple."}, format="json")
    assert retired.status_code == 200, retired.content

    assert note_on(as_clinician, care.case, session["id"]).status_code == 201


def test_a_note_of_an_individual_session_is_that_partners(as_clinician, care):
    session = book(as_clinician, care.case, -26, kind="individual", partner=str(care.b.pk)).json()

    response = note_on(as_clinician, care.case, session["id"])

    assert response.status_code == 201, response.content
    assert response.json()["partner"] == str(care.b.pk)


def test_a_note_date_other_than_its_sessions_is_refused(as_clinician, care):
    session = book(as_clinician, care.case, -26).json()
    wrong_day = str(timezone.localdate(at(-26)) - timedelta(days=3))

    response = note_on(as_clinician, care.case, session["id"], session_date=wrong_day)

    assert_problem(response, 400, "invalid")
    assert not ProgressNote.objects.exists()


def test_a_note_names_a_session_of_its_own_case_only(as_clinician, care, clinician):
    other_case = CaseFactory(clinician=clinician, client=ClientFactory(primary_clinician=clinician))
    session = book(as_clinician, other_case, -26).json()

    response = note_on(as_clinician, care.case, session["id"])

    assert_problem(response, 400, "invalid")
    assert not ProgressNote.objects.exists()


def test_a_note_needs_a_date_or_a_session(as_clinician, care):
    response = as_clinician.post(
        NOTES, {"case": str(care.case.pk), "format": "narrative", "sections": {"body": "x"}}, format="json"
    )

    assert_problem(response, 400, "invalid")
    assert not ProgressNote.objects.exists()


# ---------------------------------------------------------------- what is missing after a session

MISSING = "/api/v1/notes/missing/"


def attended(caller, case, start_hours):
    session = book(caller, case, start_hours).json()
    answered = transition(caller, session["id"], "attended")
    assert answered.status_code == 200, answered.content
    return session


def test_attended_sessions_without_a_signed_note_after_72_hours_are_missing(call_as, as_clinician, care, supervisor):
    overdue = attended(as_clinician, care.case, -24 * 4)  # ended about 95 hours ago
    recent = attended(as_clinician, care.case, -24)  # within the grace period
    noted = attended(as_clinician, care.case, -24 * 5)
    drafted = attended(as_clinician, care.case, -24 * 6)  # a draft is not a signed note
    missed = book(as_clinician, care.case, -24 * 7).json()
    transition(as_clinician, missed["id"], "no_show", "Did not come.")
    note = note_on(as_clinician, care.case, noted["id"]).json()
    assert as_clinician.post(f"{NOTES}{note['id']}/sign/", format="json").status_code == 200
    note_on(as_clinician, care.case, drafted["id"])

    listed = as_clinician.get(MISSING)

    assert listed.status_code == 200, listed.content
    assert {row["id"] for row in listed.json()["results"]} == {overdue["id"], drafted["id"]}
    assert recent["id"] not in {row["id"] for row in listed.json()["results"]}
    by_supervisor = call_as(supervisor, READ_WRITE).get(MISSING)
    assert {row["id"] for row in by_supervisor.json()["results"]} == {overdue["id"], drafted["id"]}


def test_another_clinicians_missing_notes_are_not_listed(call_as, as_clinician, care, other_clinician):
    attended(as_clinician, care.case, -24 * 4)

    listed = call_as(other_clinician, READ_WRITE).get(MISSING)

    assert listed.status_code == 200
    assert listed.json()["results"] == []


def test_the_grace_period_is_a_setting(as_clinician, care, settings):
    settings.NOTE_GRACE_HOURS = 12
    recent = attended(as_clinician, care.case, -24)

    assert [row["id"] for row in as_clinician.get(MISSING).json()["results"]] == [recent["id"]]


# ---------------------------------------------------------------- each partner's rating, and the alliance

RATINGS = "/api/v1/me/session-ratings/"


def rate(caller, session_id, heard=8, goals=8, approach=8, overall=8, key=None):
    payload = {"session": session_id, "heard": heard, "goals": goals, "approach": approach, "overall": overall}
    return caller.post(RATINGS, payload, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def test_each_partner_rates_an_attended_session_and_never_sees_the_others(call_as, as_clinician, as_a, as_b, care):
    session = attended(as_clinician, care.case, -2)

    mine = rate(as_a, session["id"], heard=9, goals=7, approach=8, overall=9)
    theirs = rate(as_b, session["id"], heard=4, goals=5, approach=6, overall=5)

    assert mine.status_code == 201, mine.content
    assert mine.json()["total"] == 33
    assert theirs.json()["total"] == 20
    assert [row["id"] for row in as_a.get(RATINGS).json()["results"]] == [mine.json()["id"]]
    assert [row["id"] for row in as_b.get(RATINGS).json()["results"]] == [theirs.json()["id"]]
    a_with_every_scope = call_as(care.a_user, READ_WRITE + HOMEWORK)
    assert_problem(a_with_every_scope.get("/api/v1/session-ratings/"), 403, "role_not_allowed")
    assert_problem(a_with_every_scope.get(f"/api/v1/cases/{care.case.pk}/alliance/"), 403, "role_not_allowed")
    staff = as_clinician.get("/api/v1/session-ratings/", {"session": session["id"]})
    assert {row["id"] for row in staff.json()["results"]} == {mine.json()["id"], theirs.json()["id"]}


def test_a_rating_is_sent_once_and_a_retry_replays_it(as_clinician, as_a, care):
    session = attended(as_clinician, care.case, -2)
    first = rate(as_a, session["id"], key="rating-retry-1")

    retried = rate(as_a, session["id"], key="rating-retry-1")
    second = rate(as_a, session["id"], overall=2)

    assert retried.status_code == 201
    assert retried["Idempotent-Replayed"] == "true"
    assert assert_problem(second, 409, "already_rated")["existing_rating"] == first.json()["id"]
    assert SessionRating.objects.count() == 1


def test_only_an_attended_session_is_rated_and_only_by_who_attended(as_clinician, as_a, as_b, care):
    upcoming = book(as_clinician, care.case, 24).json()
    alone = book(as_clinician, care.case, -5, kind="individual", partner=str(care.a.pk)).json()
    transition(as_clinician, alone["id"], "attended")

    assert_problem(rate(as_a, upcoming["id"]), 409, "session_not_attended")
    missing = rate(as_b, alone["id"])  # b was not there: not even a session b can name
    assert_problem(missing, 400, "invalid")
    assert not SessionRating.objects.exists()


def test_a_rating_changes_for_24_hours_then_stays(as_clinician, as_a, care):
    session = attended(as_clinician, care.case, -2)
    rating = rate(as_a, session["id"]).json()

    changed = as_a.patch(f"{RATINGS}{rating['id']}/", {"overall": 3}, format="json", HTTP_IF_MATCH='"1"')
    assert changed.status_code == 200, changed.content
    assert changed.json()["total"] == 27
    SessionRating.objects.update(created_at=timezone.now() - timedelta(hours=25))  # given a day and an hour ago
    late = as_a.patch(f"{RATINGS}{rating['id']}/", {"overall": 9}, format="json", HTTP_IF_MATCH='"2"')

    assert_problem(late, 409, "rating_locked")
    assert SessionRating.objects.get().overall == 3


def test_the_alliance_shows_each_partners_series_and_the_split(as_clinician, as_a, as_b, care):
    first = attended(as_clinician, care.case, -24 * 14)
    second = attended(as_clinician, care.case, -24 * 7)
    rate(as_a, first["id"], 9, 9, 9, 9)
    rate(as_b, first["id"], 8, 8, 8, 8)
    rate(as_a, second["id"], 9, 9, 9, 9)
    rate(as_b, second["id"], 6, 6, 6, 6)

    answer = as_clinician.get(f"/api/v1/cases/{care.case.pk}/alliance/")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [s["client"] for s in body["series"]] == [str(care.a.pk), str(care.b.pk)]
    assert [p["total"] for p in body["series"][1]["points"]] == [32, 24]
    assert body["series"][1]["trend"] == -8.0
    assert [s["split"] for s in body["splits"]] == [4, 12]
    assert AuditEvent.objects.filter(object_type="case_alliance", object_ids=[care.case.pk]).exists()


def test_a_split_in_two_joint_sessions_in_a_row_raises_one_alert_per_episode(as_clinician, as_a, as_b, care):
    sessions = [attended(as_clinician, care.case, -24 * days) for days in (28, 21, 14, 7)]
    for session in sessions:  # a 36 against a 26: a split of 10, at or above the default threshold of 8
        rate(as_a, session["id"], 9, 9, 9, 9)
        rate(as_b, session["id"], 7, 7, 6, 6)

    alerts = SafetyAlert.objects.filter(case=care.case, kind="split_alliance")
    assert [str(alert.session_id) for alert in alerts] == [sessions[1]["id"]]
    assert alerts.get().client_id == care.b.pk
    assert not SafetyAlert.objects.filter(kind="low_alliance").exists()


def test_a_rating_below_the_floor_raises_a_low_alliance_alert(as_clinician, as_a, as_b, care):
    session = attended(as_clinician, care.case, -2)

    rate(as_a, session["id"], 5, 5, 5, 5)  # 20, below the default floor of 24
    rate(as_b, session["id"], 9, 9, 9, 9)

    alert = SafetyAlert.objects.get(kind="low_alliance")
    assert alert.client_id == care.a.pk
    assert str(alert.session_id) == session["id"]
    shown = as_clinician.get(f"/api/v1/alerts/{alert.pk}/").json()
    assert shown["session"] == session["id"]
    assert shown["assessment"] is None


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_ratings_of_one_session_give_one_201_and_one_409(clinician):
    care = CoupleInCare(clinician)
    starts = at(-3)
    session = session_create(
        actor=clinician, case=care.case, starts_at=starts, ends_at=starts + timedelta(minutes=50), modality="video"
    )
    session_transition(actor=clinician, session=session, to="attended")
    token = issue_token(care.a_user, HOMEWORK)
    start = threading.Barrier(2)
    answers = []

    def send(overall):
        start.wait()
        try:
            answers.append(rate(Caller(care.a_user, token), str(session.pk), overall=overall))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(overall,)) for overall in (3, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [201, 409], [a.content for a in answers]
    created = next(a for a in answers if a.status_code == 201).json()
    refused = next(a for a in answers if a.status_code == 409)
    assert assert_problem(refused, 409, "already_rated")["existing_rating"] == created["id"]
    assert SessionRating.objects.count() == 1


def test_the_caseload_report_counts_the_last_four_weeks_sessions_and_missing_notes(call_as, as_clinician, care):
    attended(as_clinician, care.case, -24 * 4)  # no note 72 hours after it ended: missing
    noted = attended(as_clinician, care.case, -24 * 5)
    note = note_on(as_clinician, care.case, noted["id"]).json()
    as_clinician.post(f"{NOTES}{note['id']}/sign/", format="json")
    attended(as_clinician, care.case, -24 * 40)  # older than four weeks: not counted as attended, still missing
    for hours, to in ((-30, "cancelled"), (-50, "late_cancelled"), (-70, "no_show"), (-90, "no_show")):
        session = book(as_clinician, care.case, hours).json()
        assert transition(as_clinician, session["id"], to, "Reason.").status_code == 200

    rows = call_as(care.clinician, ["reports"]).get("/api/v1/reports/caseload/").json()["rows"]

    row = next(r for r in rows if r["clinician"] == str(care.clinician.pk))
    assert {k: v for k, v in row.items() if k.startswith("sessions_")} == {
        "sessions_attended": 2,
        "sessions_cancelled": 1,
        "sessions_late_cancelled": 1,
        "sessions_no_show": 2,
        "sessions_missing_note": 2,
    }


def test_the_outcomes_report_counts_the_periods_sessions_per_clinician_and_in_total(call_as, as_clinician, care):
    attended(as_clinician, care.case, -24 * 3)
    attended(as_clinician, care.case, -24 * 20)  # before `from`: not counted
    for hours, to in ((-30, "cancelled"), (-50, "late_cancelled"), (-70, "no_show")):
        session = book(as_clinician, care.case, hours).json()
        assert transition(as_clinician, session["id"], to, "Reason.").status_code == 200
    book(as_clinician, care.case, 48)  # still to come: in no column
    since = (timezone.localdate() - timedelta(days=10)).isoformat()

    report = call_as(care.clinician, ["reports"]).get("/api/v1/reports/outcomes/", {"from": since}).json()

    expected = {"sessions_attended": 1, "sessions_cancelled": 1, "sessions_late_cancelled": 1, "sessions_no_show": 1}
    (row,) = report["rows"]
    assert {k: v for k, v in row.items() if k.startswith("sessions_")} == expected
    assert {k: v for k, v in report["total"].items() if k.startswith("sessions_")} == expected
    everything = call_as(care.clinician, ["reports"]).get("/api/v1/reports/outcomes/").json()["total"]
    assert everything["sessions_attended"] == 2


def test_a_cases_outcomes_count_its_sessions(as_clinician, care):
    attended(as_clinician, care.case, -24 * 3)
    attended(as_clinician, care.case, -24 * 20)
    session = book(as_clinician, care.case, -30).json()
    transition(as_clinician, session["id"], "no_show", "Did not come.")
    book(as_clinician, care.case, 48)

    outcomes = as_clinician.get(f"/api/v1/cases/{care.case.pk}/outcomes/").json()

    assert outcomes["sessions"] == {"scheduled": 1, "attended": 2, "cancelled": 0, "late_cancelled": 0, "no_show": 1}
