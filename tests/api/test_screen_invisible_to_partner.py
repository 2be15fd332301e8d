"""Issue 17's rule that the other partner can never learn of a safety screen: two couples in care exactly alike,
except that one partner of the first had a positive screen (so a conjoint hold holds their case). Every operation
of the contract the other partner may call — and the FHIR record of them — answers the same in both: the same
statuses, the same fields, the same counts."""

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.utils import timezone

from clinical.models import ConjointHold
from clinical.services import homework as homework_services
from clinical.services import safety as safety_services
from clinical.services import sessions as session_services
from tests.api.test_submissions import answers
from tests.factories.scenes import CoupleInCare
from tests.helpers import HOMEWORK

CONTRACT = yaml.safe_load((Path(settings.BASE_DIR) / "openapi.yaml").read_text())
PARAMETERS = {"code": "phq9", "name": "note.signed", "number": "1", "token": "x" * 40}


def populate(care, catalog, hour: int) -> dict:
    """The same care for both couples: homework for each and joint, a private and a shared submission of the screened
    partner's, a submission of the other's, a joint session attended, assessments."""
    each = care.assign(catalog)
    joint = care.assign(catalog, slug="weekly-relationship-check-in", mode="joint", days_ago=5)
    for shared in (False, True):
        homework_services.submission_create(
            actor=care.a_user,
            assignment=each,
            completed_at=timezone.now() - timedelta(days=2 + shared),
            responses=answers(),
            shared_with_partner=shared,
        )
    homework_services.submission_create(
        actor=care.b_user, assignment=each, completed_at=timezone.now() - timedelta(days=1), responses=answers()
    )
    starts = timezone.now() - timedelta(days=3, hours=hour)  # the one clinician's sessions do not overlap
    session_services.session_create(
        actor=care.clinician, case=care.case, starts_at=starts, ends_at=starts + timedelta(minutes=50), modality="video"
    )
    care.record(care.a, "phq9", 12, timezone.now() - timedelta(days=4))
    care.record(care.b, "phq9", 8, timezone.now() - timedelta(days=4))
    return {"assignment": joint}


def shape(value):
    """What an answer is made of, without its values: keys, list lengths, and the type of each leaf."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def answer(response):
    kind = response.get("Content-Type", "")
    if "json" in kind:
        body = response.json() if response.content else None
        return response.status_code, kind, shape(body)
    return response.status_code, kind, len(response.content.splitlines())


def first_id(app, list_path):
    response = app.get(list_path)
    if response.status_code != 200 or "json" not in response.get("Content-Type", ""):
        return None
    results = response.json().get("results") if isinstance(response.json(), dict) else None
    return results[0]["id"] if results else None


def walk(app) -> dict:
    """Every GET of the contract, as this partner: lists as they are, a record by the id its list gives (an
    unknown id where the list gives none)."""
    seen = {}
    for path, operations in CONTRACT["paths"].items():
        if "get" not in operations:
            continue
        concrete = path
        for name in re.findall(r"{(\w+)}", path):
            if name == "id":
                listed = first_id(app, path.split("{id}")[0])
                concrete = concrete.replace("{id}", listed or str(uuid.UUID(int=1)))
            else:
                concrete = concrete.replace(f"{{{name}}}", PARAMETERS[name])
        seen[path] = answer(app.get(concrete))
    return seen


@pytest.mark.django_db
def test_the_other_partner_sees_nothing_of_a_positive_screen(clinician, catalog, call_as):
    screened, unscreened = CoupleInCare(clinician), CoupleInCare(clinician)
    work = {}
    for hour, care in enumerate((screened, unscreened)):
        work[care] = populate(care, catalog, hour)
    safety_services.safety_screen_record(
        actor=clinician, case=screened.case, client=screened.a, result="positive", notes="Afraid at home."
    )
    assert ConjointHold.objects.filter(case=screened.case, status="held").exists()

    apps = {care: call_as(care.b_user, HOMEWORK) for care in (screened, unscreened)}
    walks = {care: walk(apps[care]) for care in (screened, unscreened)}
    assert len(walks[screened]) > 40
    assert walks[screened] == walks[unscreened]
    # The FHIR record of them, whole.
    fhir = {
        care: answer(apps[care].get(f"/fhir/r4/Patient/{care.b.pk}/$everything")) for care in (screened, unscreened)
    }
    assert fhir[screened][0] == 200
    assert fhir[screened] == fhir[unscreened]
    # What they send answers the same: their joint homework, a consent.
    for care in (screened, unscreened):
        sent = apps[care].post(
            "/api/v1/submissions/",
            {"assignment": str(work[care]["assignment"].pk), "completed_at": timezone.now().isoformat(),
             "responses": {}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )  # fmt: skip
        work[care]["sent"] = answer(sent)
        work[care]["consent"] = answer(apps[care].post("/api/v1/me/consents/", {"kind": "recording"}, format="json"))
    assert work[screened]["sent"] == work[unscreened]["sent"]
    assert work[screened]["consent"] == work[unscreened]["consent"]
