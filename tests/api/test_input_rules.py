"""Input no client developer should be surprised by (issue 12, "Edges"): unknown query parameters, instants without
an offset, control characters in any text, dates off the calendar or out of range. Each answers 400 naming the
field and changes nothing."""

import uuid
from datetime import timedelta

import pytest
import yaml
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from clinical.models import AuditEvent, Client, HomeworkSubmission, Role, SubjectType
from clinical.services import homework
from tests.factories import CaseFactory, ClientFactory, CoupleFactory, UserFactory
from tools import schema

API = "/api/v1/"


def problem(response, status=400):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def errors(response) -> dict:
    body = problem(response)
    assert body["code"] == "invalid", body
    return {e["field"]: e["code"] for e in body["errors"]}


@pytest.fixture
def client_with_homework(clinician, catalog):
    """Alex, a client with an app login, and a daily homework with a free-text answer."""
    alex = ClientFactory(primary_clinician=clinician)
    alex.user = UserFactory(role=Role.CLIENT)
    alex.save(update_fields=["user"])
    sam = ClientFactory(primary_clinician=clinician)
    case = CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=CoupleFactory(partners=[alex, sam]))
    assignment = homework.assignment_create(
        actor=clinician,
        case=case,
        exercise=catalog["daily-appreciation-note"],
        assignees=[alex, sam],
        start_date=timezone.localdate() - timedelta(days=3),
    )
    return alex, assignment


# ---------------------------------------------------------------- unknown query parameters


def test_a_misspelt_sync_parameter_is_refused_not_ignored(call_as, client_with_homework):
    alex, _ = client_with_homework
    app = call_as(alex.user, ["homework"])
    reads = AuditEvent.objects.filter(action="read").count()

    response = app.get(f"{API}me/assignments/", {"updated_sinse": timezone.now().isoformat()})

    assert errors(response) == {"updated_sinse": "unknown_parameter"}
    assert "updated_since" in problem(response)["errors"][0]["message"]  # it says what the operation takes
    assert AuditEvent.objects.filter(action="read").count() == reads  # nothing was read
    assert app.get(f"{API}me/assignments/", {"updated_since": timezone.now().isoformat()}).status_code == 200


def test_an_audit_filter_spelt_wrong_answers_400_not_every_event(admin_api):
    response = admin_api.get(f"{API}audit-events/", {"object_id": str(uuid.uuid4())})

    assert errors(response) == {"object_id": "unknown_parameter"}
    assert admin_api.get(f"{API}audit-events/", {"object": str(uuid.uuid4())}).json()["results"] == []


def test_list_parameters_on_a_single_record_or_a_write_are_refused(call_as, clinician):
    case = CaseFactory(clinician=clinician)
    api = call_as(clinician)

    assert errors(api.get(f"{API}cases/{case.pk}/", {"page_size": 5})) == {"page_size": "unknown_parameter"}
    assert errors(api.post(f"{API}clients/?status=active", {"given_name": "A", "family_name": "B"})) == {
        "status": "unknown_parameter"
    }
    assert not Client.objects.filter(given_name="A").exists()


def test_endpoints_that_take_no_parameters_refuse_them(call_as, clinician, anonymous, db):
    assert errors(call_as(clinician).get(f"{API}me/", {"verbose": "1"})) == {"verbose": "unknown_parameter"}
    assert errors(anonymous.get(f"{API}health/", {"deep": "true"})) == {"deep": "unknown_parameter"}


def test_who_may_not_call_learns_that_first(call_as, client_user):
    # Permissions come before parameters: a client asking for the staff list with junk is told its token lacks
    # the scope, not which parameters staff lists take.
    response = call_as(client_user, ["homework"]).get(f"{API}staff/", {"junk": "1"})

    assert problem(response, 403)["code"] == "insufficient_scope"


def _operations():
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "patch", "put", "delete"):
                yield method, path, {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize(
    ("method", "path", "documented"),
    [pytest.param(method, path, names, id=f"{method.upper()} {path}") for method, path, names in _operations()],
)
def test_what_an_operation_takes_is_what_the_contract_lists(db, method, path, documented):
    """The allow-list is not a second declaration: it is computed from the same filters, paginators and query
    serializers the contract is generated from, and this holds the two together for every operation."""
    concrete = path.replace("{id}", str(uuid.uuid4())).replace("{code}", "phq9").replace("{name}", "case.opened")
    concrete = concrete.replace("{number}", "1")
    if path.startswith(f"{API}audit-events/{{"):
        concrete = path.replace("{id}", "1")
    match = resolve(concrete)
    view_class = match.func.cls
    request = APIRequestFactory().generic(method.upper(), concrete)
    actions = getattr(match.func, "actions", None)
    view = view_class(**({"action_map": actions} if actions else {}), **match.func.initkwargs)
    view.setup(request, **match.kwargs)
    view.request = view.initialize_request(request)
    if actions:
        view.action = actions[method]
    assert view.query_parameter_names() == documented


# ---------------------------------------------------------------- instants


@pytest.mark.parametrize("sent", ["2026-11-21T09:30:00", "2026-11-21 09:30", "2026-11-21"])
def test_a_completion_time_without_offset_is_refused(call_as, client_with_homework, sent):
    alex, assignment = client_with_homework
    body = {"assignment": str(assignment.pk), "completed_at": sent, "responses": {"appreciated": "the soup"}}

    response = call_as(alex.user, ["homework"]).post(f"{API}submissions/", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert errors(response) == {"completed_at": "invalid"}
    assert "offset" in problem(response)["errors"][0]["message"]
    assert not HomeworkSubmission.objects.exists()


# ---------------------------------------------------------------- control characters


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f"])
def test_control_characters_are_refused_in_names(call_as, clinician, control):
    response = call_as(clinician).post(f"{API}clients/", {"given_name": f"Al{control}ex", "family_name": "Kim"})

    assert errors(response) == {"given_name": "control_character"}
    assert not Client.objects.exists()


def test_control_characters_are_refused_in_homework_answers(call_as, client_with_homework):
    alex, assignment = client_with_homework
    body = {
        "assignment": str(assignment.pk),
        "completed_at": timezone.now().isoformat(),
        "responses": {"appreciated": "the soup\x00 and the walk"},
    }

    response = call_as(alex.user, ["homework"]).post(f"{API}submissions/", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert errors(response) == {"responses.appreciated": "control_character"}
    assert not HomeworkSubmission.objects.exists()


def test_tabs_and_line_breaks_are_text(call_as, clinician):
    response = call_as(clinician).post(
        f"{API}clients/", {"given_name": "Alex", "family_name": "Kim", "pronouns": "they/\tthem"}
    )

    assert response.status_code == 201, response.content


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("born", ["0001-01-01", "1899-12-31"])
def test_a_birth_date_before_1900_is_refused(call_as, clinician, born):
    response = call_as(clinician).post(f"{API}clients/", {"given_name": "A", "family_name": "B", "date_of_birth": born})

    assert errors(response) == {"date_of_birth": "date_out_of_range"}
    assert not Client.objects.exists()


def test_a_date_on_no_calendar_says_so(call_as, clinician):
    response = call_as(clinician).post(
        f"{API}clients/", {"given_name": "A", "family_name": "B", "date_of_birth": "1990-02-30"}
    )

    assert errors(response) == {"date_of_birth": "impossible_date"}
    assert problem(response)["errors"][0]["message"] == "1990-02-30 is not a date on the calendar."


def test_homework_cannot_be_due_beyond_the_horizon(call_as, clinician, catalog):
    case = CaseFactory(clinician=clinician)
    body = {
        "case": str(case.pk),
        "exercise": str(catalog["daily-appreciation-note"].pk),
        "assignees": [str(case.client_id)],
        "start_date": "9999-12-31",
    }

    response = call_as(clinician).post(f"{API}assignments/", body)

    assert errors(response) == {"start_date": "date_out_of_range"}
    assert not case.assignments.exists()


@pytest.mark.parametrize(("value", "code"), [("2026-02-30", "impossible_date"), ("1066-10-14", "date_out_of_range")])
def test_report_dates_follow_the_same_rules(call_as, clinician, value, code):
    response = call_as(clinician, ["reports"]).get(f"{API}reports/outcomes/", {"from": value})

    assert errors(response) == {"from": code}
