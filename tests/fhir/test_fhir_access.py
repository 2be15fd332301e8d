"""The FHIR API's access matrix: every FHIR operation, for every role, on the demo practice's records (Alex and Sam's
couple case, held by the supervised demo clinician). The FHIR API is not in openapi.yaml (its contract is the
CapabilityStatement), so the REST matrix (tests/api/test_access_matrix.py) cannot enumerate it: this table does.
Out of reach answers 404 (existence does not leak), a role that may not use the API 403."""

import pytest

from clinical.models import Assessment, GoalAttainmentRating, HomeworkAssignment, HomeworkSubmission, Role, Session
from clinical.services.demo import seed_demo
from clinical.services.instruments import builtin_publish
from tests.factories import UserFactory, issue_token
from tests.helpers import HOMEWORK, READ_WRITE, Caller

from .test_fhir_api import FHIR, FHIR_JSON, valid

# One record of each kind, all about Alex (or the couple), and who may read it.
STAFF = {"clinician": 200, "supervisor": 200, "other_clinician": 404, "admin": 403}
RECORDS = {
    #                           Alex  Sam  (the clients' apps)
    "Patient/alex": {**STAFF, "alex": 200, "sam": 404},
    "Group/couple": {**STAFF, "alex": 200, "sam": 200},
    "EpisodeOfCare/case": {**STAFF, "alex": 200, "sam": 200},
    "CarePlan/case": {**STAFF, "alex": 200, "sam": 200},
    "Goal/goal": {**STAFF, "alex": 200, "sam": 200},
    "Task/joint": {**STAFF, "alex": 200, "sam": 200},
    "Encounter/joint": {**STAFF, "alex": 200, "sam": 200},
    "QuestionnaireResponse/alex_phq9": {**STAFF, "alex": 200, "sam": 404},
    "QuestionnaireResponse/alex_private": {**STAFF, "alex": 200, "sam": 404},
    "QuestionnaireResponse/alex_shared": {**STAFF, "alex": 200, "sam": 200},
    "Observation/alex_phq9": {**STAFF, "alex": 200, "sam": 404},
    "Observation/gas": {**STAFF, "alex": 404, "sam": 404},
    "Questionnaire/phq9": {**STAFF, "other_clinician": 200, "alex": 200, "sam": 200},
}
ROLES = ["clinician", "supervisor", "other_clinician", "admin", "alex", "sam"]
# Searching each type for Alex's records: found (True), nothing (False), or a status.
SEARCHES = {
    "clinician": True,
    "supervisor": True,
    "other_clinician": False,
    "admin": 403,
    ("sam", "Observation"): False,  # Alex's measures are Alex's; GAS ratings are the clinician's
}


@pytest.fixture(scope="module")
def scene(django_db_setup, django_db_blocker):
    """The demo practice, built once for the module (the tests only read)."""
    with django_db_blocker.unblock():
        builtin_publish()  # the built-in measures, which an earlier test's flush may have emptied (tests/conftest.py)
        users = seed_demo()
        other = UserFactory(role=Role.CLINICIAN)
        alex = users["alex"].client_record
        phq9 = Assessment.objects.filter(client=alex, instrument="phq9").first()
        ids = {
            "alex": alex.pk,
            "couple": alex.couples.get().pk,
            "case": alex.couples.get().cases.get().pk,
            "goal": alex.couples.get().cases.get().goals.first().pk,
            "joint": HomeworkAssignment.objects.get(mode="joint").pk,
            "alex_phq9": phq9.pk,
            "alex_private": HomeworkSubmission.objects.get(client=alex, shared_with_partner=False).pk,
            "alex_shared": HomeworkSubmission.objects.filter(client=alex, shared_with_partner=True).first().pk,
            "gas": GoalAttainmentRating.objects.first().pk,
            "phq9": phq9.instrument_version_id,
        }
        ids["joint_session"] = Session.objects.filter(kind="joint", attendees=alex).first().pk
        callers = {
            "clinician": (users["clinician"], READ_WRITE),
            "supervisor": (users["supervisor"], READ_WRITE),
            "other_clinician": (other, READ_WRITE),
            "admin": (users["admin"], ["admin", "fhir:export"]),
            "alex": (users["alex"], HOMEWORK),
            "sam": (users["sam"], HOMEWORK),
        }
        tokens = {role: (user, issue_token(user, scopes)) for role, (user, scopes) in callers.items()}
    yield ids, tokens
    with django_db_blocker.unblock():
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)


def caller(scene, role) -> Caller:
    return Caller(*scene[1][role])


def path(scene, record: str) -> str:
    kind, key = record.split("/")
    key = "joint_session" if kind == "Encounter" else key
    return f"{kind}/{scene[0][key]}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("record", list(RECORDS))
def test_read(scene, db, record, role):
    response = caller(scene, role).get(FHIR + path(scene, record), HTTP_ACCEPT=FHIR_JSON)
    assert response.status_code == RECORDS[record][role], response.content
    assert response["Content-Type"] == FHIR_JSON
    valid(response.json())


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "kind", ["Group", "EpisodeOfCare", "CarePlan", "Goal", "Task", "Encounter", "QuestionnaireResponse", "Observation"]
)
def test_search_for_alex(scene, db, kind, role):
    parameter = "member" if kind == "Group" else "patient"
    response = caller(scene, role).get(FHIR + kind, {parameter: str(scene[0]["alex"])}, HTTP_ACCEPT=FHIR_JSON)
    expected = SEARCHES.get((role, kind), SEARCHES.get(role, True))
    if isinstance(expected, int) and not isinstance(expected, bool):
        assert response.status_code == expected
        return
    assert response.status_code == 200, response.content
    bundle = valid(response.json())
    assert (bundle["total"] > 0) == expected
    if role == "sam":  # Sam reads of Alex only what is theirs together, and the answers Alex shared
        found = {e["resource"]["id"] for e in bundle.get("entry", [])}
        assert not found & {str(scene[0]["alex_phq9"]), str(scene[0]["alex_private"])}


@pytest.mark.parametrize(
    ("role", "status"),
    [("clinician", 200), ("supervisor", 200), ("other_clinician", 404), ("admin", 403), ("alex", 200), ("sam", 404)],
)
def test_everything(scene, db, role, status):
    response = caller(scene, role).get(f"{FHIR}Patient/{scene[0]['alex']}/$everything", HTTP_ACCEPT=FHIR_JSON)
    assert response.status_code == status
    valid(response.json())


@pytest.mark.parametrize(
    ("role", "status"),
    [("clinician", 403), ("supervisor", 403), ("other_clinician", 403), ("admin", 202), ("alex", 403), ("sam", 403)],
)
def test_export_kick_off(scene, db, role, status):
    response = caller(scene, role).post(FHIR + "$export", HTTP_PREFER="respond-async")
    assert response.status_code == status
    if status == 202:
        status_url = response["Content-Location"]
        for other in ROLES:  # nobody else reads its status, not even with a token that may export
            if other != "admin":
                assert caller(scene, other).get(status_url).status_code == 403
