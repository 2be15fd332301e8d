"""Events: recorded in the transaction of the change (the outbox), exactly one for a committed change, none for a
rolled-back one; each service emits what the catalog says, ids only; the catalog is served to integrators."""

import re
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from clinical.models import Role, SafetyAlert, SubjectType
from clinical.services import alerts, cases, consents, homework, invitations, measures, notes
from events.catalog import CATALOG, EVENT_TYPES
from events.delivery import events_pending, relay_pending
from events.models import Event
from kernel.events import happened
from tests.factories import CaseFactory, ClientFactory, CoupleFactory, NoteFactory, UserFactory

API = "/api/v1/"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def events() -> list[Event]:
    return list(Event.objects.order_by("sequence"))


def pending() -> list[str]:
    """The events waiting for the worker's relay."""
    return events_pending()


def test_a_committed_change_records_exactly_one_event_and_its_fan_out(call_as, clinician):
    client = ClientFactory(primary_clinician=clinician)

    response = call_as(clinician).post(f"{API}cases/", {"subject_type": "individual", "client": str(client.pk)})

    assert response.status_code == 201
    [event] = events()
    assert (event.type, event.version, event.about) == ("case.opened", 1, {"case": response.json()["id"]})
    assert str(event.case_id) == response.json()["id"]
    assert pending() == [str(event.pk)]
    assert not ProcrastinateJob.objects.exists()  # no job, so no NOTIFY in the request's commit (the relay's turn)


@pytest.mark.urls("tests.events.crash_urls")
def test_a_request_that_fails_after_the_change_leaves_no_event_and_no_job(call_as, clinician):
    client = ClientFactory(primary_clinician=clinician)
    api = call_as(clinician)
    api.raise_request_exception = False

    response = api.post(f"{API}open-then-fail/", {"client": str(client.pk)})

    assert response.status_code == 500
    assert events() == []
    assert pending() == []
    assert not client.cases.exists()


def test_a_refused_change_records_nothing(call_as, clinician):
    case = CaseFactory(clinician=clinician, status="closed", closed_on=timezone.localdate(), closing_reason="done")

    response = call_as(clinician).post(f"{API}cases/{case.pk}/close/", {"closing_reason": "again"})

    assert response.status_code == 409
    assert events() == []


def test_a_rolled_back_savepoint_takes_its_event_and_job_with_it(db):
    with transaction.atomic():
        happened("case.opened", case=uuid.uuid4())
        try:
            with transaction.atomic():
                happened("case.closed", case=uuid.uuid4())
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    assert [e.type for e in events()] == ["case.opened"]
    assert len(pending()) == 1


def test_the_relay_waits_for_a_transaction_that_began_first_and_commits_last(transactional_db):
    """Transactions commit in any order: the relay hands on the events of ended transactions only, so an event
    recorded first and committed last is relayed after it commits, not skipped by a mark that moved past it."""
    from django.db import connection

    began, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_change():
        try:
            with transaction.atomic():
                happened("case.opened", case=uuid.uuid4())
                began.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_change)
    thread.start()
    assert began.wait(30)
    happened("case.closed", case=uuid.uuid4())  # autocommit: committed at once, after the slow one began

    assert relay_pending() == 0  # the later event waits behind the running transaction's
    assert [e.type for e in Event.objects.filter(pk__in=pending())] == ["case.closed"]

    release.set()
    assert done.wait(30)
    thread.join()
    relayed, deadline = 0, time.monotonic() + 30
    while pending() and time.monotonic() < deadline:  # another test process's transaction may hold the relay back
        relayed += relay_pending()
        time.sleep(0.02)
    assert (relayed, pending()) == (2, [])
    assert relay_pending() == 0  # each once


def test_an_event_names_ids_only_and_the_sequence_increases(db):
    happened("case.opened", case=uuid.uuid4())
    happened("case.closed", case=uuid.uuid4())

    first, second = events()
    assert second.sequence > first.sequence
    with pytest.raises(ValueError, match="badly formed"):
        happened("case.opened", case="Alex Kim")  # not an id: a bug in the caller, refused before anything is stored
    assert len(events()) == 2


# ---------------------------------------------------------------- what each service emits


def test_a_couples_care_emits_what_the_catalog_says(clinician, supervisor, catalog):
    """A couple's care through the services, and the events it leaves, in order, with the ids the catalog names."""
    alex, sam = ClientFactory(primary_clinician=clinician), ClientFactory(primary_clinician=clinician)
    couple = CoupleFactory(partners=[alex, sam])
    alex_user = UserFactory(role=Role.CLIENT)
    alex.user = alex_user
    alex.save(update_fields=["user"])
    issued = invitations.invitation_create(actor=clinician, client=sam)
    for partner in (alex, sam):  # a couple case opens once both consented to treatment
        consents.consent_record(actor=clinician, client=partner, kind="treatment", method="paper")
    case = cases.case_open(actor=clinician, subject_type=SubjectType.COUPLE, couple=couple)
    assignment = homework.assignment_create(
        actor=clinician,
        case=case,
        exercise=catalog["daily-appreciation-note"],
        assignees=[alex],
        frequency="once",
        start_date=timezone.localdate() - timedelta(days=1),
    )
    answers = {"appreciated": "the soup", "shared": True, "mood_after": 4}
    submission = homework.submission_create(
        actor=alex_user, assignment=assignment, completed_at=timezone.now(), responses=answers
    )
    revision = homework.submission_amend(actor=alex_user, submission=submission, responses={**answers, "mood_after": 5})
    homework.submission_review(actor=clinician, submission=revision, feedback="Lovely.")
    note = notes.note_sign(actor=clinician, note=NoteFactory(case=case, author=clinician))
    notes.note_cosign(actor=supervisor, note=note)
    at = timezone.now() - timedelta(days=10)
    baseline = measures.assessment_record(
        actor=clinician, client=alex, case=case, instrument="phq9", answers=[0] * 9, administered_at=at
    )
    worse = measures.assessment_record(
        actor=clinician,
        client=alex,
        case=case,
        instrument="phq9",
        answers=[2] * 8 + [1],
        administered_at=timezone.now(),
    )
    alert = SafetyAlert.objects.get(assessment=worse)
    alerts.alert_acknowledge(actor=clinician, alert=alert)
    invitations.invitation_accept(token=issued.token, email="sam@example.test", password="a-long-pass-phrase-1")
    cases.case_transition(actor=clinician, case=case, action="close", closing_reason="goals met")

    seen = [(e.type, e.about) for e in events()]
    assert seen == [
        ("case.opened", {"case": str(case.pk)}),
        ("assignment.created", {"assignment": str(assignment.pk), "case": str(case.pk)}),
        ("submission.created", ids(submission=submission, assignment=assignment, case=case, client=alex)),
        ("assignment.completed", {"assignment": str(assignment.pk), "case": str(case.pk)}),
        (
            "submission.amended",
            ids(submission=revision, amends=submission, assignment=assignment, case=case, client=alex),
        ),
        ("submission.reviewed", ids(submission=revision, assignment=assignment, case=case, client=alex)),
        ("note.signed", {"note": str(note.pk), "case": str(case.pk)}),
        ("note.awaiting_cosign", {"note": str(note.pk), "case": str(case.pk)}),
        ("note.cosigned", {"note": str(note.pk), "case": str(case.pk)}),
        ("assessment.recorded", ids(assessment=baseline, case=case, client=alex)),
        ("assessment.recorded", ids(assessment=worse, case=case, client=alex)),
        ("assessment.reliable_deterioration", ids(assessment=worse, case=case, client=alex)),
        ("alert.raised", ids(alert=alert, case=case, client=alex)),
        ("alert.acknowledged", ids(alert=alert, case=case, client=alex)),
        ("invitation.accepted", {"client": str(sam.pk)}),
        ("case.closed", {"case": str(case.pk)}),
    ]
    for event in events():
        kind = EVENT_TYPES[event.type]
        assert set(event.about) == set(kind.about)
        assert all(UUID.match(value) for value in event.about.values())
        assert event.version == kind.version


def ids(**records) -> dict:
    return {name: str(record.pk) for name, record in records.items()}


# ---------------------------------------------------------------- the catalog, for integrators


def test_the_catalog_is_served_to_staff_and_the_admin(call_as, clinician, admin_user, client_user):
    listed = call_as(clinician).get(f"{API}event-types/").json()["results"]

    assert [t["name"] for t in listed] == [t.name for t in CATALOG]
    note_signed = call_as(admin_user, ["admin"]).get(f"{API}event-types/note.signed/").json()
    assert note_signed == {
        "name": "note.signed",
        "version": 1,
        "category": "note",
        "description": EVENT_TYPES["note.signed"].description,
        "about": ["note", "case"],
        "scope": "case",
    }
    assert call_as(clinician).get(f"{API}event-types/note.unsigned/").status_code == 404
    assert call_as(client_user, ["homework"]).get(f"{API}event-types/").status_code == 403


def test_the_catalog_holds_at_least_what_integrators_were_promised():
    promised = {
        "submission.created", "submission.amended", "submission.reviewed", "assignment.created",
        "assignment.completed", "assignment.overdue", "assessment.recorded", "assessment.reliable_deterioration",
        "alert.raised", "alert.acknowledged", "note.signed", "note.awaiting_cosign", "note.cosigned",
        "case.opened", "case.closed", "invitation.accepted",
    }  # fmt: skip
    assert promised <= set(EVENT_TYPES)
    for kind in CATALOG:
        assert kind.scope in kind.about
