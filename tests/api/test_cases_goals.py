"""Cases, treatment goals (lifecycle, GAS ratings) and a client's own goals (me/goals/), through HTTP."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical.models import (
    AuditEvent,
    Case,
    CaseStatus,
    GoalAttainmentRating,
    GoalLifecycle,
    ProgressNote,
    Role,
    SubjectType,
    Supervision,
    TreatmentGoal,
)
from clinical.services import consents as consent_services
from tests.factories import (
    GAS_LEVELS,
    CaseFactory,
    ClientFactory,
    CoupleFactory,
    GASRatingFactory,
    GoalFactory,
    UserFactory,
)
from tests.helpers import READ_WRITE, assert_problem, ids

CASES = "/api/v1/cases/"
GOALS = "/api/v1/goals/"
MY_GOALS = "/api/v1/me/goals/"

# The lifecycle table of the issue (as FHIR Goal), written out here so that a change in the code shows up.
ALLOWED_GOAL_MOVES = {
    "proposed": ["active", "cancelled", "entered_in_error"],
    "active": ["on_hold", "completed", "cancelled", "entered_in_error"],
    "on_hold": ["active", "cancelled", "entered_in_error"],
    "completed": ["active", "entered_in_error"],
    "cancelled": ["entered_in_error"],
    "entered_in_error": [],
}
GOAL_STATES = list(ALLOWED_GOAL_MOVES)
ALLOWED_PAIRS = [(src, dst) for src, targets in ALLOWED_GOAL_MOVES.items() for dst in targets]
REFUSED_PAIRS = [(src, dst) for src in GOAL_STATES for dst in GOAL_STATES if dst not in ALLOWED_GOAL_MOVES[src]]


# ---------------------------------------------------------------- helpers


def error_fields(body) -> list:
    return [error["field"] for error in body["errors"]]


def rows(model) -> list[dict]:
    """Every row of a table, to compare before and after a refused request."""
    return list(model.objects.order_by("pk").values())


def row(obj) -> dict:
    return type(obj).objects.filter(pk=obj.pk).values().get()


def audit_events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def closed_case(clinician, **kwargs):
    return CaseFactory(
        clinician=clinician,
        status=CaseStatus.CLOSED,
        closed_on=timezone.localdate() - timedelta(days=1),
        closing_reason="goals met",
        **kwargs,
    )


def couple_case(clinician, couple=None, **kwargs):
    couple = couple or CoupleFactory(partners__clinician=clinician)
    return CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=couple, **kwargs)


STORED_GAS_LEVELS = {"-2": "no check-ins", "-1": "one a month", "0": "one a week", "1": "two a week", "2": "daily"}


LEVEL_NAMES = {"-2": "much_less", "-1": "somewhat_less", "0": "expected", "1": "somewhat_more", "2": "much_more"}


def gas_levels(stored=STORED_GAS_LEVELS):
    """As the API takes and answers them: each level by its name."""
    return {LEVEL_NAMES[score]: text for score, text in stored.items()}


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def own_client(clinician):
    return ClientFactory(primary_clinician=clinician)


@pytest.fixture
def own_couple(clinician):
    return CoupleFactory(partners__clinician=clinician)


@pytest.fixture
def foreign_case(other_clinician):
    return CaseFactory(clinician=other_clinician)


# ================================================================ cases: opening


def test_open_an_individual_case_for_own_client(api, clinician, own_client):
    response = api.post(
        CASES,
        {
            "subject_type": "individual",
            "client": str(own_client.id),
            "presenting_concerns": ["trust", "communication", "trust", "emotional_intimacy"],
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["ETag"] == '"1"'
    case = Case.objects.get()
    assert body == {
        "id": str(case.id),
        "subject_type": "individual",
        "client": str(own_client.id),
        "couple": None,
        "clinician": str(clinician.id),
        "status": "open",
        "opened_on": timezone.localdate().isoformat(),
        "closed_on": None,
        "closing_reason": "",
        "presenting_concerns": ["communication", "emotional_intimacy", "trust"],
        "confidentiality_policy": "",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "version": 1,
    }
    assert case.clinician == clinician
    assert case.client == own_client
    assert case.couple is None
    assert case.presenting_concerns == ["communication", "emotional_intimacy", "trust"]
    [event] = audit_events(action="create")
    assert (event.actor, event.object_type, event.object_ids) == (clinician, "case", [case.id])


def test_open_a_couple_case_for_own_couple(api, clinician, own_couple):
    for partner in own_couple.partners.all():  # both consented to treatment (tests/api/test_consents_safety.py)
        consent_services.consent_record(actor=clinician, client=partner, kind="treatment", method="paper")
    response = api.post(
        CASES,
        {
            "subject_type": "couple",
            "couple": str(own_couple.id),
            "presenting_concerns": ["trust", "conflict", "infidelity", "conflict"],
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["subject_type"] == "couple"
    assert body["couple"] == str(own_couple.id)
    assert body["client"] is None
    assert body["clinician"] == str(clinician.id)
    assert body["status"] == "open"
    assert body["presenting_concerns"] == ["conflict", "infidelity", "trust"]
    assert body["confidentiality_policy"] == "limited_secrets"
    case = Case.objects.get(pk=body["id"])
    assert (case.couple, case.client, case.clinician) == (own_couple, None, clinician)
    assert case.presenting_concerns == ["conflict", "infidelity", "trust"]


def test_the_caller_cannot_name_another_clinician_as_holder(api, clinician, other_clinician, own_client):
    response = api.post(
        CASES,
        {"subject_type": "individual", "client": str(own_client.id), "clinician": str(other_clinician.id)},
    )

    assert response.status_code == 201
    assert response.json()["clinician"] == str(clinician.id)
    assert Case.objects.get().clinician == clinician


def test_case_create_honours_idempotency_key(api, own_client):
    key = str(uuid.uuid4())
    payload = {"subject_type": "individual", "client": str(own_client.id)}

    first = api.post(CASES, payload, HTTP_IDEMPOTENCY_KEY=key)
    second = api.post(CASES, payload, HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("subject_type", "give_client", "give_couple", "field"),
    [
        ("individual", True, True, "client"),  # both subjects
        ("couple", True, True, "couple"),  # both subjects
        ("individual", False, True, "client"),  # a couple for an individual case
        ("couple", True, False, "couple"),  # a client for a couple case
        ("individual", False, False, "client"),  # no subject at all
        ("couple", False, False, "couple"),
    ],
)
def test_subject_must_be_exactly_the_one_subject_type_names(
    api, own_client, own_couple, subject_type, give_client, give_couple, field
):
    payload = {"subject_type": subject_type}
    if give_client:
        payload["client"] = str(own_client.id)
    if give_couple:
        payload["couple"] = str(own_couple.id)

    response = api.post(CASES, payload)

    body = assert_problem(response, 400, "invalid")
    assert error_fields(body) == [field]
    assert not Case.objects.exists()
    assert not audit_events(action="create")


@pytest.mark.parametrize("subject_type", ["individual", "couple"])
def test_database_refuses_a_case_with_both_client_and_couple(clinician, own_client, own_couple, subject_type):
    with pytest.raises(IntegrityError, match="case_has_exactly_one_subject"), transaction.atomic():
        Case.objects.create(
            subject_type=subject_type,
            client=own_client,
            couple=own_couple,
            clinician=clinician,
            confidentiality_policy="limited_secrets" if subject_type == "couple" else "",
        )

    assert not Case.objects.exists()


def test_database_refuses_a_case_without_a_subject(clinician):
    with pytest.raises(IntegrityError, match="case_has_exactly_one_subject"), transaction.atomic():
        Case.objects.create(subject_type="individual", clinician=clinician)

    assert not Case.objects.exists()


def test_unknown_presenting_concern_is_400(api, own_client):
    response = api.post(
        CASES,
        {"subject_type": "individual", "client": str(own_client.id), "presenting_concerns": ["trust", "jealousy"]},
    )

    body = assert_problem(response, 400, "invalid")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("presenting_concerns.1", "invalid_choice")]
    assert not Case.objects.exists()


def test_unknown_subject_type_is_400(api, own_client):
    response = api.post(CASES, {"subject_type": "family", "client": str(own_client.id)})

    body = assert_problem(response, 400, "invalid")
    assert error_fields(body) == ["subject_type"]
    assert not Case.objects.exists()


@pytest.mark.parametrize("field", ["client", "couple"])
def test_a_client_or_couple_of_another_clinician_is_400_naming_the_field(api, other_clinician, field):
    foreign_client = ClientFactory(primary_clinician=other_clinician, given_name="Zebulon")
    foreign = foreign_client if field == "client" else CoupleFactory(partners=[foreign_client, ClientFactory()])
    subject_type = "individual" if field == "client" else "couple"

    unknown_id = str(uuid.uuid4())
    response = api.post(CASES, {"subject_type": subject_type, field: str(foreign.id)})
    unknown = api.post(CASES, {"subject_type": subject_type, field: unknown_id})

    body = assert_problem(response, 400, "invalid")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, "does_not_exist")]
    assert "Zebulon" not in response.content.decode()
    # Another clinician's record and one that does not exist read alike.
    unknown_body = assert_problem(unknown, 400, "invalid")
    assert [(e["field"], e["code"]) for e in unknown_body["errors"]] == [(field, "does_not_exist")]
    assert body["errors"][0]["message"].replace(str(foreign.id), "X") == unknown_body["errors"][0]["message"].replace(
        unknown_id, "X"
    )
    assert not Case.objects.exists()


def test_a_supervisor_cannot_open_a_case_for_a_supervisees_client(supervisor_api, clinician, own_client):
    response = supervisor_api.post(CASES, {"subject_type": "individual", "client": str(own_client.id)})

    body = assert_problem(response, 400, "invalid")
    assert error_fields(body) == ["client"]
    assert not Case.objects.exists()


def test_an_ended_couple_gets_no_new_case(api, clinician):
    ended = CoupleFactory(status="ended", partners__clinician=clinician)

    response = api.post(CASES, {"subject_type": "couple", "couple": str(ended.id)})

    assert_problem(response, 409, "couple_ended")
    assert not Case.objects.exists()
    assert not audit_events(action="create")


def test_admin_reads_no_cases(call_as, admin_user, case):
    response = call_as(admin_user, ["admin", "clinical:read"]).get(CASES)

    assert_problem(response, 403, "role_not_allowed")
    assert str(case.id) not in response.content.decode()


def test_a_read_only_token_cannot_open_a_case(call_as, clinician, own_client):
    response = call_as(clinician, ["clinical:read"]).post(
        CASES, {"subject_type": "individual", "client": str(own_client.id)}
    )

    assert_problem(response, 403, "insufficient_scope")
    assert not Case.objects.exists()


# ================================================================ cases: reading, changing


def test_clinician_reads_own_case_with_etag_and_an_audit_event(api, clinician, case):
    response = api.get(f"{CASES}{case.id}/")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["id"] == str(case.id)
    assert response.json()["client"] == str(case.client_id)
    [event] = audit_events(action="read")
    assert (event.actor, event.object_type, event.object_ids) == (clinician, "case", [case.id])


def test_patch_presenting_concerns_with_if_match(api, case):
    response = api.patch(
        f"{CASES}{case.id}/", {"presenting_concerns": ["trust", "parenting", "trust"]}, HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200, response.json()
    assert response.json()["presenting_concerns"] == ["parenting", "trust"]
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'
    case.refresh_from_db()
    assert (case.presenting_concerns, case.version) == (["parenting", "trust"], 2)


def test_patch_case_without_if_match_is_428_and_stale_is_412(api, case):
    before = row(case)

    missing = api.patch(f"{CASES}{case.id}/", {"presenting_concerns": ["trust"]})
    stale = api.patch(f"{CASES}{case.id}/", {"presenting_concerns": ["trust"]}, HTTP_IF_MATCH='"7"')

    assert_problem(missing, 428, "precondition_required")
    assert_problem(stale, 412, "stale_version")
    assert row(case) == before


def test_pause_resume_close(api, clinician, case):
    paused = api.post(f"{CASES}{case.id}/pause/")
    assert paused.status_code == 200, paused.json()
    assert (paused.json()["status"], paused.json()["version"], paused["ETag"]) == ("paused", 2, '"2"')

    resumed = api.post(f"{CASES}{case.id}/resume/")
    assert resumed.status_code == 200, resumed.json()
    assert (resumed.json()["status"], resumed.json()["version"]) == ("open", 3)

    closed = api.post(f"{CASES}{case.id}/close/", {"closing_reason": "  Goals met; both partners agree.  "})
    assert closed.status_code == 200, closed.json()
    body = closed.json()
    today = timezone.localdate()
    assert (body["status"], body["closed_on"], body["closing_reason"], body["version"]) == (
        "closed",
        today.isoformat(),
        "Goals met; both partners agree.",
        4,
    )
    case.refresh_from_db()
    assert (case.status, case.closed_on, case.closing_reason, case.version) == (
        "closed",
        today,
        "Goals met; both partners agree.",
        4,
    )
    events = audit_events(object_type="case", action__in=["pause", "resume", "close"])
    assert [(e.action, e.detail, e.actor) for e in events] == [
        ("pause", {"from": "open", "to": "paused"}, clinician),
        ("resume", {"from": "paused", "to": "open"}, clinician),
        ("close", {"from": "open", "to": "closed"}, clinician),
    ]


def test_a_paused_case_can_be_closed(api, clinician):
    case = CaseFactory(clinician=clinician, status=CaseStatus.PAUSED)

    response = api.post(f"{CASES}{case.id}/close/", {"closing_reason": "moved away"})

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert Case.objects.get(pk=case.pk).status == "closed"


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        ("open", "resume", ["pause", "close"]),
        ("paused", "pause", ["resume", "close"]),
        ("closed", "pause", []),
        ("closed", "resume", []),
        ("closed", "close", []),
    ],
)
def test_an_action_not_allowed_from_the_current_status_is_409(api, clinician, status, action, allowed):
    case = closed_case(clinician) if status == "closed" else CaseFactory(clinician=clinician, status=status)
    before = row(case)
    audit_before = AuditEvent.objects.count()

    response = api.post(f"{CASES}{case.id}/{action}/", {"closing_reason": "again"})

    body = assert_problem(response, 409, "case_transition_not_allowed")
    assert sorted(body["allowed_actions"]) == sorted(allowed)
    assert row(case) == before
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize("payload", [{}, {"closing_reason": ""}, {"closing_reason": "   "}])
def test_close_needs_a_reason(api, case, payload):
    before = row(case)

    response = api.post(f"{CASES}{case.id}/close/", payload)

    body = assert_problem(response, 400, "invalid")
    assert error_fields(body) == ["closing_reason"]
    assert row(case) == before


def test_a_closed_case_takes_no_new_goals(api, clinician):
    case = closed_case(clinician)

    response = api.post(GOALS, {"case": str(case.id), "domain": "communication", "title": "Weekly check-in"})

    assert_problem(response, 409, "case_closed")
    assert not TreatmentGoal.objects.exists()


def test_a_closed_case_takes_no_new_notes(api, clinician):
    case = closed_case(clinician)

    response = api.post(
        "/api/v1/notes/",
        {
            "case": str(case.id),
            "session_date": (timezone.localdate() - timedelta(days=1)).isoformat(),
            "format": "narrative",
            "sections": {"body": "Talked about the week."},
        },
    )

    assert_problem(response, 409, "case_closed")
    assert not ProgressNote.objects.exists()


def test_supervisor_reads_a_supervisees_case(supervisor_api, supervisor, case):
    detail = supervisor_api.get(f"{CASES}{case.id}/")
    listed = supervisor_api.get(CASES)

    assert detail.status_code == 200
    assert detail.json()["id"] == str(case.id)
    assert ids(listed) == {str(case.id)}
    assert [e.object_ids for e in audit_events(actor=supervisor, action="read", object_type="case")] == [
        [case.id],
        [case.id],
    ]


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("post", "pause/", {}),
        ("post", "close/", {"closing_reason": "done"}),
        ("patch", "", {"presenting_concerns": ["trust"]}),
    ],
)
def test_supervisor_cannot_change_a_supervisees_case(supervisor_api, case, method, suffix, payload):
    before = row(case)

    response = getattr(supervisor_api, method)(f"{CASES}{case.id}/{suffix}", payload, HTTP_IF_MATCH='"1"')

    assert_problem(response, 403, "not_case_clinician")
    assert row(case) == before


def test_supervisor_cannot_resume_a_supervisees_paused_case(supervisor_api, clinician):
    case = CaseFactory(clinician=clinician, status=CaseStatus.PAUSED)
    before = row(case)

    response = supervisor_api.post(f"{CASES}{case.id}/resume/")

    assert_problem(response, 403, "not_case_clinician")
    assert row(case) == before


def test_a_supervisor_whose_supervision_ended_no_longer_sees_the_case(supervisor_api, clinician, case):
    Supervision.objects.filter(supervisee=clinician).update(ended_on=timezone.localdate())

    assert_problem(supervisor_api.get(f"{CASES}{case.id}/"), 404, "not_found")
    assert ids(supervisor_api.get(CASES)) == set()


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"presenting_concerns": ["trust"]}),
        ("post", "pause/", {}),
        ("post", "resume/", {}),
        ("post", "close/", {"closing_reason": "done"}),
    ],
)
def test_another_clinicians_case_is_404(other_api, case, method, suffix, payload):
    before = row(case)

    response = getattr(other_api, method)(f"{CASES}{case.id}/{suffix}", payload, HTTP_IF_MATCH='"1"')

    assert_problem(response, 404, "not_found")
    assert str(case.client_id) not in response.content.decode()
    assert row(case) == before


def test_an_unknown_case_is_404(api):
    assert_problem(api.get(f"{CASES}{uuid.uuid4()}/"), 404, "not_found")


# ================================================================ cases: listing


def test_case_list_filters(api, clinician, other_clinician, own_client, own_couple):
    individual = CaseFactory(clinician=clinician, client=own_client)
    paused = CaseFactory(clinician=clinician, status=CaseStatus.PAUSED)
    of_couple = couple_case(clinician, couple=own_couple)
    closed = closed_case(clinician)
    CaseFactory(clinician=other_clinician)  # never listed

    assert ids(api.get(CASES)) == {str(c.id) for c in (individual, paused, of_couple, closed)}
    assert ids(api.get(CASES, {"status": "open"})) == {str(individual.id), str(of_couple.id)}
    assert ids(api.get(CASES, {"status": "paused"})) == {str(paused.id)}
    assert ids(api.get(CASES, {"status": "closed"})) == {str(closed.id)}
    assert ids(api.get(CASES, {"subject_type": "couple"})) == {str(of_couple.id)}
    assert ids(api.get(CASES, {"subject_type": "individual"})) == {str(c.id) for c in (individual, paused, closed)}
    assert ids(api.get(CASES, {"client": str(own_client.id)})) == {str(individual.id)}
    assert ids(api.get(CASES, {"couple": str(own_couple.id)})) == {str(of_couple.id)}
    assert ids(api.get(CASES, {"subject_type": "individual", "status": "open"})) == {str(individual.id)}


def test_case_list_filter_with_an_unknown_status_is_400(api, case):
    body = assert_problem(api.get(CASES, {"status": "archived"}), 400, "invalid")
    assert error_fields(body) == ["status"]


@pytest.mark.parametrize("field", ["client", "couple"])
def test_case_list_filter_naming_a_foreign_or_unknown_subject_is_404(api, other_clinician, case, field):
    foreign_case = CaseFactory(clinician=other_clinician) if field == "client" else couple_case(other_clinician)
    foreign_id = str(getattr(foreign_case, f"{field}_id"))

    foreign = api.get(CASES, {field: foreign_id})
    unknown = api.get(CASES, {field: str(uuid.uuid4())})

    assert_problem(foreign, 404, "not_found")
    assert_problem(unknown, 404, "not_found")
    assert str(foreign_case.id) not in foreign.content.decode()
    assert not audit_events(action="read")


def test_case_list_query_count_is_the_same_for_1_and_20_cases(api, clinician, count_queries):
    CaseFactory(clinician=clinician)
    one = count_queries(lambda: api.get(CASES))
    for n in range(19):
        if n % 2:
            couple_case(clinician)
        else:
            CaseFactory(clinician=clinician)
    many = count_queries(lambda: api.get(CASES))

    assert len(results(api.get(CASES))) == 20
    assert one == many


# ================================================================ goals: create, change


def test_create_a_goal_without_gas_levels(api, clinician, case):
    response = api.post(
        GOALS,
        {
            "case": str(case.id),
            "domain": "communication",
            "title": "Daily ten-minute check-in",
            "description": "Each partner shares one feeling with an I statement.",
            "target_date": (timezone.localdate() + timedelta(days=60)).isoformat(),
            # Lifecycle is not settable on create: every goal starts proposed.
            "lifecycle_status": "active",
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    goal = TreatmentGoal.objects.get()
    assert response["ETag"] == '"1"'
    assert body == {
        "id": str(goal.id),
        "case": str(case.id),
        "domain": "communication",
        "title": "Daily ten-minute check-in",
        "description": "Each partner shares one feeling with an I statement.",
        "priority": "medium",
        "start_date": timezone.localdate().isoformat(),
        "target_date": (timezone.localdate() + timedelta(days=60)).isoformat(),
        "lifecycle_status": "proposed",
        "achievement_status": "in_progress",
        "gas_levels": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "version": 1,
    }
    assert (goal.case, goal.lifecycle_status, goal.gas_levels) == (case, "proposed", None)
    [event] = audit_events(action="create")
    assert (event.actor, event.object_type, event.object_ids) == (clinician, "goal", [goal.id])


def test_create_a_goal_with_gas_levels(api, case):
    response = api.post(
        GOALS,
        {
            "case": str(case.id),
            "domain": "trust_rebuilding",
            "title": "Keep small promises",
            "priority": "high",
            "gas_levels": gas_levels(),
        },
    )

    assert response.status_code == 201, response.json()
    assert response.json()["gas_levels"] == gas_levels()
    assert response.json()["lifecycle_status"] == "proposed"
    assert response.json()["priority"] == "high"
    assert TreatmentGoal.objects.get().gas_levels == STORED_GAS_LEVELS


@pytest.mark.parametrize(
    "levels",
    [
        {k: v for k, v in gas_levels().items() if k != "much_more"},  # a level missing
        {**gas_levels(), "expected": ""},  # a level without text
        {"somewhat_more": "x", "much_more": "y"},
        STORED_GAS_LEVELS,  # keyed by score: the format before the contract named each level
        ["a", "b", "c", "d", "e"],
        "all fine",
    ],
)
def test_gas_levels_need_all_five_levels(api, case, levels):
    response = api.post(GOALS, {"case": str(case.id), "domain": "communication", "title": "T", "gas_levels": levels})

    body = assert_problem(response, 400, "invalid")
    assert body["errors"]
    assert all(field.startswith("gas_levels") for field in error_fields(body)), body
    assert not TreatmentGoal.objects.exists()


def test_unknown_goal_domain_is_400(api, case):
    response = api.post(GOALS, {"case": str(case.id), "domain": "finances", "title": "Budget"})

    body = assert_problem(response, 400, "invalid")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("domain", "invalid_choice")]
    assert not TreatmentGoal.objects.exists()


def test_target_date_before_start_date_is_400(api, case):
    response = api.post(
        GOALS,
        {
            "case": str(case.id),
            "domain": "communication",
            "title": "T",
            "start_date": "2026-03-01",
            "target_date": "2026-02-01",
        },
    )

    assert_problem(response, 400, "invalid")
    assert not TreatmentGoal.objects.exists()


@pytest.mark.parametrize("which", ["foreign", "unknown"])
def test_a_goal_on_another_clinicians_case_is_400_naming_case(api, foreign_case, which):
    case_id = str(foreign_case.id) if which == "foreign" else str(uuid.uuid4())

    response = api.post(GOALS, {"case": case_id, "domain": "communication", "title": "T"})

    body = assert_problem(response, 400, "invalid")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("case", "does_not_exist")]
    assert not TreatmentGoal.objects.exists()


def test_a_supervisor_cannot_set_a_goal_on_a_supervisees_case(supervisor_api, case):
    response = supervisor_api.post(GOALS, {"case": str(case.id), "domain": "communication", "title": "T"})

    assert_problem(response, 403, "not_case_clinician")
    assert not TreatmentGoal.objects.exists()


def test_patch_a_goal_with_if_match(api, case):
    goal = GoalFactory(case=case, title="Old")

    response = api.patch(
        f"{GOALS}{goal.id}/",
        {
            "title": "Weekly undistracted evening",
            "achievement_status": "improving",
            "gas_levels": gas_levels(),
            "lifecycle_status": "completed",  # not changed by PATCH: only through transition/
        },
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["title"], body["achievement_status"], body["gas_levels"]) == (
        "Weekly undistracted evening",
        "improving",
        gas_levels(),
    )
    assert (body["lifecycle_status"], body["version"], response["ETag"]) == ("active", 2, '"2"')
    goal.refresh_from_db()
    assert (goal.title, goal.achievement_status, goal.lifecycle_status, goal.version) == (
        "Weekly undistracted evening",
        "improving",
        "active",
        2,
    )


def test_patch_a_goal_without_if_match_is_428_and_stale_is_412(api, case):
    goal = GoalFactory(case=case, title="Old")
    before = row(goal)

    missing = api.patch(f"{GOALS}{goal.id}/", {"title": "New"})
    stale = api.patch(f"{GOALS}{goal.id}/", {"title": "New"}, HTTP_IF_MATCH='"2"')

    assert_problem(missing, 428, "precondition_required")
    assert_problem(stale, 412, "stale_version")
    assert row(goal) == before


def test_patch_with_incomplete_gas_levels_is_400(api, case):
    goal = GoalFactory(case=case)
    before = row(goal)

    response = api.patch(f"{GOALS}{goal.id}/", {"gas_levels": {"expected": "expected"}}, HTTP_IF_MATCH='"1"')

    body = assert_problem(response, 400, "invalid")
    assert all(field.startswith("gas_levels") for field in error_fields(body))
    assert row(goal) == before


def test_a_goal_entered_in_error_refuses_patch(api, case):
    goal = GoalFactory(case=case, lifecycle_status=GoalLifecycle.ENTERED_IN_ERROR)
    before = row(goal)

    response = api.patch(f"{GOALS}{goal.id}/", {"title": "Fixed"}, HTTP_IF_MATCH='"1"')

    assert_problem(response, 409, "goal_entered_in_error")
    assert row(goal) == before


def test_a_paused_case_still_takes_new_goals(api, clinician):
    case = CaseFactory(clinician=clinician, status=CaseStatus.PAUSED)

    response = api.post(GOALS, {"case": str(case.id), "domain": "other", "title": "Plan the return"})

    assert response.status_code == 201, response.json()
    assert TreatmentGoal.objects.get().case == case


def test_a_goal_on_a_closed_case_refuses_patch(api, clinician):
    goal = GoalFactory(case=closed_case(clinician), title="As it was")
    before = row(goal)

    response = api.patch(f"{GOALS}{goal.id}/", {"title": "Rewritten"}, HTTP_IF_MATCH='"1"')

    assert_problem(response, 409, "case_closed")
    assert row(goal) == before


# ================================================================ goals: lifecycle


@pytest.mark.parametrize(("source", "target"), ALLOWED_PAIRS)
def test_every_allowed_goal_transition_succeeds(api, clinician, case, source, target):
    goal = GoalFactory(case=case, lifecycle_status=source)

    response = api.post(f"{GOALS}{goal.id}/transition/", {"to": target})

    assert response.status_code == 200, response.json()
    assert response.json()["lifecycle_status"] == target
    assert response.json()["version"] == 2
    goal.refresh_from_db()
    assert (goal.lifecycle_status, goal.version) == (target, 2)
    [event] = audit_events(action="transition")
    assert (event.actor, event.object_type, event.object_ids, event.detail) == (
        clinician,
        "goal",
        [goal.id],
        {"from": source, "to": target},
    )


@pytest.mark.parametrize(("source", "target"), REFUSED_PAIRS)
def test_every_other_goal_transition_is_409_with_the_allowed_ones(api, case, source, target):
    goal = GoalFactory(case=case, lifecycle_status=source)
    before = row(goal)

    response = api.post(f"{GOALS}{goal.id}/transition/", {"to": target})

    body = assert_problem(response, 409, "transition_not_allowed")
    assert sorted(body["allowed"]) == sorted(ALLOWED_GOAL_MOVES[source])
    assert row(goal) == before
    assert not audit_events(action="transition")


def test_transition_to_an_unknown_status_is_400(api, case):
    goal = GoalFactory(case=case)
    before = row(goal)

    body = assert_problem(api.post(f"{GOALS}{goal.id}/transition/", {"to": "done"}), 400, "invalid")

    assert error_fields(body) == ["to"]
    assert row(goal) == before


def test_a_goal_goes_proposed_active_on_hold_active_completed(api, case):
    goal = GoalFactory(case=case, lifecycle_status=GoalLifecycle.PROPOSED)

    for target in ["active", "on_hold", "active", "completed"]:
        response = api.post(f"{GOALS}{goal.id}/transition/", {"to": target})
        assert response.status_code == 200, (target, response.json())

    goal.refresh_from_db()
    assert (goal.lifecycle_status, goal.version) == ("completed", 5)


# ================================================================ goals: reading, scope


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"title": "Mine now"}),
        ("post", "transition/", {"to": "completed"}),
        ("post", "gas-ratings/", {"score": 1}),
        ("get", "gas-ratings/", None),
    ],
)
def test_another_clinicians_goal_is_404(other_api, case, method, suffix, payload):
    goal = GoalFactory(case=case, title="Rebuild trust after the affair", gas_levels=GAS_LEVELS)
    before = row(goal)

    response = getattr(other_api, method)(f"{GOALS}{goal.id}/{suffix}", payload, HTTP_IF_MATCH='"1"')

    assert_problem(response, 404, "not_found")
    assert "Rebuild trust" not in response.content.decode()
    assert row(goal) == before
    assert not GoalAttainmentRating.objects.exists()


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("patch", "", {"title": "Supervisor's wording"}),
        ("post", "transition/", {"to": "completed"}),
        ("post", "gas-ratings/", {"score": 1}),
    ],
)
def test_supervisor_reads_but_cannot_change_a_supervisees_goal(supervisor_api, case, method, suffix, payload):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)
    before = row(goal)

    assert supervisor_api.get(f"{GOALS}{goal.id}/").status_code == 200
    response = getattr(supervisor_api, method)(f"{GOALS}{goal.id}/{suffix}", payload, HTTP_IF_MATCH='"1"')

    assert_problem(response, 403, "not_case_clinician")
    assert row(goal) == before
    assert not GoalAttainmentRating.objects.exists()


def test_goal_list_filters(api, clinician, case, foreign_case):
    other_case = couple_case(clinician)
    trust = GoalFactory(case=case, domain="trust_rebuilding", lifecycle_status="active")
    talk = GoalFactory(case=case, domain="communication", lifecycle_status="proposed")
    fight = GoalFactory(case=other_case, domain="conflict_resolution", lifecycle_status="active")
    GoalFactory(case=foreign_case, domain="trust_rebuilding")  # never listed

    assert ids(api.get(GOALS)) == {str(trust.id), str(talk.id), str(fight.id)}
    assert ids(api.get(GOALS, {"case": str(case.id)})) == {str(trust.id), str(talk.id)}
    assert ids(api.get(GOALS, {"case": str(other_case.id)})) == {str(fight.id)}
    assert ids(api.get(GOALS, {"domain": "trust_rebuilding"})) == {str(trust.id)}
    assert ids(api.get(GOALS, {"lifecycle_status": "active"})) == {str(trust.id), str(fight.id)}
    assert ids(api.get(GOALS, {"case": str(case.id), "lifecycle_status": "active"})) == {str(trust.id)}
    assert ids(api.get(GOALS, {"lifecycle_status": "completed"})) == set()


@pytest.mark.parametrize("param", [{"domain": "finances"}, {"lifecycle_status": "done"}])
def test_goal_list_with_an_unknown_choice_is_400(api, case, param):
    body = assert_problem(api.get(GOALS, param), 400, "invalid")
    assert error_fields(body) == list(param)


def test_goal_list_filter_naming_a_foreign_or_unknown_case_is_404(api, case, foreign_case):
    GoalFactory(case=foreign_case, title="Someone else's goal")

    foreign = api.get(GOALS, {"case": str(foreign_case.id)})
    unknown = api.get(GOALS, {"case": str(uuid.uuid4())})

    assert_problem(foreign, 404, "not_found")
    assert_problem(unknown, 404, "not_found")
    assert "Someone else" not in foreign.content.decode()
    assert not audit_events(action="read")


def test_goal_list_writes_a_read_event_with_the_returned_ids(api, clinician, case):
    goals = [GoalFactory(case=case) for _ in range(3)]

    response = api.get(GOALS)

    assert ids(response) == {str(g.id) for g in goals}
    [event] = audit_events(action="read")
    assert (event.actor, event.object_type) == (clinician, "goal")
    assert sorted(event.object_ids) == sorted(g.id for g in goals)


def test_goal_list_query_count_is_the_same_for_1_and_20_goals(api, clinician, case, count_queries):
    GoalFactory(case=case, gas_levels=GAS_LEVELS)
    one = count_queries(lambda: api.get(GOALS))
    second_case = couple_case(clinician)
    for n in range(19):
        GoalFactory(case=case if n % 2 else second_case, gas_levels=GAS_LEVELS if n % 3 else None)
    many = count_queries(lambda: api.get(GOALS))

    assert len(results(api.get(GOALS))) == 20
    assert one == many


# ================================================================ goals: GAS ratings


def test_record_a_gas_rating(api, clinician, case):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)
    rated_on = timezone.localdate() - timedelta(days=3)

    response = api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": -1, "rated_on": rated_on.isoformat()})

    assert response.status_code == 201, response.json()
    rating = GoalAttainmentRating.objects.get()
    assert response.json() == {
        "id": str(rating.id),
        "goal": str(goal.id),
        "rated_on": rated_on.isoformat(),
        "score": -1,
        "rated_by": str(clinician.id),
        "created_at": response.json()["created_at"],
    }
    assert (rating.goal, rating.score, rating.rated_on, rating.rated_by) == (goal, -1, rated_on, clinician)
    [event] = audit_events(action="create")
    assert (event.object_type, event.object_ids, event.detail) == ("gas_rating", [rating.id], {"goal": str(goal.id)})


@pytest.mark.parametrize("score", [-2, 0, 2])
def test_a_gas_rating_defaults_to_today(api, case, score):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)

    response = api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": score})

    assert response.status_code == 201, response.json()
    assert response.json()["rated_on"] == timezone.localdate().isoformat()
    assert GoalAttainmentRating.objects.get().score == score


def test_a_goal_without_gas_levels_cannot_be_rated(api, case):
    goal = GoalFactory(case=case, gas_levels=None)

    response = api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": 1})

    assert_problem(response, 409, "gas_levels_missing")
    assert not GoalAttainmentRating.objects.exists()


@pytest.mark.parametrize("score", [3, -3, 1.5, "high", None])
def test_a_gas_score_outside_minus_two_to_two_is_400(api, case, score):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)

    response = api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": score})

    body = assert_problem(response, 400, "invalid")
    assert error_fields(body) == ["score"]
    assert not GoalAttainmentRating.objects.exists()


def test_a_second_rating_on_the_same_date_is_409(api, case):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    first = api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": 0, "rated_on": day})
    assert first.status_code == 201

    second = api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": 2, "rated_on": day})

    assert_problem(second, 409, "gas_already_rated")
    assert list(GoalAttainmentRating.objects.values_list("rated_on", "score")) == [
        (timezone.localdate() - timedelta(days=1), 0)
    ]
    assert len(audit_events(object_type="gas_rating", action="create")) == 1


def test_a_rating_dated_in_the_future_is_400(api, case):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)

    response = api.post(
        f"{GOALS}{goal.id}/gas-ratings/",
        {"score": 1, "rated_on": (timezone.localdate() + timedelta(days=1)).isoformat()},
    )

    body = assert_problem(response, 400, "invalid")
    assert error_fields(body) == ["rated_on"]
    assert not GoalAttainmentRating.objects.exists()


def test_a_goal_entered_in_error_cannot_be_rated(api, case):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS, lifecycle_status=GoalLifecycle.ENTERED_IN_ERROR)

    assert_problem(api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": 1}), 409, "goal_entered_in_error")
    assert not GoalAttainmentRating.objects.exists()


def test_list_gas_ratings_paginated(api, clinician, case):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)
    ratings = [GASRatingFactory(goal=goal, score=s) for s in (-2, -1, 0)]
    GASRatingFactory(goal=GoalFactory(case=case, gas_levels=GAS_LEVELS))  # another goal's rating

    first_page = api.get(f"{GOALS}{goal.id}/gas-ratings/", {"page_size": 2})

    assert first_page.status_code == 200
    page = first_page.json()
    assert [r["id"] for r in page["results"]] == [str(r.id) for r in ratings[:2]]
    assert page["results"][0] == {
        "id": str(ratings[0].id),
        "goal": str(goal.id),
        "rated_on": ratings[0].rated_on.isoformat(),
        "score": -2,
        "rated_by": str(clinician.id),
        "created_at": page["results"][0]["created_at"],
    }
    assert page["previous"] is None
    second_page = api.get(page["next"])
    assert [r["id"] for r in results(second_page)] == [str(ratings[2].id)]
    assert second_page.json()["next"] is None
    events = audit_events(action="read", object_type="gas_rating")
    assert [e.object_ids for e in events] == [[r.id for r in ratings[:2]], [ratings[2].id]]


def test_supervisor_lists_a_supervisees_gas_ratings(supervisor_api, case):
    rating = GASRatingFactory(goal=GoalFactory(case=case, gas_levels=GAS_LEVELS))

    assert ids(supervisor_api.get(f"{GOALS}{rating.goal_id}/gas-ratings/")) == {str(rating.id)}


def test_gas_rating_list_query_count_is_the_same_for_1_and_20_ratings(api, case, count_queries):
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)
    url = f"{GOALS}{goal.id}/gas-ratings/"
    GASRatingFactory(goal=goal)
    one = count_queries(lambda: api.get(url))
    for _ in range(19):
        GASRatingFactory(goal=goal)
    many = count_queries(lambda: api.get(url))

    assert len(results(api.get(url))) == 20
    assert one == many


# ================================================================ me/goals: a client's own goals

MY_GOAL_FIELDS = {"id", "title", "domain", "lifecycle_status", "achievement_status", "updated_at"}


@pytest.fixture
def me_client(client_user, clinician):
    """The Client record whose login is `client_user`."""
    return ClientFactory(primary_clinician=clinician, user=client_user)


def test_a_client_sees_the_goals_of_their_own_and_their_couples_cases(
    client_api, client_user, me_client, clinician, other_clinician
):
    partner = ClientFactory(primary_clinician=clinician, given_name="Partner")
    own_case = CaseFactory(clinician=clinician, client=me_client)
    shared_case = couple_case(clinician, couple=CoupleFactory(partners=[me_client, partner]))
    mine = GoalFactory(case=own_case, title="Name one feeling a day", domain="emotional_intimacy")
    ours = GoalFactory(
        case=shared_case,
        title="Weekly check-in",
        domain="communication",
        lifecycle_status="proposed",
        achievement_status="improving",
        description="Private clinical reasoning",
    )
    GoalFactory(case=own_case, title="Written by mistake", lifecycle_status="entered_in_error")
    # Not theirs: the partner's own case, another client's case, another clinician's couple.
    GoalFactory(case=CaseFactory(clinician=clinician, client=partner), title="Partner's private goal")
    GoalFactory(case=CaseFactory(clinician=clinician), title="Stranger's goal")
    GoalFactory(case=couple_case(other_clinician), title="Another couple's goal")

    response = client_api.get(MY_GOALS)

    assert response.status_code == 200, response.content
    body = results(response)
    assert {item["id"]: item["title"] for item in body} == {
        str(mine.id): "Name one feeling a day",
        str(ours.id): "Weekly check-in",
    }
    for item in body:
        assert set(item) == MY_GOAL_FIELDS
    ours_row = next(item for item in body if item["id"] == str(ours.id))
    assert (ours_row["domain"], ours_row["lifecycle_status"], ours_row["achievement_status"]) == (
        "communication",
        "proposed",
        "improving",
    )
    content = response.content.decode()
    for secret in (
        "Private clinical reasoning",
        "Written by mistake",
        "Partner's private goal",
        "Stranger's goal",
        "Another couple's goal",
        str(own_case.id),
        str(shared_case.id),
    ):
        assert secret not in content


def test_the_partner_sees_the_couple_goals_too(call_as, clinician):
    partner_user = UserFactory(role=Role.CLIENT)
    me = ClientFactory(primary_clinician=clinician)
    partner = ClientFactory(primary_clinician=clinician, user=partner_user)
    shared = GoalFactory(case=couple_case(clinician, couple=CoupleFactory(partners=[me, partner])))
    GoalFactory(case=CaseFactory(clinician=clinician, client=me))

    assert ids(call_as(partner_user, ["homework"]).get(MY_GOALS)) == {str(shared.id)}


def test_a_client_without_a_client_record_sees_no_goals(client_api, case):
    GoalFactory(case=case)

    assert results(client_api.get(MY_GOALS)) == []


def test_my_goals_writes_a_read_event_with_the_returned_ids(client_api, client_user, me_client, clinician):
    case = CaseFactory(clinician=clinician, client=me_client)
    goals = [GoalFactory(case=case) for _ in range(2)]
    GoalFactory(case=CaseFactory(clinician=clinician))

    response = client_api.get(MY_GOALS)

    assert ids(response) == {str(g.id) for g in goals}
    [event] = audit_events(action="read")
    assert (event.actor, event.actor_role, event.object_type) == (client_user, "client", "goal")
    assert sorted(event.object_ids) == sorted(g.id for g in goals)


def test_my_goals_needs_the_homework_scope(call_as, client_user, me_client, clinician):
    GoalFactory(case=CaseFactory(clinician=clinician, client=me_client), title="Hidden without scope")

    response = call_as(client_user, ["clinical:read", "clinical:write", "reports"]).get(MY_GOALS)

    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scopes"] == [["homework"]]
    assert "Hidden without scope" not in response.content.decode()
    assert not audit_events(action="read")


def test_a_clinician_calling_my_goals_is_403(call_as, clinician, case):
    GoalFactory(case=case)

    response = call_as(clinician, ["clinical:read", "homework"]).get(MY_GOALS)

    assert_problem(response, 403, "role_not_allowed")
    assert not audit_events(action="read")


def test_a_client_cannot_reach_the_clinical_goal_endpoints(call_as, client_user, me_client, clinician):
    goal = GoalFactory(case=CaseFactory(clinician=clinician, client=me_client))
    api = call_as(client_user, ["homework", "clinical:read"])

    assert_problem(api.get(GOALS), 403, "role_not_allowed")
    assert_problem(api.get(f"{GOALS}{goal.id}/"), 403, "role_not_allowed")
    assert_problem(api.get(CASES), 403, "role_not_allowed")


def test_my_goals_is_read_only(call_as, client_user, me_client, clinician):
    goal = GoalFactory(case=CaseFactory(clinician=clinician, client=me_client), title="Kept")
    api = call_as(client_user, ["homework", "clinical:write"])

    assert_problem(api.post(MY_GOALS, {"title": "x"}), 405, "method_not_allowed")
    assert_problem(api.patch(f"{MY_GOALS}{goal.id}/", {"title": "x"}), 404, "not_found")  # no detail route
    assert TreatmentGoal.objects.get().title == "Kept"


def test_my_goals_query_count_is_the_same_for_1_and_20_goals(client_api, me_client, clinician, count_queries):
    own_case = CaseFactory(clinician=clinician, client=me_client)
    shared_case = couple_case(clinician, couple=CoupleFactory(partners=[me_client, ClientFactory()]))
    GoalFactory(case=own_case)
    one = count_queries(lambda: client_api.get(MY_GOALS))
    for n in range(19):
        GoalFactory(case=own_case if n % 2 else shared_case)
    many = count_queries(lambda: client_api.get(MY_GOALS))

    assert len(results(client_api.get(MY_GOALS))) == 20
    assert one == many


# ---------------------------------------------------------------- a closed case is frozen; If-Match on actions


def test_a_closed_case_is_frozen_for_goal_changes_and_ratings(call_as, clinician):
    case = closed_case(clinician)
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS)
    api = call_as(clinician, READ_WRITE)
    before_goal, before_case = row(goal), row(case)

    assert_problem(api.post(f"{GOALS}{goal.id}/transition/", {"to": "completed"}), 409, "case_closed")
    assert_problem(api.post(f"{GOALS}{goal.id}/gas-ratings/", {"score": 1}), 409, "case_closed")
    assert_problem(
        api.patch(f"{CASES}{case.id}/", {"presenting_concerns": ["trust"]}, HTTP_IF_MATCH="*"), 409, "case_closed"
    )
    assert (row(goal), row(case)) == (before_goal, before_case)
    assert not GoalAttainmentRating.objects.exists()


def test_gas_levels_cannot_be_removed_once_rated(call_as, clinician):
    rating = GASRatingFactory(goal__case=CaseFactory(clinician=clinician))
    api = call_as(clinician, READ_WRITE)

    response = api.patch(f"{GOALS}{rating.goal_id}/", {"gas_levels": None}, format="json", HTTP_IF_MATCH="*")

    assert_problem(response, 409, "gas_levels_in_use")
    assert TreatmentGoal.objects.get(pk=rating.goal_id).gas_levels == GAS_LEVELS
    reworded = gas_levels({**GAS_LEVELS, "0": "one kept promise a week"})
    assert (
        api.patch(f"{GOALS}{rating.goal_id}/", {"gas_levels": reworded}, format="json", HTTP_IF_MATCH="*").status_code
        == 200
    )


def test_a_case_cannot_open_in_the_future(call_as, clinician):
    client = ClientFactory(primary_clinician=clinician)
    future = timezone.localdate() + timedelta(days=3)

    response = call_as(clinician, READ_WRITE).post(
        CASES, {"subject_type": "individual", "client": str(client.id), "opened_on": future.isoformat()}
    )

    assert response.status_code == 400
    assert error_fields(response.json()) == ["opened_on"]
    assert not Case.objects.exists()


def test_actions_honour_an_optional_if_match(call_as, clinician):
    case = CaseFactory(clinician=clinician)
    goal = GoalFactory(case=case, lifecycle_status="proposed")
    api = call_as(clinician, READ_WRITE)

    assert_problem(api.post(f"{CASES}{case.id}/pause/", HTTP_IF_MATCH='"7"'), 412, "stale_version")
    assert_problem(
        api.post(f"{GOALS}{goal.id}/transition/", {"to": "active"}, HTTP_IF_MATCH='"7"'), 412, "stale_version"
    )
    assert (row(case)["status"], row(goal)["lifecycle_status"]) == ("open", "proposed")

    assert api.post(f"{CASES}{case.id}/pause/", HTTP_IF_MATCH='"1"').status_code == 200
    assert api.post(f"{GOALS}{goal.id}/transition/", {"to": "active"}, HTTP_IF_MATCH='"1"').status_code == 200
    assert api.post(f"{CASES}{case.id}/resume/").status_code == 200  # without If-Match: whatever is current


def test_a_patch_sends_whole_gas_levels(api, case):
    # A goal's scale is replaced whole: in a PATCH too, every level is required.
    goal = GoalFactory(case=case)
    before = row(goal)

    response = api.patch(f"{GOALS}{goal.id}/", {"gas_levels": {"expected": "one a week"}}, HTTP_IF_MATCH='"1"')

    body = assert_problem(response, 400, "invalid")
    assert {e["field"] for e in body["errors"]} == {
        f"gas_levels.{name}" for name in ("much_less", "somewhat_less", "somewhat_more", "much_more")
    }
    assert row(goal) == before
