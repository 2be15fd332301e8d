"""The FHIR R4 read API over HTTP, on the demo practice (Alex and Sam in couple therapy): every resource it answers
validates against the R4 models (fhir.resources, R4B package) and its codes against the required value sets;
callers read what the REST API lets them read and nothing more; every clinical read is audited."""

from urllib.parse import quote

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from clinical.models import Assessment, Client, HomeworkSubmission, Role
from clinical.services import goals, measures
from clinical.services.demo import seed_demo
from fhir_r4.search import TYPES
from kernel.models import AuditEvent
from tests.factories import UserFactory, issue_token
from tests.helpers import HOMEWORK, READ_WRITE, Caller

from .value_sets import coded_problems

FHIR = "/fhir/r4/"
FHIR_JSON = "application/fhir+json"


def valid(body: dict) -> dict:
    """The body, after the R4 models have read it (a Bundle, each of its resources) and its codes were checked."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    assert coded_problems(body) == []
    return body


def read(caller, path, status=200, **params) -> dict:
    response = caller.get(FHIR + path, params, HTTP_ACCEPT=FHIR_JSON)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == FHIR_JSON
    return valid(response.json())


def resources(bundle: dict, kind: str | None = None) -> list[dict]:
    assert bundle["resourceType"] == "Bundle"
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


@pytest.fixture
def demo(db):
    users = seed_demo()
    alex = Client.objects.get(user=users["alex"])
    sam = Client.objects.get(user=users["sam"])
    return {
        "users": users,
        "alex": alex,
        "sam": sam,
        "clinician": Caller(users["clinician"], issue_token(users["clinician"], READ_WRITE)),
        "supervisor": Caller(users["supervisor"], issue_token(users["supervisor"], READ_WRITE)),
        "alex_app": Caller(users["alex"], issue_token(users["alex"], HOMEWORK)),
        "sam_app": Caller(users["sam"], issue_token(users["sam"], HOMEWORK)),
    }


def test_a_patients_everything_validates_and_holds_their_whole_record(demo):
    alex = demo["alex"]
    bundle = read(demo["clinician"], f"Patient/{alex.pk}/$everything")
    kinds = {r["resourceType"] for r in resources(bundle)}
    assert kinds == {
        "Patient",
        "Group",
        "EpisodeOfCare",
        "CarePlan",
        "Goal",
        "Task",
        "Encounter",
        "QuestionnaireResponse",
        "Observation",
        "Questionnaire",
    }
    patient = resources(bundle, "Patient")[0]
    assert patient["id"] == str(alex.pk)
    assert patient["name"][0]["family"] == alex.family_name
    # every answer's form is in the bundle: each response's questionnaire resolves within it
    forms = {q["url"] for q in resources(bundle, "Questionnaire")}
    assert {r["questionnaire"] for r in resources(bundle, "QuestionnaireResponse")} <= forms
    # Alex's measures, with LOINC codes for PHQ-9 and GAD-7 totals
    totals = [o for o in resources(bundle, "Observation") if o.get("category")]
    assert len(totals) == Assessment.objects.filter(client=alex).count()
    loinc = {c["code"] for o in totals for c in o["code"]["coding"] if c["system"] == "http://loinc.org"}
    assert loinc == {"44261-6", "69737-5"}
    assert all(o["subject"] == {"reference": f"Patient/{alex.pk}"} for o in totals)
    # nothing of Sam's answers
    assert all(r["subject"]["reference"] == f"Patient/{alex.pk}" for r in resources(bundle, "QuestionnaireResponse"))


def test_a_couple_case_is_an_episode_of_its_first_partner_with_the_couple_as_its_subject(demo):
    bundle = read(demo["clinician"], "EpisodeOfCare", patient=str(demo["sam"].pk))
    (episode,) = resources(bundle)
    assert episode["status"] == "active"
    couple = episode["extension"][0]["valueReference"]["reference"]
    group = read(demo["clinician"], couple.replace("Group/", "Group/"))
    assert {m["entity"]["reference"] for m in group["member"]} == {
        f"Patient/{demo['alex'].pk}",
        f"Patient/{demo['sam'].pk}",
    }
    plan = read(demo["clinician"], f"CarePlan/{episode['id']}")
    assert plan["subject"]["reference"] == couple
    assert len(plan["goal"]) == 3
    assert len(plan["activity"]) == 2


def test_a_client_reads_their_own_record_and_never_their_partners_private_answers(demo):
    alex, sam = demo["alex"], demo["sam"]
    private = HomeworkSubmission.objects.get(client=alex, shared_with_partner=False)
    # Sam's app: Sam's own record, and of Alex's only the answers Alex shared (never Alex's measures)
    ids = {r["id"] for r in resources(read(demo["sam_app"], "QuestionnaireResponse", _count="1000"))}
    shared = HomeworkSubmission.objects.filter(client=alex, shared_with_partner=True).values_list("pk", flat=True)
    assert shared
    assert {str(pk) for pk in shared} <= ids
    assert str(private.pk) not in ids
    assert not ids & {str(pk) for pk in Assessment.objects.filter(client=alex).values_list("pk", flat=True)}
    read(demo["sam_app"], f"QuestionnaireResponse/{private.pk}", status=404)
    read(demo["sam_app"], f"Patient/{alex.pk}/$everything", status=404)
    read(demo["sam_app"], f"Patient/{alex.pk}", status=404)
    everything = read(demo["sam_app"], f"Patient/{sam.pk}/$everything")
    assert str(private.pk) not in {r["id"] for r in resources(everything)}
    assert resources(read(demo["sam_app"], "Observation", patient=str(alex.pk))) == []


def test_staff_outside_the_case_find_nothing(demo):
    stranger = UserFactory(role=Role.CLINICIAN)
    caller = Caller(stranger, issue_token(stranger, READ_WRITE))
    read(caller, f"Patient/{demo['alex'].pk}", status=404)
    for kind in ("Patient", "Group", "EpisodeOfCare", "Observation", "QuestionnaireResponse", "Task", "Encounter"):
        assert read(caller, kind)["total"] == 0


def test_search_by_last_updated_and_pages(demo):
    alex = demo["alex"]
    everything = read(demo["clinician"], "Observation", patient=str(alex.pk))
    total = everything["total"]
    assert total > 3
    first = read(demo["clinician"], "Observation", patient=str(alex.pk), _count="2")
    assert first["total"] == total
    assert len(first["entry"]) == 2
    (next_link,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    second = demo["clinician"].get(next_link, HTTP_ACCEPT=FHIR_JSON).json()
    assert not {r["id"] for r in resources(first)} & {r["id"] for r in resources(second)}
    assert read(demo["clinician"], "Observation", patient=str(alex.pk), _lastUpdated="gt2100-01-01")["total"] == 0
    assert read(demo["clinician"], "Observation", patient=str(alex.pk), _lastUpdated="ge2000-01-01")["total"] == total


def test_every_clinical_read_is_audited(demo):
    alex = demo["alex"]
    before = AuditEvent.objects.count()
    bundle = read(demo["clinician"], f"Patient/{alex.pk}/$everything")
    events = AuditEvent.objects.order_by("id")[before:]
    read_ids = {str(pk) for e in events if e.action == "read" for pk in e.object_ids}
    clinical = {r["id"] for r in resources(bundle) if r["resourceType"] != "Questionnaire"}
    assert clinical <= read_ids
    assert {e.detail.get("via") for e in events} == {"fhir"}


def test_bad_input_is_an_operation_outcome_with_the_problem_code(demo):
    caller = demo["clinician"]
    outcome = read(caller, "Observation", status=400, colour="blue")
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0] == {
        "system": "http://testserver/api/problems/",
        "code": "unknown_parameter",
    }
    assert outcome["issue"][0]["expression"] == ["colour"]
    assert read(caller, "Observation", status=400, _format="xml")["issue"][0]["expression"] == ["_format"]
    assert read(caller, "Observation", status=400, _lastUpdated="yesterday")["issue"][0]["code"] == "invalid"
    assert read(caller, "Observation", status=400, patient="Patient/x")["resourceType"] == "OperationOutcome"
    assert read(caller, "Observation", status=400, _count="0")["resourceType"] == "OperationOutcome"
    assert read(caller, "Practitioner", status=404)["issue"][0]["code"] == "not-found"
    assert read(caller, "Patient/not-a-uuid", status=404)["issue"][0]["code"] == "not-found"
    anonymous = Caller(demo["users"]["alex"], "not-a-token")
    assert read(anonymous, "Patient", status=401)["issue"][0]["code"] == "login"
    admin = demo["users"]["admin"]
    assert read(Caller(admin, issue_token(admin, ["admin"])), "Patient", status=403)["issue"][0]["code"] == "forbidden"


def test_the_capability_statement_lists_what_is_served(demo, anonymous):
    statement = anonymous.get(FHIR + "metadata")
    assert statement.status_code == 200
    body = valid(statement.json())
    served = {r["type"] for r in body["rest"][0]["resource"]}
    assert served == {
        "Patient",
        "Group",
        "EpisodeOfCare",
        "CarePlan",
        "Goal",
        "Task",
        "Encounter",
        "Questionnaire",
        "QuestionnaireResponse",
        "Observation",
    }
    assert body["fhirVersion"] == "4.0.1"


def test_the_checks_would_catch_an_invalid_resource(demo):
    """The models refuse a resource without what R4 requires; the value-set walk a code outside its value set."""
    observation = read(demo["clinician"], "Observation", patient=str(demo["alex"].pk))["entry"][0]["resource"]
    with pytest.raises(ValidationError, match="status"):
        valid({k: v for k, v in observation.items() if k != "status"})
    assert coded_problems({**observation, "status": "done"}) == ["Observation.status: 'done'"]
    wrong_loinc = {**observation, "code": {"coding": [{"system": "http://loinc.org", "code": "44261-7"}]}}
    assert coded_problems(wrong_loinc) == ["http://loinc.org: unknown code '44261-7'"]


def test_reads_cost_the_same_however_many_records(demo, count_queries):
    """$everything and each search: the same number of queries before and after the record grows."""
    alex, caller = demo["alex"], demo["clinician"]
    searches = [f"Patient/{alex.pk}/$everything", *(f"{kind}?patient={alex.pk}" for kind in MORE)]

    def costs():
        return [count_queries(lambda path=path: caller.get(FHIR + path, HTTP_ACCEPT=FHIR_JSON)) for path in searches]

    before = costs()
    case = alex.couples.get().cases.get()
    clinician = demo["users"]["clinician"]
    goal = goals.goal_create(actor=clinician, case=case, domain="communication", title="Speak up early")
    goals.gas_rating_record(actor=clinician, goal=case.goals.filter(gas_levels__isnull=False).first(), score=1)
    measures.assessment_record(
        actor=clinician, client=alex, case=case, instrument="phq9", answers=[1] * 9, administered_at=timezone.now()
    )
    assert goal.pk
    assert costs() == before


MORE = ("Goal", "Observation", "QuestionnaireResponse", "CarePlan", "Task", "Encounter")


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
PARAMETER_VALUES = st.one_of(
    TEXT,
    st.sampled_from(["ge2026-01-01", "lt2026-12-03T10:00:00Z", "eq2026-13-45", "gt", "2026-01-01T25:00", "0", "-1"]),
    st.integers(-5, 5000).map(str),
    st.uuids().map(str),
    st.uuids().map(lambda u: f"Patient/{u}"),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.one_of(st.sampled_from(sorted(TYPES)), TEXT.filter(lambda s: "/" not in s and "?" not in s)),
    params=st.dictionaries(
        st.one_of(st.sampled_from(["_id", "_lastUpdated", "_count", "_offset", "patient", "member"]), TEXT),
        PARAMETER_VALUES,
        max_size=4,
    ),
)
def test_no_search_surprises_a_client(demo, kind, params):
    """Whatever a search names, the answer is a valid Bundle or OperationOutcome, never an error page or a 500."""
    response = demo["clinician"].get(FHIR + quote(kind), params, HTTP_ACCEPT=FHIR_JSON)
    assert response.status_code in (200, 400, 404), response.content
    assert response["Content-Type"] == FHIR_JSON
    body = valid(response.json())
    assert body["resourceType"] == ("Bundle" if response.status_code == 200 else "OperationOutcome")
