"""The bulk export as an admin's tool uses it: kick off with the `fhir:export` scope, poll, download NDJSON with the
same token; every line a valid R4 resource; every record audited as read; files gone once expired."""

import io
from datetime import timedelta

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone
from procrastinate.contrib.django import app

from clinical.models import (
    Assessment,
    Client,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    Role,
    Session,
    User,
)
from clinical.services.demo import seed_demo
from fhir_r4.exports import exports_expire
from fhir_r4.search import TYPES
from kernel.models import AuditEvent
from tests.factories import issue_token
from tests.helpers import Caller

from .test_fhir_api import FHIR, valid

NDJSON = "application/fhir+ndjson"


def run_exports():
    """What the deployed worker does with the exports queue, until it is empty."""
    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(queues=["exports"], wait=False, install_signal_handlers=False, listen_notify=False)


@pytest.fixture
def practice(transactional_db, settings):
    from django.db import connection

    with connection.cursor() as cursor:  # jobs other tests left behind (procrastinate's tables outlive flushes)
        cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'exports' AND status IN ('todo', 'doing')")
    settings.FHIR_EXPORT_FILE_RESOURCES = 5  # several files per type
    users = seed_demo()
    admin = users["admin"]
    return {"users": users, "admin": Caller(admin, issue_token(admin, ["admin", "fhir:export"]))}


def kick_off(caller, **params):
    return caller.post(FHIR + "$export?" + "&".join(f"{k}={v}" for k, v in params.items()), HTTP_PREFER="respond-async")


def test_an_admin_exports_every_record_as_ndjson_audited_and_expiring(practice, settings):
    admin = practice["admin"]
    kicked = kick_off(admin)
    assert kicked.status_code == 202, kicked.content
    status_url = kicked["Content-Location"]
    pending = admin.get(status_url)
    assert pending.status_code == 202
    assert pending["X-Progress"] == "accepted"

    run_exports()
    manifest = admin.get(status_url)
    assert manifest.status_code == 200, manifest.content
    body = manifest.json()
    assert body["requiresAccessToken"] is True
    assert body["error"] == []
    lines = {}
    for output in body["output"]:
        file = admin.get(output["url"], HTTP_ACCEPT=NDJSON)
        assert file.status_code == 200
        assert file["Content-Type"] == NDJSON
        resources = [orjson.loads(line) for line in file.content.splitlines()]
        assert len(resources) == output["count"] <= 5
        for resource in resources:
            assert valid(resource)["resourceType"] == output["type"]
            lines.setdefault(output["type"], []).append(resource["id"])
    # every record of the practice: both partners' answers, private ones included, each as its client's own
    assert len(lines["Patient"]) == Client.objects.count()
    responses = set(lines["QuestionnaireResponse"])
    assert {str(pk) for pk in Assessment.objects.values_list("pk", flat=True)} <= responses
    assert {str(pk) for pk in HomeworkSubmission.objects.filter(status="current").values_list("pk", flat=True)} <= (
        responses
    )
    # every clinical record exported is audited as read by the admin
    audited = {
        str(pk)
        for event in AuditEvent.objects.filter(action="read", detail__via="fhir-export")
        for pk in event.object_ids
    }
    assert set(lines["QuestionnaireResponse"]) | set(lines["Patient"]) | set(lines["Encounter"]) <= audited

    # the same admin needs the scope to read it; expired, the export and its files are gone
    plain = Caller(admin.user, issue_token(admin.user, ["admin"]))
    assert plain.get(status_url).status_code == 403
    assert exports_expire(now=timezone.now()) == 0
    assert exports_expire(now=timezone.now() + timedelta(hours=settings.FHIR_EXPORT_HOURS, minutes=1)) == 1
    assert admin.get(status_url).status_code == 404
    assert admin.get(body["output"][0]["url"], HTTP_ACCEPT=NDJSON).status_code == 404


def test_an_export_of_some_types_since_an_instant(practice):
    admin = practice["admin"]
    kicked = kick_off(admin, _type="Patient,Observation", _since="2000-01-01T00:00:00Z")
    assert kicked.status_code == 202
    run_exports()
    body = admin.get(kicked["Content-Location"]).json()
    assert {o["type"] for o in body["output"]} == {"Patient", "Observation"}
    later = kick_off(admin, _type="Patient", _since="2100-01-01T00:00:00Z")
    run_exports()
    assert admin.get(later["Content-Location"]).json()["output"] == []


def test_only_an_admin_with_the_scope_asked_for_by_name(practice, call_as):
    users = practice["users"]
    clinician = Caller(users["clinician"], issue_token(users["clinician"], ["clinical:read"]))
    assert kick_off(clinician).status_code == 403
    assert kick_off(Caller(users["admin"], issue_token(users["admin"], ["admin"]))).status_code == 403
    assert kick_off(practice["admin"], _type="Practitioner").status_code == 400
    assert kick_off(practice["admin"], _since="yesterday").status_code == 400
    assert kick_off(practice["admin"], _outputFormat="text/csv").status_code == 400


def test_a_generated_practice_exports_whole_and_every_line_validates(transactional_db, settings):
    """A practice from the generator (`generate_practice`, scale 0.002: 50 cases, 6,000 completions): every record
    of every type, each line a valid R4 resource with its codes in their value sets."""
    call_command("generate_practice", "--scale", "0.002", stdout=io.StringIO(), stderr=io.StringIO())
    settings.FHIR_EXPORT_FILE_RESOURCES = 2000
    admin = User.objects.get(role=Role.ADMIN)
    caller = Caller(admin, issue_token(admin, ["fhir:export"]))
    kicked = kick_off(caller)
    run_exports()
    manifest = caller.get(kicked["Content-Location"]).json()
    exported = {}
    for output in manifest["output"]:
        for line in caller.get(output["url"], HTTP_ACCEPT=NDJSON).content.splitlines():
            resource = valid(orjson.loads(line))
            exported[resource["resourceType"]] = exported.get(resource["resourceType"], 0) + 1
    current = HomeworkSubmission.objects.filter(status="current").count()
    assert exported["QuestionnaireResponse"] == Assessment.objects.count() + current
    assert exported["Patient"] == Client.objects.count()
    assert exported["Encounter"] == Session.objects.count()
    assert exported["Task"] == HomeworkAssignment.objects.count()
    assert exported["Observation"] == Assessment.objects.count() + GoalAttainmentRating.objects.count()
    assert set(exported) == set(TYPES)
