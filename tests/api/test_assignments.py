"""Homework assignments through HTTP: the therapist side (/api/v1/assignments/), progress from real client
submissions, and the client's own list (/api/v1/me/assignments/).

Progress numbers are worked out by hand in comments. Dates are relative to today (T = timezone.localdate(),
UTC in the test settings); a completion is sent at noon UTC of its day, so its local date is that day.
"""

import json
import uuid
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from api.homework import MyAssignmentSerializer
from api.renderers import JSONRenderer
from clinical import selectors
from clinical.models import (
    AuditEvent,
    CaseStatus,
    HomeworkAssignment,
    HomeworkSubmission,
    Role,
    SubjectType,
)
from clinical.services import homework as services
from exercises.models import Exercise, ExerciseVersion
from exercises.services import current_content, exercise_publish
from tests.factories import CaseFactory, ClientFactory, CoupleFactory, GoalFactory, UserFactory
from tests.factories.scenes import link_login
from tests.helpers import ids, problem

API = "/api/v1/assignments/"
MINE = "/api/v1/me/assignments/"
SUBMISSIONS = "/api/v1/submissions/"

DAILY_EITHER = "daily-appreciation-note"  # audience either, suggested daily
WEEKLY_COUPLE = "weekly-relationship-check-in"  # audience couple, suggested weekly
ONCE_EITHER = "remembering-a-close-moment"  # audience either, suggested once
ONCE_INDIVIDUAL = "self-compassion-after-hurt"  # audience individual, suggested once

# A valid answer to each exercise used for submissions.
ANSWERS = {
    DAILY_EITHER: {"appreciated": "The tea you brought me", "shared": True, "mood_after": 4},
    WEEKLY_COUPLE: {"closeness": 7, "went_well": "We laughed over dinner"},
    ONCE_EITHER: {
        "memory": "The walk by the lake",
        "what_made_it_possible": "Time without phones",
        "bring_back": "A Sunday walk",
        "closeness_now": 8,
    },
}


# ---------------------------------------------------------------- helpers


def day(offset: int) -> date:
    """Today plus `offset` days."""
    return timezone.localdate() + timedelta(days=offset)


def url(assignment, action=""):
    pk = assignment if isinstance(assignment, str) else assignment.pk
    return f"{API}{pk}/" + (f"{action}/" if action else "")


def couple_case_for(clinician):
    couple = CoupleFactory(partners__clinician=clinician)
    return CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=couple)


def partners_of(case) -> list:
    return [member.client for member in case.couple.members.order_by("position")]


def assign(case, slug, assignees, **kwargs) -> HomeworkAssignment:
    """Set the scene through the service (the HTTP create is tested on its own)."""
    return services.assignment_create(
        actor=case.clinician,
        case=case,
        exercise=Exercise.objects.select_related("current").get(slug=slug),
        assignees=assignees,
        **kwargs,
    )


def submit(call_as, user, assignment, on: date, *, hour: int = 12):
    """A client's completion through the API, as the app sends it."""
    pk = getattr(assignment, "pk", assignment)
    slug = HomeworkAssignment.objects.values_list("exercise_version__exercise__slug", flat=True).get(pk=pk)
    response = call_as(user, ["homework"]).post(
        SUBMISSIONS,
        {
            "assignment": str(pk),
            "completed_at": f"{on.isoformat()}T{hour:02d}:00:00+00:00",
            "responses": ANSWERS[slug],
        },
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 201, response.content
    return response.json()


def snapshot(assignment_id):
    """What a refused request must leave as it was."""
    a = HomeworkAssignment.objects.get(pk=assignment_id)
    return (
        a.version,
        a.status,
        a.instructions,
        a.due_date,
        a.target_count,
        a.updated_at,
        sorted(a.goals.values_list("pk", flat=True)),
        sorted(a.assignees.values_list("pk", flat=True)),
    )


def assignment_events(action):
    return AuditEvent.objects.filter(object_type="assignment", action=action)


def progress_row(client, completed, expected, adherence):
    return {"client": str(client.pk), "completed": completed, "expected": expected, "adherence": adherence}


def by_assignee(body) -> list:
    return sorted(body["by_assignee"], key=lambda row: row["client"])


def rows(*items) -> list:
    return sorted(items, key=lambda row: row["client"])


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def couple_case(clinician, catalog):
    return couple_case_for(clinician)


@pytest.fixture
def partners(couple_case):
    return partners_of(couple_case)


@pytest.fixture
def logins(partners):
    """The two partners' app logins, in the couple's order."""
    return [link_login(client) for client in partners]


def body_for(case, slug, assignees, **overrides):
    return {
        "case": str(case.pk),
        "exercise": str(Exercise.objects.get(slug=slug).pk),
        "assignees": [str(c.pk) for c in assignees],
        **overrides,
    }


# ---------------------------------------------------------------- create


def test_create_each_on_a_couple_case_for_both_partners(api, clinician, couple_case, partners):
    exercise = Exercise.objects.select_related("current").get(slug=DAILY_EITHER)
    goal = GoalFactory(case=couple_case)
    a, b = partners

    response = api.post(
        API,
        body_for(
            couple_case,
            DAILY_EITHER,
            [a, b],
            mode="each",
            goals=[str(goal.pk)],
            instructions="After dinner, before the dishes.",
            due_date=day(13).isoformat(),
        ),
    )

    assert response.status_code == 201, response.content
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["exercise_version"] == {
        "id": str(exercise.current_id),
        "exercise": str(exercise.pk),
        "number": 1,
        "title": "Daily appreciation note",
    }
    assert sorted(body["assignees"]) == sorted([str(a.pk), str(b.pk)])
    assert body["goals"] == [str(goal.pk)]
    assert {k: body[k] for k in ("case", "mode", "instructions", "start_date", "due_date", "assigned_by")} == {
        "case": str(couple_case.pk),
        "mode": "each",
        "instructions": "After dinner, before the dishes.",
        "start_date": day(0).isoformat(),
        "due_date": day(13).isoformat(),
        "assigned_by": str(clinician.pk),
    }
    assert (body["frequency"], body["target_count"], body["status"], body["version"]) == ("daily", 7, "active", 1)
    # Starts today: day 0 is expected of each partner (1 each, 2 overall), nothing done yet.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"], body["overdue"]) == (0, 2, 0.0, False)
    assert by_assignee(body) == rows(progress_row(a, 0, 1, 0.0), progress_row(b, 0, 1, 0.0))

    stored = HomeworkAssignment.objects.get(pk=body["id"])
    assert stored.exercise_version_id == exercise.current_id
    assert stored.case_id == couple_case.pk
    assert set(stored.assignees.all()) == {a, b}
    assert list(stored.goals.all()) == [goal]
    assert stored.assigned_by == clinician
    event = assignment_events("create").get()
    assert (event.actor, event.object_ids) == (clinician, [stored.pk])


def test_create_joint_on_a_couple_case(api, couple_case, partners):
    a, b = partners

    response = api.post(API, body_for(couple_case, WEEKLY_COUPLE, [a, b], mode="joint"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["mode"], body["frequency"], body["target_count"]) == ("joint", "weekly", 4)
    # Joint: week 0 is expected once, shared by both (not once per partner).
    assert (body["completed_count"], body["expected_to_date"], body["adherence"]) == (0, 1, 0.0)
    assert by_assignee(body) == rows(progress_row(a, 0, 1, 0.0), progress_row(b, 0, 1, 0.0))
    assert HomeworkAssignment.objects.get(pk=body["id"]).mode == "joint"


def test_create_on_an_individual_case(api, clinician, catalog):
    case = CaseFactory(clinician=clinician)

    response = api.post(API, body_for(case, ONCE_INDIVIDUAL, [case.client]))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["assignees"] == [str(case.client.pk)]
    assert (body["mode"], body["frequency"], body["target_count"]) == ("each", "once", 1)
    assert (body["completed_count"], body["expected_to_date"], body["adherence"]) == (0, 1, 0.0)
    assert body["exercise_version"]["id"] == str(catalog[ONCE_INDIVIDUAL].current_id)


def test_homework_starting_later_expects_nothing_yet(api, couple_case, partners):
    a, b = partners

    response = api.post(API, body_for(couple_case, DAILY_EITHER, [a, b], start_date=day(3).isoformat()))

    assert response.status_code == 201, response.content
    body = response.json()
    # Nothing has begun: 0 expected, and no ratio before anything is expected.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"], body["overdue"]) == (
        0,
        0,
        None,
        False,
    )
    assert by_assignee(body) == rows(progress_row(a, 0, 0, None), progress_row(b, 0, 0, None))


def test_create_is_idempotent(api, couple_case, partners):
    body = body_for(couple_case, DAILY_EITHER, partners)

    first = api.post(API, body, HTTP_IDEMPOTENCY_KEY="assign-1")
    retry = api.post(API, body, HTTP_IDEMPOTENCY_KEY="assign-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert HomeworkAssignment.objects.count() == 1
    assert assignment_events("create").count() == 1


def test_one_partner_of_a_couple_case_may_get_individual_homework(api, couple_case, partners):
    a, _ = partners

    response = api.post(API, body_for(couple_case, DAILY_EITHER, [a]))

    assert response.status_code == 201, response.content
    assert response.json()["assignees"] == [str(a.pk)]
    assert response.json()["expected_to_date"] == 1


@pytest.mark.parametrize(
    ("given", "frequency", "target"),
    [
        ({}, "daily", 7),  # the exercise's suggestion (daily) and its default target
        ({"frequency": "once"}, "once", 1),
        ({"frequency": "daily"}, "daily", 7),
        ({"frequency": "weekly"}, "weekly", 4),
        ({"frequency": "weekly", "target_count": 2}, "weekly", 2),
        ({"target_count": 10}, "daily", 10),
    ],
)
def test_frequency_and_target_defaults(api, couple_case, partners, given, frequency, target):
    response = api.post(API, body_for(couple_case, DAILY_EITHER, partners, **given))

    assert response.status_code == 201, response.content
    assert (response.json()["frequency"], response.json()["target_count"]) == (frequency, target)
    stored = HomeworkAssignment.objects.get(pk=response.json()["id"])
    assert (stored.frequency, stored.target_count) == (frequency, target)


def test_the_exercise_version_given_is_pinned(call_as, api, couple_case, partners, logins):
    exercise = Exercise.objects.select_related("current").get(slug=DAILY_EITHER)
    first_version = exercise.current
    first = api.post(API, body_for(couple_case, DAILY_EITHER, partners)).json()

    revised_steps = ["Write one sentence of thanks.", "Say it aloud."]
    exercise_publish(
        slug=DAILY_EITHER,
        content={**current_content(exercise), "title": "Daily thanks", "steps": revised_steps},
    )
    second = api.post(API, body_for(couple_case, DAILY_EITHER, partners)).json()

    second_version = Exercise.objects.get(pk=exercise.pk).current
    assert second_version.number == 2
    assert api.get(url(first["id"])).json()["exercise_version"] == {
        "id": str(first_version.pk),
        "exercise": str(exercise.pk),
        "number": 1,
        "title": "Daily appreciation note",
    }
    assert second["exercise_version"] == {
        "id": str(second_version.pk),
        "exercise": str(exercise.pk),
        "number": 2,
        "title": "Daily thanks",
    }
    assert HomeworkAssignment.objects.get(pk=first["id"]).exercise_version_id == first_version.pk
    # The client's app shows each assignment in the words it was given.
    mine = {row["id"]: row["exercise_version"] for row in call_as(logins[0], ["homework"]).get(MINE).json()["results"]}
    assert (mine[first["id"]]["title"], mine[first["id"]]["steps"]) == ("Daily appreciation note", first_version.steps)
    assert (mine[second["id"]]["title"], mine[second["id"]]["steps"]) == ("Daily thanks", revised_steps)


# ---------------------------------------------------------------- create: refused


def assert_nothing_created():
    assert HomeworkAssignment.objects.count() == 0
    assert not assignment_events("create").exists()


def test_assignees_outside_the_case_are_refused(api, clinician, couple_case, partners):
    elsewhere = ClientFactory(primary_clinician=clinician)  # on my caseload, but not in this case

    response = api.post(API, body_for(couple_case, DAILY_EITHER, [partners[0], elsewhere]))

    assert response.status_code == 400
    assert problem(response)["code"] == "invalid"
    assert problem(response)["errors"] == [
        {"field": "assignees", "code": "invalid", "message": "Assignees must be clients of this case."}
    ]
    assert_nothing_created()


def test_the_same_assignee_twice_is_refused(api, couple_case, partners):
    response = api.post(API, body_for(couple_case, DAILY_EITHER, [partners[0], partners[0]]))

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["assignees"]
    assert_nothing_created()


def test_joint_with_one_assignee_is_refused(api, couple_case, partners):
    response = api.post(API, body_for(couple_case, DAILY_EITHER, [partners[0]], mode="joint"))

    assert response.status_code == 400
    assert problem(response)["errors"] == [
        {"field": "mode", "code": "invalid", "message": "A joint assignment needs both partners as assignees."}
    ]
    assert_nothing_created()


def test_a_couple_exercise_to_one_partner_is_refused(api, couple_case, partners):
    response = api.post(API, body_for(couple_case, WEEKLY_COUPLE, [partners[1]]))

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["assignees"]
    assert_nothing_created()


def test_a_couple_exercise_on_an_individual_case_is_refused(api, clinician, catalog):
    case = CaseFactory(clinician=clinician)

    response = api.post(API, body_for(case, WEEKLY_COUPLE, [case.client]))

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["assignees"]
    assert_nothing_created()


def test_goals_of_another_case_are_refused(api, clinician, couple_case, partners):
    my_other_case_goal = GoalFactory(case=CaseFactory(clinician=clinician))

    response = api.post(API, body_for(couple_case, DAILY_EITHER, partners, goals=[str(my_other_case_goal.pk)]))

    assert response.status_code == 400
    assert problem(response)["errors"] == [{"field": "goals", "code": "invalid", "message": "Only goals of this case."}]
    assert_nothing_created()


def test_another_clinicians_case_is_a_field_error_like_a_missing_one(api, other_clinician, couple_case, partners):
    foreign = couple_case_for(other_clinician)
    missing_id = uuid.uuid4()

    foreign_response = api.post(API, body_for(foreign, DAILY_EITHER, partners))
    missing_response = api.post(API, {**body_for(couple_case, DAILY_EITHER, partners), "case": str(missing_id)})

    for response, case_id in ((foreign_response, foreign.pk), (missing_response, missing_id)):
        assert response.status_code == 400
        assert problem(response)["errors"] == [
            {"field": "case", "code": "does_not_exist", "message": f'Invalid pk "{case_id}" - object does not exist.'}
        ]
    assert_nothing_created()


def test_another_clinicians_goal_is_a_field_error(api, other_clinician, couple_case, partners):
    foreign_goal = GoalFactory(case=CaseFactory(clinician=other_clinician))

    response = api.post(API, body_for(couple_case, DAILY_EITHER, partners, goals=[str(foreign_goal.pk)]))

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["goals.0"]
    assert_nothing_created()


def test_another_clinicians_client_is_a_field_error(api, other_clinician, couple_case, partners):
    foreign_client = ClientFactory(primary_clinician=other_clinician)

    response = api.post(API, body_for(couple_case, DAILY_EITHER, [partners[0], foreign_client]))

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["assignees.1"]
    assert_nothing_created()


def test_a_closed_case_takes_no_homework(api, couple_case, partners):
    couple_case.status = CaseStatus.CLOSED
    couple_case.closed_on = day(0)
    couple_case.closing_reason = "Goals met"
    couple_case.save(update_fields=["status", "closed_on", "closing_reason"])

    response = api.post(API, body_for(couple_case, DAILY_EITHER, partners))

    assert response.status_code == 409
    assert problem(response)["code"] == "case_closed"
    assert_nothing_created()


def test_a_due_date_before_the_start_is_refused(api, couple_case, partners):
    response = api.post(
        API, body_for(couple_case, DAILY_EITHER, partners, start_date=day(-1).isoformat(), due_date=day(-2).isoformat())
    )

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["due_date"]
    assert_nothing_created()


# ---------------------------------------------------------------- who sees and changes what


def test_a_supervisor_reads_a_supervisees_assignments_but_does_not_change_them(supervisor_api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners)
    before = snapshot(assignment.pk)

    listed = supervisor_api.get(API)
    read = supervisor_api.get(url(assignment))
    created = supervisor_api.post(API, body_for(couple_case, DAILY_EITHER, partners))
    cancelled = supervisor_api.post(url(assignment, "cancel"), {})
    changed = supervisor_api.patch(url(assignment), {"instructions": "x"}, HTTP_IF_MATCH='"1"')

    assert ids(listed) == {str(assignment.pk)}
    assert read.status_code == 200
    assert read.json()["id"] == str(assignment.pk)
    for refused in (created, cancelled, changed):
        assert refused.status_code == 403, refused.content
        assert problem(refused)["code"] == "not_case_clinician"
    assert HomeworkAssignment.objects.count() == 1
    assert snapshot(assignment.pk) == before


def test_another_clinician_gets_404(other_api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners)
    before = snapshot(assignment.pk)

    assert other_api.get(url(assignment)).status_code == 404
    assert other_api.patch(url(assignment), {"instructions": "x"}, HTTP_IF_MATCH='"1"').status_code == 404
    assert other_api.post(url(assignment, "cancel"), {}).status_code == 404
    assert ids(other_api.get(API)) == set()
    assert snapshot(assignment.pk) == before


def test_a_client_cannot_use_the_therapist_endpoint(call_as, couple_case, partners, logins):
    assign(couple_case, DAILY_EITHER, partners)

    response = call_as(logins[0], ["homework", "clinical:read"]).get(API)

    assert response.status_code == 403
    assert problem(response)["code"] == "role_not_allowed"


# ---------------------------------------------------------------- PATCH and cancel


def test_patch_needs_if_match(api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners)
    before = snapshot(assignment.pk)

    missing = api.patch(url(assignment), {"instructions": "new"})
    stale = api.patch(url(assignment), {"instructions": "new"}, HTTP_IF_MATCH='"7"')

    assert missing.status_code == 428
    assert problem(missing)["code"] == "precondition_required"
    assert stale.status_code == 412
    assert problem(stale)["code"] == "stale_version"
    assert snapshot(assignment.pk) == before


def test_patch_changes_instructions_due_date_target_and_goals(api, clinician, couple_case, partners):
    old_goal, new_goal = GoalFactory(case=couple_case), GoalFactory(case=couple_case)
    assignment = assign(couple_case, DAILY_EITHER, partners, goals=[old_goal])

    response = api.patch(
        url(assignment),
        {
            "instructions": "Share it at breakfast.",
            "due_date": day(20).isoformat(),
            "target_count": 10,
            "goals": [str(new_goal.pk)],
        },
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    body = response.json()
    assert (body["instructions"], body["due_date"], body["target_count"], body["goals"], body["version"]) == (
        "Share it at breakfast.",
        day(20).isoformat(),
        10,
        [str(new_goal.pk)],
        2,
    )
    stored = HomeworkAssignment.objects.get(pk=assignment.pk)
    assert (stored.instructions, stored.due_date, stored.target_count, stored.version) == (
        "Share it at breakfast.",
        day(20),
        10,
        2,
    )
    assert list(stored.goals.all()) == [new_goal]
    event = assignment_events("update").get()
    assert (event.actor, event.object_ids) == (clinician, [assignment.pk])
    assert event.detail == {"fields": ["due_date", "goals", "instructions", "target_count"]}


def test_patch_can_clear_the_due_date(api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners, due_date=day(5), target_count=5)

    response = api.patch(url(assignment), {"due_date": None}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    assert response.json()["due_date"] is None
    assert HomeworkAssignment.objects.get(pk=assignment.pk).due_date is None


@pytest.mark.parametrize("whose", ["another case of mine", "another clinician"])
def test_patch_refuses_goals_of_another_case(api, clinician, other_clinician, couple_case, partners, whose):
    holder = clinician if whose == "another case of mine" else other_clinician
    goal = GoalFactory(case=CaseFactory(clinician=holder))
    assignment = assign(couple_case, DAILY_EITHER, partners)
    before = snapshot(assignment.pk)

    response = api.patch(url(assignment), {"goals": [str(goal.pk)]}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 400
    expected_field = "goals" if whose == "another case of mine" else "goals.0"
    assert [e["field"] for e in problem(response)["errors"]] == [expected_field]
    assert snapshot(assignment.pk) == before


def test_patch_refuses_a_due_date_before_the_start(api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners, start_date=day(-3))
    before = snapshot(assignment.pk)

    response = api.patch(url(assignment), {"due_date": day(-4).isoformat()}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["due_date"]
    assert snapshot(assignment.pk) == before


def test_patch_on_a_closed_case_conflicts(api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners)
    couple_case.status = CaseStatus.CLOSED
    couple_case.closed_on = day(0)
    couple_case.closing_reason = "Goals met"
    couple_case.save(update_fields=["status", "closed_on", "closing_reason"])
    before = snapshot(assignment.pk)

    response = api.patch(url(assignment), {"instructions": "x"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 409
    assert problem(response)["code"] == "case_closed"
    assert snapshot(assignment.pk) == before


def test_lowering_the_target_to_what_is_already_done_completes_the_homework(
    call_as, api, couple_case, partners, logins
):
    # Daily each from T-2, target 7; both partners did days 0 and 1.
    assignment = assign(couple_case, DAILY_EITHER, partners, start_date=day(-2))
    for user in logins:
        submit(call_as, user, assignment, day(-2))
        submit(call_as, user, assignment, day(-1))
    version = HomeworkAssignment.objects.get(pk=assignment.pk).version

    response = api.patch(url(assignment), {"target_count": 2}, HTTP_IF_MATCH=f'"{version}"')

    assert response.status_code == 200, response.content
    body = response.json()
    # Target 2: each has min(2, 2) = 2 of min(2, 3 begun) = 2 → 4/4; every required completion is in.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"]) == (4, 4, 1.0)
    assert body["status"] == "completed"
    assert HomeworkAssignment.objects.get(pk=assignment.pk).status == "completed"


def test_cancel_then_cancel_again_conflicts(api, clinician, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners)

    first = api.post(url(assignment, "cancel"), {})
    before = snapshot(assignment.pk)
    again = api.post(url(assignment, "cancel"), {})
    patched = api.patch(url(assignment), {"instructions": "x"}, HTTP_IF_MATCH='"2"')

    assert first.status_code == 200, first.content
    assert (first.json()["status"], first.json()["version"], first.json()["overdue"]) == ("cancelled", 2, False)
    assert first["ETag"] == '"2"'
    event = assignment_events("cancel").get()
    assert (event.actor, event.object_ids) == (clinician, [assignment.pk])
    for refused in (again, patched):
        assert refused.status_code == 409
        assert problem(refused)["code"] == "assignment_not_active"
    assert snapshot(assignment.pk) == before
    assert assignment_events("cancel").count() == 1


def test_cancel_with_a_stale_if_match_changes_nothing(api, couple_case, partners):
    assignment = assign(couple_case, DAILY_EITHER, partners)
    before = snapshot(assignment.pk)

    response = api.post(url(assignment, "cancel"), {}, HTTP_IF_MATCH='"5"')

    assert response.status_code == 412
    assert snapshot(assignment.pk) == before


# ---------------------------------------------------------------- progress from real submissions


def test_daily_each_progress(call_as, api, couple_case, partners, logins):
    a, b = partners
    # Start S = T-5, due T+1, daily, target 7 (the default).
    created = api.post(
        API, body_for(couple_case, DAILY_EITHER, [a, b], start_date=day(-5).isoformat(), due_date=day(1).isoformat())
    ).json()
    assert created["target_count"] == 7

    submit(call_as, logins[0], created["id"], day(-5))  # A: day 0
    submit(call_as, logins[0], created["id"], day(-4), hour=8)  # A: day 1 ...
    submit(call_as, logins[0], created["id"], day(-4), hour=20)  # ... twice: still one day
    submit(call_as, logins[0], created["id"], day(-2))  # A: day 3
    submit(call_as, logins[1], created["id"], day(-3))  # B: day 2

    body = api.get(url(created["id"])).json()
    # Expected of each: days 0..5 have begun (T - S = 5) → min(7, 6) = 6; overall 2 x 6 = 12.
    # A: days {0, 1, 3} → 3 → 3/6 = 0.5. B: day {2} → 1 → 1/6 = 0.1667. Overall 4/12 = 0.3333.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"]) == (4, 12, 0.3333)
    assert by_assignee(body) == rows(progress_row(a, 3, 6, 0.5), progress_row(b, 1, 6, 0.1667))
    assert (body["status"], body["overdue"]) == ("active", False)
    assert sorted(HomeworkSubmission.objects.filter(client=a).values_list("period", flat=True)) == [0, 1, 1, 3]


def test_weekly_joint_progress(call_as, api, couple_case, partners, logins):
    a, b = partners
    # Start S = T-20, due T+7, weekly, joint, target 4 (the default).
    created = api.post(
        API,
        body_for(
            couple_case,
            WEEKLY_COUPLE,
            [a, b],
            mode="joint",
            start_date=day(-20).isoformat(),
            due_date=day(7).isoformat(),
        ),
    ).json()

    submit(call_as, logins[0], created["id"], day(-19))  # A: S+1 → week 0
    submit(call_as, logins[1], created["id"], day(-17))  # B: S+3 → week 0 (the same week)
    submit(call_as, logins[1], created["id"], day(-5))  # B: S+15 → 15 // 7 = week 2

    body = api.get(url(created["id"])).json()
    # Expected: T - S = 20 → 20 // 7 = week 2 → weeks 0..2 → 3 (shared, not per partner).
    # Weeks done by either: {0, 2} → 2 → 2/3 = 0.6667, the same for both partners.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"]) == (2, 3, 0.6667)
    assert by_assignee(body) == rows(progress_row(a, 2, 3, 0.6667), progress_row(b, 2, 3, 0.6667))
    assert (body["status"], body["overdue"]) == ("active", False)

    submit(call_as, logins[0], created["id"], day(-12))  # A: S+8 → week 1
    body = api.get(url(created["id"])).json()
    # Weeks {0, 1, 2} → 3/3 = 1.0, but the target is 4: still active.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"], body["status"]) == (
        3,
        3,
        1.0,
        "active",
    )


def test_joint_assignment_completes_when_every_required_week_is_in(call_as, api, couple_case, partners, logins):
    # Start S = T-13, weekly joint, target 2: T - S = 13 → week 1 → 2 expected.
    created = api.post(
        API,
        body_for(couple_case, WEEKLY_COUPLE, partners, mode="joint", start_date=day(-13).isoformat(), target_count=2),
    ).json()

    submit(call_as, logins[0], created["id"], day(-13))  # A: week 0
    halfway = api.get(url(created["id"])).json()
    submit(call_as, logins[1], created["id"], day(-6))  # B: S+7 → week 1
    done = api.get(url(created["id"])).json()

    assert (halfway["status"], halfway["completed_count"], halfway["expected_to_date"], halfway["adherence"]) == (
        "active",
        1,
        2,
        0.5,  # 1/2
    )
    assert (done["status"], done["completed_count"], done["expected_to_date"], done["adherence"]) == (
        "completed",
        2,
        2,
        1.0,  # 2/2
    )
    assert done["overdue"] is False
    assert HomeworkAssignment.objects.get(pk=created["id"]).status == "completed"


def test_each_assignment_completes_only_when_both_partners_are_done(call_as, api, couple_case, partners, logins):
    a, b = partners
    created = api.post(API, body_for(couple_case, ONCE_EITHER, [a, b], start_date=day(-2).isoformat())).json()

    submit(call_as, logins[0], created["id"], day(-1))
    after_a = api.get(url(created["id"])).json()
    submit(call_as, logins[1], created["id"], day(0), hour=0)
    after_both = api.get(url(created["id"])).json()

    # Once, each: 1 expected of each, 2 overall. After A: 1/2 = 0.5; after both: 2/2.
    assert (after_a["status"], after_a["completed_count"], after_a["expected_to_date"], after_a["adherence"]) == (
        "active",
        1,
        2,
        0.5,
    )
    assert by_assignee(after_a) == rows(progress_row(a, 1, 1, 1.0), progress_row(b, 0, 1, 0.0))
    assert (after_both["status"], after_both["completed_count"], after_both["adherence"]) == ("completed", 2, 1.0)
    assert HomeworkAssignment.objects.get(pk=created["id"]).status == "completed"


def test_overdue_after_the_due_date_when_not_done(call_as, api, couple_case, partners, logins):
    a, b = partners
    # Start S = T-10, due T-4, daily each, target 7.
    late = api.post(
        API, body_for(couple_case, DAILY_EITHER, [a, b], start_date=day(-10).isoformat(), due_date=day(-4).isoformat())
    ).json()
    # Once, joint, due yesterday, done by B: completed, so not overdue.
    done = api.post(
        API,
        body_for(
            couple_case,
            ONCE_EITHER,
            [a, b],
            mode="joint",
            start_date=day(-5).isoformat(),
            due_date=day(-1).isoformat(),
        ),
    ).json()
    # Once, each, due today, nothing in: not overdue yet.
    due_today = api.post(
        API, body_for(couple_case, ONCE_EITHER, [a], start_date=day(-3).isoformat(), due_date=day(0).isoformat())
    ).json()

    submit(call_as, logins[0], late["id"], day(-10))  # A: day 0
    submit(call_as, logins[0], late["id"], day(-9))  # A: day 1
    submit(call_as, logins[1], done["id"], day(-4))

    body = api.get(url(late["id"])).json()
    # Expected stops at the due date: (T-4) - (T-10) = 6 → days 0..6 → 7 of each, 14 overall.
    # A 2/7 = 0.2857, B 0/7; overall 2/14 = 0.1429.
    assert (body["completed_count"], body["expected_to_date"], body["adherence"], body["overdue"]) == (
        2,
        14,
        0.1429,
        True,
    )
    assert by_assignee(body) == rows(progress_row(a, 2, 7, 0.2857), progress_row(b, 0, 7, 0.0))
    done_body = api.get(url(done["id"])).json()
    assert (done_body["status"], done_body["overdue"]) == ("completed", False)
    due_today_body = api.get(url(due_today["id"])).json()
    assert (due_today_body["completed_count"], due_today_body["expected_to_date"]) == (0, 1)
    assert due_today_body["overdue"] is False

    cancelled = api.post(url(late["id"], "cancel"), {}).json()
    assert cancelled["overdue"] is False  # withdrawn homework is not late


# ---------------------------------------------------------------- lists and filters


def test_list_filters(api, clinician, other_clinician, couple_case, partners):
    a, b = partners
    both = assign(couple_case, DAILY_EITHER, [a, b])
    only_a = assign(couple_case, ONCE_EITHER, [a])
    withdrawn = assign(couple_case, DAILY_EITHER, [b])
    services.assignment_cancel(actor=clinician, assignment=withdrawn)
    individual = CaseFactory(clinician=clinician)
    on_individual = assign(individual, ONCE_INDIVIDUAL, [individual.client])
    foreign_case = couple_case_for(other_clinician)
    assign(foreign_case, DAILY_EITHER, partners_of(foreign_case))

    everything = {str(x.pk) for x in (both, only_a, withdrawn, on_individual)}
    assert ids(api.get(API)) == everything
    assert ids(api.get(API, {"case": str(couple_case.pk)})) == {str(x.pk) for x in (both, only_a, withdrawn)}
    assert ids(api.get(API, {"case": str(individual.pk)})) == {str(on_individual.pk)}
    assert ids(api.get(API, {"status": "cancelled"})) == {str(withdrawn.pk)}
    assert ids(api.get(API, {"status": "active"})) == {str(x.pk) for x in (both, only_a, on_individual)}
    assert ids(api.get(API, {"assignee": str(a.pk)})) == {str(both.pk), str(only_a.pk)}
    assert ids(api.get(API, {"assignee": str(b.pk), "status": "active"})) == {str(both.pk)}
    for foreign in (str(foreign_case.pk), str(uuid.uuid4())):
        response = api.get(API, {"case": foreign})
        assert response.status_code == 404
        assert problem(response)["code"] == "not_found"


def test_list_read_is_audited(api, clinician, couple_case, partners):
    first = assign(couple_case, DAILY_EITHER, partners)
    second = assign(couple_case, ONCE_EITHER, partners)

    response = api.get(API)

    event = assignment_events("read").get()
    assert event.actor == clinician
    assert sorted(event.object_ids) == sorted([first.pk, second.pk])
    assert ids(response) == {str(first.pk), str(second.pk)}


def test_list_query_count_does_not_grow(call_as, api, count_queries, couple_case, partners, logins):
    def add_assignment_with_submissions():
        assignment = assign(couple_case, DAILY_EITHER, partners, start_date=day(-3))
        for user, offset in ((logins[0], -3), (logins[0], -2), (logins[1], -1)):
            services.submission_create(
                actor=user,
                assignment=assignment,
                completed_at=timezone.now() + timedelta(days=offset),
                responses=ANSWERS[DAILY_EITHER],
            )

    add_assignment_with_submissions()
    one = count_queries(lambda: api.get(API))
    for _ in range(19):
        add_assignment_with_submissions()
    many = count_queries(lambda: api.get(API))

    assert one == many
    results = api.get(API).json()["results"]
    assert len(results) == 20
    # Every row shows its own progress: daily each from T-3 → 4 expected of each; A 2, B 1 → 3/8 = 0.375.
    assert {(r["completed_count"], r["expected_to_date"], r["adherence"]) for r in results} == {(3, 8, 0.375)}


# ---------------------------------------------------------------- the client's app: me/assignments


@pytest.fixture
def homework_scene(clinician, couple_case, partners, logins):
    """Homework on a couple case, and on a stranger's case (another couple, another clinician)."""
    a, b = partners
    scene = {
        "joint": assign(couple_case, WEEKLY_COUPLE, [a, b], mode="joint"),
        "a_only": assign(couple_case, DAILY_EITHER, [a]),
        "b_only": assign(couple_case, DAILY_EITHER, [b]),  # the partner's individual homework
        "a_to_cancel": assign(couple_case, ONCE_EITHER, [a]),
        "a_to_complete": assign(couple_case, ONCE_EITHER, [a]),
    }
    stranger_case = couple_case_for(UserFactory(role=Role.CLINICIAN))
    stranger_partners = partners_of(stranger_case)
    scene["stranger_login"] = link_login(stranger_partners[0])
    scene["stranger"] = assign(stranger_case, DAILY_EITHER, stranger_partners)
    return scene


def test_my_assignments_are_only_my_active_ones(call_as, homework_scene, logins, clinician):
    s = homework_scene
    services.assignment_cancel(actor=clinician, assignment=s["a_to_cancel"])
    submit(call_as, logins[0], s["a_to_complete"], day(0), hour=0)

    mine_a = call_as(logins[0], ["homework"]).get(MINE)
    mine_b = call_as(logins[1], ["homework"]).get(MINE)
    stranger = call_as(s["stranger_login"], ["homework"]).get(MINE)

    assert HomeworkAssignment.objects.get(pk=s["a_to_complete"].pk).status == "completed"
    assert ids(mine_a) == {str(s["joint"].pk), str(s["a_only"].pk)}
    assert ids(mine_b) == {str(s["joint"].pk), str(s["b_only"].pk)}
    assert ids(stranger) == {str(s["stranger"].pk)}


def test_my_assignments_embed_the_full_exercise_version_and_my_progress(call_as, homework_scene, logins):
    s = homework_scene
    submit(call_as, logins[1], s["joint"], day(0), hour=0)  # B's completion counts for A too (joint)

    response = call_as(logins[0], ["homework"]).get(MINE)

    rows_by_id = {row["id"]: row for row in response.json()["results"]}
    joint = rows_by_id[str(s["joint"].pk)]
    version = ExerciseVersion.objects.get(pk=s["joint"].exercise_version_id)
    assert joint["exercise_version"] == {
        "id": str(version.pk),
        "number": 1,
        "title": version.title,
        "summary": version.summary,
        "steps": version.steps,
        "domains": version.domains,
        "audience": "couple",
        "suggested_frequency": "weekly",
        "estimated_minutes": version.estimated_minutes,
        "response_fields": version.response_fields,
        "created_at": joint["exercise_version"]["created_at"],
    }
    assert len(joint["exercise_version"]["steps"]) == 5
    assert [f["key"] for f in joint["exercise_version"]["response_fields"]] == [
        "closeness",
        "went_well",
        "felt_distant",
        "wish_for_next_week",
    ]
    # Weekly joint from today: week 0 expected (1); B did it → 1/1 for me as well.
    assert joint["my_progress"] == {"completed": 1, "expected": 1, "adherence": 1.0}
    assert (joint["mode"], joint["status"], joint["completed_count"], joint["expected_to_date"]) == (
        "joint",
        "active",
        1,
        1,
    )
    a_only = rows_by_id[str(s["a_only"].pk)]
    # Daily from today: day 0 expected, nothing done.
    assert a_only["my_progress"] == {"completed": 0, "expected": 1, "adherence": 0.0}
    assert (
        a_only["exercise_version"]["response_fields"]
        == ExerciseVersion.objects.get(pk=s["a_only"].exercise_version_id).response_fields
    )
    assert not {"assignees", "case", "by_assignee"} & set(a_only)  # the app sees its own progress, not the case


def test_updated_since_returns_every_change_including_cancelled_and_completed(
    call_as, homework_scene, logins, clinician
):
    s = homework_scene
    since = timezone.now()
    services.assignment_cancel(actor=clinician, assignment=s["a_to_cancel"])
    submit(call_as, logins[0], s["a_to_complete"], day(0), hour=0)
    submit(call_as, logins[1], s["joint"], day(0), hour=0)  # my partner's submission on our joint homework

    app = call_as(logins[0], ["homework"])
    delta = app.get(MINE, {"updated_since": since.isoformat()})

    assert ids(delta) == {str(s["a_to_cancel"].pk), str(s["a_to_complete"].pk), str(s["joint"].pk)}
    by_id = {row["id"]: row for row in delta.json()["results"]}
    assert by_id[str(s["a_to_cancel"].pk)]["status"] == "cancelled"
    assert by_id[str(s["a_to_complete"].pk)]["status"] == "completed"
    joint = by_id[str(s["joint"].pk)]
    assert joint["version"] == 2
    assert joint["my_progress"] == {"completed": 1, "expected": 1, "adherence": 1.0}
    assert datetime.fromisoformat(joint["updated_at"]) >= since
    # Without updated_since, only what is still to do.
    assert ids(app.get(MINE)) == {str(s["joint"].pk), str(s["a_only"].pk)}


def test_my_partners_submission_on_joint_homework_is_seen_by_delta_sync(call_as, homework_scene, logins):
    s = homework_scene
    app = call_as(logins[0], ["homework"])
    first = {row["id"]: row for row in app.get(MINE).json()["results"]}[str(s["joint"].pk)]

    submit(call_as, logins[1], s["joint"], day(0), hour=0)
    delta = app.get(MINE, {"updated_since": first["updated_at"]})

    assert str(s["joint"].pk) in ids(delta)
    again = {row["id"]: row for row in delta.json()["results"]}[str(s["joint"].pk)]
    assert again["updated_at"] > first["updated_at"]
    assert again["version"] == first["version"] + 1
    assert (first["my_progress"]["completed"], again["my_progress"]["completed"]) == (0, 1)


def test_my_assignments_read_is_audited(call_as, homework_scene, logins):
    s = homework_scene

    response = call_as(logins[0], ["homework"]).get(MINE)

    event = AuditEvent.objects.filter(actor=logins[0], action="read", object_type="assignment").get()
    mine = {str(s[name].pk) for name in ("joint", "a_only", "a_to_cancel", "a_to_complete")}  # all still active
    assert {str(i) for i in event.object_ids} == ids(response) == mine
    assert event.actor_role == "client"


def test_my_assignments_answer_exactly_what_the_serializer_describes(call_as, homework_scene, logins, clinician):
    """me/assignments/ builds its answer from plain rows, without MyAssignmentSerializer; the serializer is the
    contract, so both must say the same, field for field, whatever the progress, dates and status."""
    s = homework_scene
    submit(call_as, logins[1], s["joint"], day(0), hour=0)
    submit(call_as, logins[0], s["a_only"], day(0), hour=0)
    submit(call_as, logins[0], s["a_to_complete"], day(0), hour=0)
    services.assignment_cancel(actor=clinician, assignment=s["a_to_cancel"])
    app = call_as(logins[0], ["homework"])

    for path in (MINE, f"{MINE}?updated_since=2000-01-01T00:00:00Z"):
        answer = app.get(path).json()["results"]
        assignments = {a.pk: a for a in HomeworkAssignment.objects.filter(pk__in=[row["id"] for row in answer])}
        rows = [assignments[uuid.UUID(row["id"])] for row in answer]
        request = SimpleNamespace(user=logins[0])
        described = MyAssignmentSerializer(
            rows, many=True, context={"request": request, "progress": selectors.assignment_progress(assignments=rows)}
        ).data
        assert json.loads(JSONRenderer().render(described)) == answer
    assert {row["status"] for row in answer} == {"active", "cancelled", "completed"}


def test_my_assignments_query_count_does_not_grow(call_as, count_queries, couple_case, partners, logins):
    a, b = partners
    app = call_as(logins[0], ["homework"])

    def add():
        assignment = assign(couple_case, DAILY_EITHER, [a, b], start_date=day(-2))
        services.submission_create(
            actor=logins[1], assignment=assignment, completed_at=timezone.now(), responses=ANSWERS[DAILY_EITHER]
        )

    add()
    one = count_queries(lambda: app.get(MINE))
    for _ in range(29):
        add()
    many = count_queries(lambda: app.get(MINE))

    assert one == many
    results = app.get(MINE).json()["results"]
    assert len(results) == 30
    # Daily each from T-2: 3 expected of me; I did nothing (my partner did) → 0/3.
    assert {tuple(r["my_progress"].values()) for r in results} == {(0, 3, 0.0)}


def test_my_assignments_are_for_clients_only(call_as, clinician, couple_case, partners, logins):
    assign(couple_case, DAILY_EITHER, partners)

    as_clinician = call_as(clinician, ["homework", "clinical:read"]).get(MINE)
    without_scope = call_as(logins[0], ["clinical:read"]).get(MINE)

    assert as_clinician.status_code == 403
    assert problem(as_clinician)["code"] == "role_not_allowed"
    assert without_scope.status_code == 403
    assert problem(without_scope)["code"] == "insufficient_scope"
    assert not AuditEvent.objects.filter(action="read", object_type="assignment").exists()


def test_a_client_without_homework_gets_an_empty_list(call_as, catalog):
    lonely = link_login(ClientFactory())

    response = call_as(lonely, ["homework"]).get(MINE)

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_target_the_due_date_leaves_no_room_for_is_refused(api, couple_case, partners, catalog):
    # Daily from today to today + 5: six days, so at most six completions each.
    body = {
        "case": str(couple_case.pk),
        "exercise": str(catalog[DAILY_EITHER].pk),
        "assignees": [str(p.pk) for p in partners],
        "due_date": str(day(5)),
        "target_count": 7,
    }
    response = api.post(API, body, format="json")

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["target_count"]
    assert not HomeworkAssignment.objects.exists()
    assert api.post(API, {**body, "target_count": 6}, format="json").status_code == 201


def test_joint_needs_an_exercise_done_together(api, couple_case, partners, catalog):
    individual = next(slug for slug, e in catalog.items() if e.current.audience == "individual")

    response = api.post(
        API,
        {
            "case": str(couple_case.pk),
            "exercise": str(catalog[individual].pk),
            "mode": "joint",
            "assignees": [str(p.pk) for p in partners],
        },
        format="json",
    )

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["mode"]
