"""Issue 17 through HTTP: a release of a couple's record needs both partners' release consent (409 otherwise, nothing
written), holds what the couple's confidentiality policy lets out (clinical/releases.py), is audited, and reads back
byte for byte as released, whatever happens to the records afterwards."""

import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from clinical.models import AuditEvent, Case, NoteStatus, RecordRelease, Session
from clinical.services import homework as homework_services
from tests.factories import ClientFactory, GoalFactory, NoteFactory
from tests.helpers import assert_problem

API = "/api/v1/"
RETRY_KEY = str(uuid.uuid4())
PARTY, PURPOSE = "Dr. Robin Lee, family court evaluator", "Custody evaluation"


def release_consent(api, client, released_to=PARTY, purpose=PURPOSE):
    body = {
        "client": str(client.pk),
        "kind": "release_of_records",
        "method": "paper",
        "released_to": released_to,
        "release_purpose": purpose,
    }
    response = api.post(f"{API}consents/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def release(api, case, released_to=PARTY, purpose=PURPOSE, key=None):
    body = {"case": str(case.pk), "released_to": released_to, "purpose": purpose}
    return api.post(f"{API}releases/", body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


@pytest.fixture
def api(call_as, clinician):
    return call_as(clinician)


def test_a_couples_record_is_released_only_with_both_partners_consent(api, care):
    first = release_consent(api, care.a)
    release_consent(api, care.b, released_to="Someone else", purpose=PURPOSE)  # another party does not count
    events = AuditEvent.objects.count()

    body = assert_problem(release(api, care.case), 409, "release_consent_missing")
    assert body["missing"] == [{"client": str(care.b.pk), "kind": "release_of_records"}]
    assert (RecordRelease.objects.count(), AuditEvent.objects.count()) == (0, events)  # nothing written

    # the same party and purpose, however the clinician typed them
    second = release_consent(api, care.b, released_to="  dr. robin LEE,  family court evaluator", purpose=PURPOSE)
    response = release(api, care.case, released_to=PARTY.upper(), purpose=f"  {PURPOSE} ", key=RETRY_KEY)
    assert response.status_code == 201, response.content
    made = response.json()
    assert set(made["consents"]) == {first["id"], second["id"]}
    # named as the consents name them (the first given), not as typed in the request
    assert (made["released_to"], made["purpose"], made["policy"]) == (PARTY, PURPOSE, "limited_secrets")
    # a retry is the same release
    again = release(api, care.case, released_to=PARTY.upper(), purpose=f"  {PURPOSE} ", key=RETRY_KEY)
    assert again.status_code == 201
    assert again.json()["id"] == made["id"]
    assert RecordRelease.objects.count() == 1

    # a revoked consent no longer counts
    assert api.post(f"{API}consents/{second['id']}/revoke/").status_code == 200
    body = assert_problem(release(api, care.case), 409, "release_consent_missing")
    assert body["missing"] == [{"client": str(care.b.pk), "kind": "release_of_records"}]
    assert RecordRelease.objects.count() == 1


def test_only_the_cases_clinician_releases_and_staff_of_the_case_read_releases(api, care, call_as, supervisor):
    for client in (care.a, care.b):
        release_consent(api, client)
    made = release(api, care.case).json()
    as_supervisor = call_as(supervisor)
    assert_problem(release(as_supervisor, care.case), 403, "not_case_clinician")
    assert as_supervisor.get(f"{API}releases/{made['id']}/").status_code == 200
    assert [r["id"] for r in as_supervisor.get(f"{API}releases/", {"case": str(care.case.pk)}).json()["results"]] == [
        made["id"]
    ]
    assert_problem(call_as(care.a_user).get(f"{API}releases/"), 403, "role_not_allowed")


# ---------------------------------------------------------------- what a release holds


def _session(case, days_ago, partner=None):
    starts = timezone.now() - timedelta(days=days_ago)
    session = Session.objects.create(
        case=case,
        clinician=case.clinician,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        modality="in_person",
        kind="individual" if partner else "joint",
        partner=partner,
        status="attended",
    )
    session.attendees.set([partner] if partner else [m.client for m in case.couple.members.all()])
    return session


@pytest.fixture
def record(care, catalog, api):
    """A couple's record with something of every kind: joint and individual sessions with their signed notes (and a
    draft), homework for both and for one partner, a shared and a private answer, a measure of each partner."""
    now = timezone.now()
    joint, alone = _session(care.case, 9), _session(care.case, 8, partner=care.a)
    signed = {"status": NoteStatus.SIGNED, "signed_at": now}
    joint_note = NoteFactory(case=care.case, session=joint, session_date=joint.starts_at.date(), **signed)
    alone_note = NoteFactory(
        case=care.case, session=alone, partner=care.a, session_date=alone.starts_at.date(), **signed
    )
    NoteFactory(case=care.case)  # a draft: not part of the record
    goal = GoalFactory(case=care.case)
    both = care.assign(catalog, slug="daily-appreciation-note", frequency="daily", days_ago=5)
    only_a = care.assign(
        catalog, assignees=[care.a], slug="self-compassion-after-hurt", frequency="once", target_count=1, days_ago=5
    )
    answers = {"appreciated": "the soup", "shared": True, "mood_after": 4}
    shared = homework_services.submission_create(
        actor=care.a_user, assignment=both, completed_at=now, responses=answers, shared_with_partner=True
    )
    private = homework_services.submission_create(
        actor=care.b_user, assignment=both, completed_at=now, responses={**answers, "appreciated": "a secret"}
    )
    measures = [care.record(client, "phq9", 5, now - timedelta(days=3)) for client in (care.a, care.b)]
    for client in (care.a, care.b):
        release_consent(api, client)
    return {
        "joint": joint,
        "alone": alone,
        "joint_note": joint_note,
        "alone_note": alone_note,
        "goal": goal,
        "both": both,
        "only_a": only_a,
        "shared": shared,
        "private": private,
        "measures": measures,
    }


def ids(*rows):
    return sorted(str(row.pk) for row in rows)


@pytest.mark.parametrize("policy", ["no_secrets", "limited_secrets", "separate_records"])
def test_what_a_release_holds_follows_the_couples_policy(api, care, record, policy):
    Case.objects.filter(pk=care.case.pk).update(confidentiality_policy=policy)
    made = release(api, care.case).json()
    document = json.loads(api.get(f"{API}releases/{made['id']}/document/").content)

    alone = policy == "no_secrets"  # what each partner said or did alone
    shared = policy != "separate_records"  # what a partner gave the other
    expected = {
        "session": ids(record["joint"], *([record["alone"]] if alone else [])),
        "note": ids(record["joint_note"], *([record["alone_note"]] if alone else [])),
        "assignment": ids(record["both"], *([record["only_a"]] if shared else [])),
        "submission": ids(record["shared"]) if shared else [],  # never the private answer
        "assessment": ids(*record["measures"]) if alone else [],
        "goal": ids(record["goal"]),
        "client": ids(care.a, care.b),
    }
    held = {kind: sorted(made["contents"][kind]) for kind in expected}
    assert held == expected
    in_document = {
        "session": sorted(s["id"] for s in document["sessions"]),
        "note": sorted(n["id"] for n in document["notes"]),
        "assignment": sorted(a["id"] for a in document["assignments"]),
        "submission": sorted(s["id"] for s in document["submissions"]),
        "assessment": sorted(a["id"] for a in document["assessments"]),
        "goal": sorted(g["id"] for g in document["goals"]),
        "client": sorted(c["id"] for c in document["clients"]),
    }
    assert in_document == expected
    text = json.dumps(document)
    assert "a secret" not in text  # b's private answer, under every policy
    assert policy in document["release"]["withheld"]
    assert document["case"]["confidentiality_policy"] == policy


def test_a_release_reads_back_byte_for_byte_and_is_audited(api, care, record):
    made = release(api, care.case).json()
    first = api.get(f"{API}releases/{made['id']}/document/")
    assert first.status_code == 200
    assert first["Content-Type"].startswith("application/json")
    assert hashlib.sha256(first.content).hexdigest() == made["digest"]
    document = json.loads(first.content)
    # one canonical text: keys sorted at every level, no spaces, UTF-8 (the digest is of these bytes)
    assert first.content.decode() == json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert document["release"]["id"] == made["id"]
    assert {c["id"] for c in document["consents"]} == set(made["consents"])
    assert document["notes"][0]["sections"] == record["joint_note"].sections

    # the records change afterwards: the release still says what it held
    GoalFactory._meta.model.objects.filter(pk=record["goal"].pk).update(title="Renamed later")
    later = api.get(f"{API}releases/{made['id']}/document/")
    assert later.content == first.content

    release_event = AuditEvent.objects.get(action="release", object_type="record_release")
    assert list(map(str, release_event.object_ids)) == [made["id"]]
    assert release_event.detail["digest"] == made["digest"]
    released = {
        e.object_type: sorted(map(str, e.object_ids))
        for e in AuditEvent.objects.filter(action="read", detail__via="release", detail__release__isnull=True)
    }
    assert released == {kind: sorted(v) for kind, v in made["contents"].items() if v}
    reread = AuditEvent.objects.filter(action="read", detail__release=made["id"])
    assert {e.object_type for e in reread} == {kind for kind, v in made["contents"].items() if v}

    # kept as released: the database refuses to change or remove it
    for change in (
        lambda: RecordRelease.objects.filter(pk=made["id"]).update(purpose="other"),
        lambda: RecordRelease.objects.filter(pk=made["id"]).delete(),
    ):
        with pytest.raises(ProgrammingError), transaction.atomic():
            change()
    with connection.cursor() as cursor:
        cursor.execute("SELECT document FROM clinical_recordrelease WHERE id = %s", [made["id"]])
        assert "Custody" not in cursor.fetchone()[0]  # encrypted at rest


def test_an_individual_cases_release_needs_its_clients_consent(api, clinician):
    client = ClientFactory(primary_clinician=clinician)
    case = Case.objects.create(clinician=clinician, subject_type="individual", client=client)
    body = assert_problem(release(api, case), 409, "release_consent_missing")
    assert body["missing"] == [{"client": str(client.pk), "kind": "release_of_records"}]
    release_consent(api, client)
    made = release(api, case).json()
    assert made["policy"] == ""
    assert made["contents"]["client"] == [str(client.pk)]
