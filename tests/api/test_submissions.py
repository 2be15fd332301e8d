"""Homework submissions through HTTP: exactly-once submits by assignees, the client's clock, responses checked
against the pinned exercise version, partner privacy, amendments, review, audit and query counts."""

import json
import uuid
from datetime import UTC, datetime, time, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace

import pytest
import yaml
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.utils.encoders import JSONEncoder

from api.etags import etag_for
from api.homework import SubmissionSerializer
from api.models import IdempotencyRecord
from clinical.models import (
    AuditEvent,
    HomeworkAssignment,
    HomeworkSubmission,
    Role,
    SubmissionStatus,
)
from clinical.services import cases as case_services
from clinical.services import homework as services
from exercises.services import current_content, exercise_publish
from tests.factories import CaseFactory, ClientFactory, UserFactory, issue_token
from tests.factories.scenes import EXERCISE, CoupleInCare, link_login
from tests.helpers import HOMEWORK, READ_WRITE, Caller, ids, problem, sent_at_once
from tools import schema

SUBMISSIONS = "/api/v1/submissions/"


def answers(**overrides):
    """Valid answers to the i-statement exercise."""
    values = {
        "usual_sentence": "You never listen to me.",
        "i_statement": "I feel alone when the phone comes out at dinner, and I would like us to talk.",
        "said_it": True,
        "partner_response": "They asked questions to understand",
        "felt_natural": 6,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not ...}


def url(submission, action=""):
    pk = submission["id"] if isinstance(submission, dict) else getattr(submission, "pk", submission)
    return f"{SUBMISSIONS}{pk}/" + (f"{action}/" if action else "")


def errors_by_field(response):
    body = problem(response)
    assert body["code"] == "invalid", body
    return {e["field"]: e["message"] for e in body["errors"]}


def an_hour_ago():
    return timezone.now() - timedelta(hours=1)


def submit(api, assignment, *, key=None, responses=None, completed_at=None, shared=False, **body):
    """POST a submission; `key=False` sends no Idempotency-Key."""
    completed_at = completed_at or an_hour_ago()
    data = {
        "assignment": str(getattr(assignment, "pk", assignment)),
        "completed_at": completed_at if isinstance(completed_at, str) else completed_at.isoformat(),
        "responses": answers() if responses is None else responses,
        "shared_with_partner": shared,
        **body,
    }
    headers = {} if key is False else {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return api.post(SUBMISSIONS, data, format="json", **headers)


def amend(api, submission, *, key=None, responses=None, **body):
    data = {"responses": answers(felt_natural=9) if responses is None else responses, **body}
    headers = {} if key is False else {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return api.post(url(submission, "amend"), data, format="json", **headers)


def review(api, submission, feedback="Lovely work: the 'when' part is concrete and kind."):
    return api.post(url(submission, "review"), {"feedback": feedback}, format="json")


def recorded(user, assignment, *, shared=False, responses=None, completed_at=None):
    """A submission stored through the service (no HTTP), to set the scene."""
    return services.submission_create(
        actor=user,
        assignment=assignment,
        completed_at=completed_at or an_hour_ago(),
        responses=responses or answers(),
        shared_with_partner=shared,
    )


def state():
    """Everything a refused submit/amend/review must leave as it was."""
    return (
        sorted(
            HomeworkSubmission.objects.values_list(
                "id", "status", "version", "revision", "reviewed_at", "shared_with_partner"
            )
        ),
        sorted(HomeworkAssignment.objects.values_list("id", "status", "version")),
        IdempotencyRecord.objects.count(),
        AuditEvent.objects.count(),
    )


def completed_count(api, assignment):
    response = api.get(f"/api/v1/assignments/{assignment.pk}/")
    assert response.status_code == 200, response.content
    return response.json()["completed_count"]


# ---------------------------------------------------------------- submitting


def test_an_assignee_submits_and_the_server_stamps_received_at(as_a, care, assignment):
    sent = (timezone.now() - timedelta(days=2)).astimezone(dt_timezone(timedelta(hours=-5))).replace(microsecond=0)
    assignment_version = assignment.version
    before = timezone.now()

    response = submit(as_a, assignment, completed_at=sent, received_at="2001-01-01T00:00:00Z")

    after = timezone.now()
    assert response.status_code == 201, response.content
    body = response.json()
    assert parse_datetime(body["completed_at"]) == sent  # the client's clock, kept as sent
    received = parse_datetime(body["received_at"])
    assert before <= received <= after  # ours, whatever the body said
    assert body["responses"] == answers()
    assert isinstance(body["responses"], dict)
    assert {k: body[k] for k in ("assignment", "client", "shared_with_partner", "status", "revision")} == {
        "assignment": str(assignment.pk),
        "client": str(care.a.pk),
        "shared_with_partner": False,
        "status": "current",
        "revision": 1,
    }
    assert (body["amends"], body["feedback"], body["reviewed_by"], body["reviewed_at"]) == (None, None, None, None)
    assert response["ETag"] == f'"{body["version"]}"'

    stored = HomeworkSubmission.objects.get()
    assert str(stored.pk) == body["id"]
    assert (stored.client_id, stored.assignment_id, stored.completed_at, stored.received_at) == (
        care.a.pk,
        assignment.pk,
        sent,
        received,
    )
    assert stored.responses == answers()
    # Started ten days ago, done two days ago (day 8): the second week of the assignment.
    assert stored.period == 1
    # Progress changed: the assignment has a new version, so the app's delta sync sees it.
    assignment.refresh_from_db()
    assert assignment.version == assignment_version + 1


def test_optional_answers_may_be_left_out(as_a, assignment):
    response = submit(as_a, assignment, responses=answers(partner_response=...), shared=True)

    assert response.status_code == 201, response.content
    assert "partner_response" not in response.json()["responses"]
    assert response.json()["shared_with_partner"] is True
    assert HomeworkSubmission.objects.get().shared_with_partner is True


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("partner_not_assigned", 404, "not_found"),
        ("another_couples_client", 404, "not_found"),
        ("client_without_login_link", 404, "not_found"),
        ("clinician", 403, "role_not_allowed"),
        ("supervisor", 403, "role_not_allowed"),
        ("other_clinician", 403, "role_not_allowed"),
    ],
)
def test_only_an_assignee_submits(who, status, code, call_as, care, catalog, clinician, supervisor, other_clinician):
    only_a = care.assign(catalog, [care.a])
    callers = {
        "partner_not_assigned": lambda: call_as(care.b_user, HOMEWORK),
        "another_couples_client": lambda: call_as(CoupleInCare(other_clinician).a_user, HOMEWORK),
        "client_without_login_link": lambda: call_as(UserFactory(role=Role.CLIENT), HOMEWORK),
        "clinician": lambda: call_as(clinician, [*READ_WRITE, "homework"]),
        "supervisor": lambda: call_as(supervisor, [*READ_WRITE, "homework"]),
        "other_clinician": lambda: call_as(other_clinician, [*READ_WRITE, "homework"]),
    }
    api = callers[who]()
    before = state()

    response = submit(api, only_a)

    assert response.status_code == status, response.content
    assert problem(response)["code"] == code
    assert state() == before


def test_an_unknown_assignment_id_is_404(as_a, assignment):
    before = state()

    response = submit(as_a, uuid.uuid4())

    assert response.status_code == 404
    assert problem(response)["code"] == "not_found"
    assert state() == before
    # Found by the contract fuzzer: the schema did not list this 404.
    assert "404" in yaml.safe_load(schema.SCHEMA_FILE.read_text())["paths"][SUBMISSIONS]["post"]["responses"]


def test_a_token_without_the_homework_scope_cannot_submit(call_as, care, assignment):
    before = state()

    response = submit(call_as(care.a_user, ["clinical:read"]), assignment)

    assert response.status_code == 403
    assert problem(response)["code"] == "insufficient_scope"
    assert state() == before


# ---------------------------------------------------------------- Idempotency-Key


def test_a_submission_needs_an_idempotency_key(as_a, assignment):
    before = state()

    response = submit(as_a, assignment, key=False)

    assert response.status_code == 428
    assert problem(response)["code"] == "precondition_required"
    assert state() == before


def test_a_retry_with_the_same_key_replays_the_first_response(as_a, assignment):
    key = str(uuid.uuid4())
    completed_at = an_hour_ago()

    first = submit(as_a, assignment, key=key, completed_at=completed_at)
    after_first = state()
    retry = submit(as_a, assignment, key=key, completed_at=completed_at)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert retry["ETag"] == first["ETag"]
    assert HomeworkSubmission.objects.count() == 1
    assert state() == after_first  # nothing stored twice, not even an audit event


def test_the_same_key_with_another_body_is_422_and_stores_nothing(as_a, assignment):
    key = str(uuid.uuid4())
    completed_at = an_hour_ago()
    first = submit(as_a, assignment, key=key, completed_at=completed_at)
    before = state()

    other = submit(as_a, assignment, key=key, completed_at=completed_at, responses=answers(felt_natural=2))

    assert first.status_code == 201
    assert other.status_code == 422
    assert problem(other)["code"] == "idempotency_key_reused"
    assert state() == before
    assert HomeworkSubmission.objects.get().responses == answers()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_exactly_one(catalog, clinician):
    care = CoupleInCare(clinician)
    assignment = care.assign(catalog)
    token = issue_token(care.a_user, HOMEWORK)
    key = str(uuid.uuid4())
    completed_at = an_hour_ago()

    results = sent_at_once(lambda: submit(Caller(care.a_user, token), assignment, key=key, completed_at=completed_at))

    assert HomeworkSubmission.objects.count() == 1
    assert [r for r in results if r == (201, None)] == [(201, None)], results
    assert all(r in {(201, None), (201, "true"), (409, None)} for r in results), results
    assert IdempotencyRecord.objects.count() == 1
    assert AuditEvent.objects.filter(object_type="submission", action="create").count() == 1


# ---------------------------------------------------------------- the client's clock


def start_of(assignment):
    return datetime.combine(assignment.start_date, time(0, 0), tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "status"),
    [
        pytest.param(lambda a: timezone.now() + timedelta(minutes=6), 400, id="6-minutes-ahead"),
        pytest.param(lambda a: timezone.now() + timedelta(minutes=4), 201, id="4-minutes-ahead-clock-skew"),
        pytest.param(lambda a: start_of(a) - timedelta(seconds=1), 400, id="the-evening-before-the-start"),
        pytest.param(lambda a: start_of(a) - timedelta(days=3), 400, id="days-before-the-start"),
        pytest.param(lambda a: start_of(a), 201, id="the-first-minute-of-the-start-day"),
        pytest.param(lambda a: timezone.now() - timedelta(days=6), 201, id="six-days-old-after-the-start"),
    ],
)
def test_completed_at_within_the_assignment_and_not_in_the_future(as_a, assignment, when, status):
    completed_at = when(assignment)
    before = state()

    response = submit(as_a, assignment, completed_at=completed_at)

    assert response.status_code == status, response.content
    if status == 400:
        assert list(errors_by_field(response)) == ["completed_at"]
        assert state() == before
    else:
        assert HomeworkSubmission.objects.get().completed_at == completed_at


# ---------------------------------------------------------------- responses


def test_every_problem_with_the_responses_is_named_by_field(as_a, assignment):
    before = state()
    responses = {
        # usual_sentence: required, missing
        "i_statement": 42,  # text expected
        "said_it": "yes",  # boolean expected
        "partner_response": "They sulked",  # not one of the options
        "felt_natural": 11,  # scale 1..10
        "mood": 3,  # no such field
    }

    response = submit(as_a, assignment, responses=responses)

    assert response.status_code == 400
    assert set(errors_by_field(response)) == {
        "responses.usual_sentence",
        "responses.i_statement",
        "responses.said_it",
        "responses.partner_response",
        "responses.felt_natural",
        "responses.mood",
    }
    assert state() == before


@pytest.mark.parametrize(
    ("responses", "field"),
    [
        pytest.param(answers(usual_sentence=...), "responses.usual_sentence", id="missing-required"),
        pytest.param(answers(usual_sentence=""), "responses.usual_sentence", id="empty-required"),
        pytest.param(answers(said_it="true"), "responses.said_it", id="boolean-as-text"),
        pytest.param(answers(felt_natural=0), "responses.felt_natural", id="scale-below-min"),
        pytest.param(answers(felt_natural=6.5), "responses.felt_natural", id="scale-not-whole"),
        pytest.param(answers(felt_natural="6"), "responses.felt_natural", id="scale-as-text"),
        pytest.param(answers(partner_response="maybe"), "responses.partner_response", id="unknown-option"),
        pytest.param(answers(extra_thoughts="x"), "responses.extra_thoughts", id="unknown-key"),
        pytest.param(answers(i_statement="x" * 501), "responses.i_statement", id="text-too-long"),
    ],
)
def test_one_problem_with_the_responses(as_a, assignment, responses, field):
    before = state()

    response = submit(as_a, assignment, responses=responses)

    assert response.status_code == 400
    assert list(errors_by_field(response)) == [field]
    assert state() == before


def test_responses_must_be_an_object(as_a, assignment):
    before = state()

    response = submit(as_a, assignment, responses=["not", "an", "object"])

    assert response.status_code == 400
    assert list(errors_by_field(response)) == ["responses"]
    assert state() == before


def test_responses_are_checked_against_the_version_the_client_was_given(as_a, assignment, catalog):
    exercise = catalog[EXERCISE]
    content = current_content(exercise)
    content["response_fields"] = [
        *(f for f in content["response_fields"] if f["key"] != "usual_sentence"),
        {"key": "new_question", "label": "Something new?", "type": "text"},
    ]
    _, changed = exercise_publish(slug=exercise.slug, content=content)
    assert changed

    pinned = submit(as_a, assignment)  # the pinned version's fields, not the new ones
    newer = submit(as_a, assignment, responses=answers(usual_sentence=..., new_question="yes"))

    assert pinned.status_code == 201, pinned.content
    assert newer.status_code == 400
    assert set(errors_by_field(newer)) == {"responses.usual_sentence", "responses.new_question"}
    assert HomeworkSubmission.objects.count() == 1


# ---------------------------------------------------------------- cancelled homework, closed case


def test_cancelled_homework_takes_no_submissions(as_a, assignment, clinician):
    services.assignment_cancel(actor=clinician, assignment=assignment)
    before = state()

    response = submit(as_a, assignment)

    assert response.status_code == 409
    assert problem(response)["code"] == "assignment_cancelled"
    assert state() == before


def test_a_closed_case_takes_no_submissions(as_a, assignment, care, clinician):
    case_services.case_transition(actor=clinician, case=care.case, action="close", closing_reason="Goals met.")
    before = state()

    response = submit(as_a, assignment)

    # Closing the case withdrew its homework, so the app hears that this homework is cancelled.
    assert response.status_code == 409
    assert problem(response)["code"] == "assignment_cancelled"
    assert state() == before


def test_homework_on_a_closed_case_takes_no_submissions_even_if_still_active(as_a, assignment, care):
    from clinical.models import Case

    Case.objects.filter(pk=care.case.pk).update(status="closed", closed_on=timezone.localdate(), closing_reason="x")
    before = state()

    response = submit(as_a, assignment)

    assert response.status_code == 409
    assert problem(response)["code"] == "case_closed"
    assert state() == before


# ---------------------------------------------------------------- partner privacy


@pytest.mark.parametrize("direction", ["a_to_b", "b_to_a"])
def test_partner_privacy_both_ways(direction, call_as, care, assignment, clinician, supervisor, other_clinician):
    me, partner = (care.a_user, care.b_user) if direction == "a_to_b" else (care.b_user, care.a_user)
    mine_private = recorded(me, assignment, responses=answers(i_statement="kept to myself"))
    mine_shared = recorded(me, assignment, shared=True)
    theirs_private = recorded(partner, assignment)
    theirs_shared = recorded(partner, assignment, shared=True)
    for submission in (mine_private, mine_shared, theirs_private, theirs_shared):
        services.submission_review(actor=clinician, submission=submission, feedback=f"feedback on {submission.pk}")
    everything = {str(s.pk) for s in (mine_private, mine_shared, theirs_private, theirs_shared)}
    as_me, as_partner = call_as(me, HOMEWORK), call_as(partner, HOMEWORK)

    # The partner sees their own and my shared one, never my private one.
    assert ids(as_partner.get(SUBMISSIONS)) == {str(theirs_private.pk), str(theirs_shared.pk), str(mine_shared.pk)}
    assert as_partner.get(url(mine_private)).status_code == 404
    assert ids(as_partner.get(SUBMISSIONS, {"client": str(mine_private.client_id)})) == {str(mine_shared.pk)}
    shared = as_partner.get(url(mine_shared))
    assert shared.status_code == 200
    assert shared.json()["responses"] == answers()
    assert shared.json()["feedback"] is None  # the review of my submission is not the partner's business
    assert shared.json()["reviewed_by"] == str(clinician.pk)
    rows = {row["id"]: row for row in as_partner.get(SUBMISSIONS).json()["results"]}
    assert rows[str(mine_shared.pk)]["feedback"] is None
    assert rows[str(theirs_shared.pk)]["feedback"] == f"feedback on {theirs_shared.pk}"
    assert rows[str(theirs_private.pk)]["feedback"] == f"feedback on {theirs_private.pk}"

    # I see mine (with their feedback) and the partner's shared one.
    assert ids(as_me.get(SUBMISSIONS)) == {str(mine_private.pk), str(mine_shared.pk), str(theirs_shared.pk)}
    assert as_me.get(url(theirs_private)).status_code == 404
    own = as_me.get(url(mine_private)).json()
    assert own["feedback"] == f"feedback on {mine_private.pk}"
    assert own["responses"] == answers(i_statement="kept to myself")

    # The clinician and the supervisor see all four, with the feedback.
    for staff in (call_as(clinician, ["clinical:read"]), call_as(supervisor, ["clinical:read"])):
        response = staff.get(SUBMISSIONS)
        assert ids(response) == everything
        assert {row["feedback"] for row in response.json()["results"]} == {f"feedback on {pk}" for pk in everything}
        assert staff.get(url(mine_private)).json()["responses"] == answers(i_statement="kept to myself")

    # Another couple's clients and another clinician see nothing.
    strangers = CoupleInCare(other_clinician)
    for outsider in (
        call_as(strangers.a_user, HOMEWORK),
        call_as(strangers.b_user, HOMEWORK),
        call_as(other_clinician, ["clinical:read"]),
    ):
        assert ids(outsider.get(SUBMISSIONS)) == set()
        for pk in everything:
            response = outsider.get(url(pk))
            assert response.status_code == 404
            assert problem(response)["code"] == "not_found"


def test_a_client_on_an_individual_case_sees_only_their_own(call_as, catalog, clinician):
    one = ClientFactory(primary_clinician=clinician)
    user = link_login(one)
    case = CaseFactory(clinician=clinician, client=one)
    solo = services.assignment_create(
        actor=clinician,
        case=case,
        exercise=catalog[EXERCISE],
        assignees=[one],
        start_date=timezone.localdate() - timedelta(days=3),
    )
    mine = recorded(user, solo, shared=True)
    care = CoupleInCare(clinician)
    couple_one = recorded(care.a_user, care.assign(catalog), shared=True)

    assert ids(call_as(user, HOMEWORK).get(SUBMISSIONS)) == {str(mine.pk)}
    assert call_as(user, HOMEWORK).get(url(couple_one)).status_code == 404
    assert ids(call_as(care.b_user, HOMEWORK).get(SUBMISSIONS)) == {str(couple_one.pk)}


# ---------------------------------------------------------------- amendments


def test_the_submitter_amends_and_the_old_revision_is_kept(as_a, api, care, assignment):
    first = submit(as_a, assignment, shared=True)
    assert first.status_code == 201
    old = HomeworkSubmission.objects.get()
    old_fields = HomeworkSubmission.objects.filter(pk=old.pk).values(
        "responses", "completed_at", "received_at", "period", "client", "assignment", "shared_with_partner"
    )[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT responses FROM clinical_homeworksubmission WHERE id = %s", [old.pk])
        (old_cipher,) = cursor.fetchone()
    assert completed_count(api, assignment) == 1

    response = amend(as_a, first.json(), responses=answers(felt_natural=9, said_it=False))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["revision"], body["amends"], body["status"]) == (2, str(old.pk), "current")
    assert body["responses"] == answers(felt_natural=9, said_it=False)
    assert parse_datetime(body["completed_at"]) == old.completed_at  # kept when not sent again
    assert body["shared_with_partner"] is True  # kept when not sent again
    assert body["client"] == str(care.a.pk)
    old_now = as_a.get(url(old)).json()
    assert (old_now["status"], old_now["revision"], old_now["responses"]) == ("amended", 1, answers())
    assert (
        HomeworkSubmission.objects.filter(pk=old.pk).values(*old_fields)[0] == old_fields
    )  # the old row's content is as it was
    with connection.cursor() as cursor:
        cursor.execute("SELECT responses FROM clinical_homeworksubmission WHERE id = %s", [old.pk])
        assert cursor.fetchone() == (old_cipher,)
    assert HomeworkSubmission.objects.count() == 2
    # The chain counts once.
    assert completed_count(api, assignment) == 1
    assert ids(as_a.get(SUBMISSIONS, {"status": "current"})) == {body["id"]}


def test_amending_can_change_when_and_sharing(as_a, as_b, care, assignment):
    old = recorded(care.a_user, assignment)
    new_time = timezone.now() - timedelta(days=1)

    response = amend(as_a, old, completed_at=new_time.isoformat(), shared_with_partner=True)

    assert response.status_code == 201, response.content
    assert parse_datetime(response.json()["completed_at"]) == new_time
    assert response.json()["shared_with_partner"] is True
    assert ids(as_b.get(SUBMISSIONS)) == {response.json()["id"]}  # the old, unshared revision stays private


def test_amending_an_amended_revision_is_409(as_a, care, assignment):
    old = recorded(care.a_user, assignment)
    assert amend(as_a, old).status_code == 201
    before = state()

    response = amend(as_a, old, responses=answers(felt_natural=1))

    assert response.status_code == 409
    assert problem(response)["code"] == "submission_amended"
    assert state() == before


def test_a_chain_of_amendments(as_a, api, care, assignment):
    first = recorded(care.a_user, assignment)
    second = amend(as_a, first).json()
    third = amend(as_a, second, responses=answers(felt_natural=10))

    assert third.status_code == 201
    assert (third.json()["revision"], third.json()["amends"]) == (3, second["id"])
    assert dict(HomeworkSubmission.objects.values_list("revision", "status")) == {
        1: "amended",
        2: "amended",
        3: "current",
    }
    assert completed_count(api, assignment) == 1


def test_amend_needs_an_idempotency_key_and_replays(as_a, care, assignment):
    old = recorded(care.a_user, assignment)
    before = state()

    missing = amend(as_a, old, key=False)
    assert missing.status_code == 428
    assert problem(missing)["code"] == "precondition_required"
    assert state() == before

    key = str(uuid.uuid4())
    first = amend(as_a, old, key=key)
    retry = amend(as_a, old, key=key)
    assert first.status_code == retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert HomeworkSubmission.objects.count() == 2

    other_body = amend(as_a, old, key=key, responses=answers(felt_natural=3))
    assert other_body.status_code == 422
    assert HomeworkSubmission.objects.count() == 2


def test_an_amendment_is_validated_like_a_submission(as_a, care, assignment):
    old = recorded(care.a_user, assignment)
    before = state()

    bad = amend(as_a, old, responses=answers(felt_natural=42, said_it=...))
    future = amend(as_a, old, completed_at=(timezone.now() + timedelta(minutes=6)).isoformat())

    assert bad.status_code == future.status_code == 400
    assert set(errors_by_field(bad)) == {"responses.felt_natural", "responses.said_it"}
    assert list(errors_by_field(future)) == ["completed_at"]
    assert state() == before
    assert HomeworkSubmission.objects.get().status == SubmissionStatus.CURRENT


def test_amending_cancelled_homework_is_409(as_a, care, assignment, clinician):
    old = recorded(care.a_user, assignment)
    services.assignment_cancel(actor=clinician, assignment=assignment)
    before = state()

    response = amend(as_a, old)

    assert response.status_code == 409
    assert problem(response)["code"] == "assignment_cancelled"
    assert state() == before


@pytest.mark.parametrize(
    ("who", "shared", "status", "code"),
    [
        ("partner", False, 404, "not_found"),  # cannot even see it
        ("partner", True, 403, "not_submitter"),  # sees it (shared) but it is not theirs
        ("another_couples_client", True, 404, "not_found"),
        ("clinician", True, 403, "role_not_allowed"),
        ("supervisor", True, 403, "role_not_allowed"),
        ("other_clinician", True, 403, "role_not_allowed"),
    ],
)
def test_only_the_submitter_amends(who, shared, status, code, call_as, care, assignment, clinician, supervisor):
    old = recorded(care.a_user, assignment, shared=shared)
    callers = {
        "partner": lambda: call_as(care.b_user, HOMEWORK),
        "another_couples_client": lambda: call_as(CoupleInCare(UserFactory()).a_user, HOMEWORK),
        "clinician": lambda: call_as(clinician, [*READ_WRITE, "homework"]),
        "supervisor": lambda: call_as(supervisor, [*READ_WRITE, "homework"]),
        "other_clinician": lambda: call_as(UserFactory(role=Role.CLINICIAN), [*READ_WRITE, "homework"]),
    }
    api = callers[who]()
    before = state()

    response = amend(api, old)

    assert response.status_code == status, response.content
    assert problem(response)["code"] == code
    assert state() == before


# ---------------------------------------------------------------- review


def test_feedback_of_another_json_type_is_400_and_reviews_nothing(api, care, assignment):
    # Found by the contract fuzzer: {"feedback": 0} was stored as the feedback "0".
    submission = recorded(care.a_user, assignment)
    before = state()

    response = review(api, submission, feedback=0)

    assert response.status_code == 400, response.content
    assert [e["field"] for e in problem(response)["errors"]] == ["feedback"]
    assert state() == before


def test_the_case_clinician_reviews_once_and_the_submitter_sees_the_feedback(as_a, api, care, assignment):
    submission = recorded(care.a_user, assignment)
    before = timezone.now()

    response = review(api, submission, feedback="  You named the feeling clearly.  ")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["feedback"] == "You named the feeling clearly."
    assert body["reviewed_by"] == str(api.user.pk)
    assert before <= parse_datetime(body["reviewed_at"]) <= timezone.now()
    assert as_a.get(url(submission)).json()["feedback"] == "You named the feeling clearly."
    stored = HomeworkSubmission.objects.get()
    assert (stored.feedback, stored.reviewed_by_id, stored.responses) == (
        "You named the feeling clearly.",
        api.user.pk,
        answers(),
    )
    after_first = state()

    again = review(api, submission, feedback="Changed my mind.")

    assert again.status_code == 409
    assert problem(again)["code"] == "already_reviewed"
    assert state() == after_first
    assert HomeworkSubmission.objects.get().feedback == "You named the feeling clearly."


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("supervisor", 403, "not_case_clinician"),
        ("other_clinician", 404, "not_found"),
        ("submitter", 403, "insufficient_scope"),
        ("submitter_with_write_scope", 403, "role_not_allowed"),
    ],
)
def test_who_may_not_review(who, status, code, call_as, care, assignment, supervisor, other_clinician):
    submission = recorded(care.a_user, assignment, shared=True)
    callers = {
        "supervisor": lambda: call_as(supervisor, READ_WRITE),
        "other_clinician": lambda: call_as(other_clinician, READ_WRITE),
        "submitter": lambda: call_as(care.a_user, HOMEWORK),
        "submitter_with_write_scope": lambda: call_as(care.a_user, [*READ_WRITE, "homework"]),
    }
    api = callers[who]()
    before = state()

    response = review(api, submission)

    assert response.status_code == status, response.content
    assert problem(response)["code"] == code
    assert state() == before


def test_an_amended_revision_cannot_be_reviewed(as_a, api, care, assignment):
    old = recorded(care.a_user, assignment)
    latest = amend(as_a, old).json()
    before = state()

    response = review(api, old)

    assert response.status_code == 409
    assert problem(response)["code"] == "submission_amended"
    assert state() == before
    assert review(api, latest).status_code == 200


def test_empty_feedback_is_400(api, care, assignment):
    submission = recorded(care.a_user, assignment)
    before = state()

    response = review(api, submission, feedback="   ")

    assert response.status_code == 400
    assert list(errors_by_field(response)) == ["feedback"]
    assert state() == before


# ---------------------------------------------------------------- audit


def submission_events():
    return list(
        AuditEvent.objects.filter(object_type="submission")
        .order_by("id")
        .values_list("actor_id", "action", "object_ids")
    )


def test_every_read_and_write_is_audited(as_a, as_b, api, care, assignment):
    created = submit(as_a, assignment, shared=True).json()
    created_id = uuid.UUID(created["id"])
    assert submission_events() == [(care.a_user.pk, "create", [created_id])]

    as_a.get(url(created))
    as_b.get(SUBMISSIONS)
    revision = amend(as_a, created).json()
    revision_id = uuid.UUID(revision["id"])
    api.get(SUBMISSIONS)
    review(api, revision)
    as_b.get(url(revision))

    events = submission_events()
    assert events[1:] == [
        (care.a_user.pk, "read", [created_id]),
        (care.b_user.pk, "read", [created_id]),
        (care.a_user.pk, "amend", [revision_id, created_id]),
        (api.user.pk, "read", [created_id, revision_id]),
        (api.user.pk, "review", [revision_id]),
        (care.b_user.pk, "read", [revision_id]),
    ]


def test_list_reads_record_the_ids_returned(api, care, assignment):
    made = [recorded(care.a_user, assignment) for _ in range(3)]
    before = AuditEvent.objects.count()

    response = api.get(SUBMISSIONS, {"page_size": 2})

    returned = [uuid.UUID(row["id"]) for row in response.json()["results"]]
    assert len(returned) == 2
    assert set(returned) <= {m.pk for m in made}
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert (event.action, event.object_type, event.object_ids, event.actor_id) == (
        "read",
        "submission",
        returned,
        api.user.pk,
    )


def test_a_refused_submission_leaves_no_audit_event(as_a, assignment):
    before = AuditEvent.objects.count()

    submit(as_a, assignment, responses={"felt_natural": 99})

    assert AuditEvent.objects.count() == before


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize("reader", ["clinician", "supervisor", "submitter", "partner"])
def test_the_list_query_count_is_the_same_for_1_and_20(reader, call_as, care, assignment, supervisor, count_queries):
    api = {
        "clinician": lambda: call_as(care.clinician, ["clinical:read"]),
        "supervisor": lambda: call_as(supervisor, ["clinical:read"]),
        "submitter": lambda: call_as(care.a_user, HOMEWORK),
        "partner": lambda: call_as(care.b_user, HOMEWORK),
    }[reader]()
    recorded(care.a_user, assignment, shared=True)
    one = count_queries(lambda: api.get(SUBMISSIONS))
    for _ in range(19):
        recorded(care.a_user, assignment, shared=True)
    services.submission_review(
        actor=care.clinician, submission=HomeworkSubmission.objects.first(), feedback="Keep going."
    )

    many = count_queries(lambda: api.get(SUBMISSIONS))

    assert len(api.get(SUBMISSIONS).json()["results"]) == 20
    assert one == many


def test_the_post_query_count_is_the_same_whatever_came_before(as_a, care, assignment, count_queries):
    first = count_queries(lambda: submit(as_a, assignment))
    for _ in range(12):
        recorded(care.a_user, assignment)
    recorded(care.b_user, assignment)

    later = count_queries(lambda: submit(as_a, assignment))

    assert HomeworkSubmission.objects.filter(assignment=assignment).count() == 15
    assert first == later


def test_the_post_answer_is_the_serializers_for_the_stored_submission(as_a, care, assignment):
    """The create answers from the new record's own values (api/viewsets.py respond_plain): held here to
    SubmissionSerializer's answer for the same row, read back from the database."""
    sent = (timezone.now() - timedelta(days=1)).astimezone(dt_timezone(timedelta(hours=-5)))

    response = submit(as_a, assignment, completed_at=sent, shared=True)

    assert response.status_code == 201, response.content
    stored = HomeworkSubmission.objects.select_related("client").get(pk=response.json()["id"])
    expected = SubmissionSerializer(stored, context={"request": SimpleNamespace(user=care.a_user)}).data
    assert response.json() == json.loads(json.dumps(expected, cls=JSONEncoder))
    assert list(response.json()) == list(expected)
    assert response["ETag"] == etag_for(stored)
