"""The practice generator (`manage.py generate_practice`, bench/generate.py) at a tiny scale, in the test database.

It loads with COPY under `session_replication_role = replica`, outside the test's transaction, so these tests use a
transactional database (emptied after each test). Foreign keys and triggers do not check generated rows, so the
tests check what they would have: who belongs where, and what the services would have refused.
"""

import io
from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from bench.generate import BULK_TABLES, GENERATED_PASSWORD, SCALE_ONE, Plan
from clinical import adherence, instruments
from clinical.models import (
    NOTE_SECTIONS,
    Assessment,
    AssessmentSchedule,
    AuditEvent,
    Case,
    CaseStatus,
    Client,
    Couple,
    CoupleMember,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkProgress,
    HomeworkSubmission,
    ProgressNote,
    Role,
    SafetyAlert,
    Session,
    Supervision,
    TreatmentGoal,
    User,
)
from clinical.reports import caseload_report
from clinical.services.progress import repair_progress
from exercises.responses import response_problems
from kernel.audit import audit_append
from tests.factories import CaseFactory, UserFactory
from tests.helpers import progress_by_the_rule

SCALE = 0.002
TINY = Plan(
    staff=2, clients=40, couples=20, cases=50, goals=200, assignments=600, submissions=6000, notes=400, assessments=300
)
API = "/api/v1/"


def generate(*args: str) -> str:
    out = io.StringIO()
    call_command("generate_practice", "--scale", str(SCALE), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def verify_audit() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def counts() -> dict[str, int]:
    models = (User, Client, Couple, Case, TreatmentGoal, HomeworkAssignment, HomeworkSubmission, ProgressNote)
    return {model.__name__: model.objects.count() for model in (*models, Assessment, AuditEvent)}


@pytest.fixture
def practice(transactional_db):
    """A practice generated at SCALE; the test database is emptied after the test."""
    generate()
    return TINY


def test_every_count_scales_and_none_falls_below_one():
    assert Plan.at_scale(1) == SCALE_ONE
    assert Plan.at_scale(SCALE) == TINY
    assert Plan.at_scale(0.5).submissions == 1_500_000
    smallest = Plan.at_scale(1e-7)
    assert smallest == Plan(
        staff=2, clients=2, couples=1, cases=1, goals=1, assignments=1, submissions=1, notes=1, assessments=1
    )
    assert (SCALE_ONE.supervisors, TINY.supervisors) == (20, 1)


def test_the_practice_has_the_planned_rows(practice):
    assert counts() | {"AuditEvent": 0} == {
        "User": 1 + practice.staff + Client.objects.filter(user__isnull=False).count(),
        "Client": practice.clients,
        "Couple": practice.couples,
        "Case": practice.cases,
        "TreatmentGoal": practice.goals,
        "HomeworkAssignment": practice.assignments,
        "HomeworkSubmission": practice.submissions,
        "ProgressNote": practice.notes,
        "Assessment": practice.assessments,
        "AuditEvent": 0,
    }
    roles = dict(rows("SELECT role, count(*) FROM clinical_user WHERE role <> 'client' GROUP BY role"))
    assert roles == {"admin": 1, "supervisor": practice.supervisors, "clinician": practice.staff - practice.supervisors}
    assert CoupleMember.objects.count() == 2 * practice.couples
    statuses = dict(rows("SELECT status, count(*) FROM clinical_case GROUP BY status"))
    assert statuses == {"open": 30, "paused": 5, "closed": 15}  # 60% / 10% / 30%
    # Every kind of goal, homework and note shows up.
    assert {d for (d,) in rows("SELECT DISTINCT domain FROM clinical_treatmentgoal")} >= {
        "trust_rebuilding",
        "communication",
        "conflict_resolution",
        "emotional_intimacy",
    }
    assert {m for (m,) in rows("SELECT DISTINCT mode FROM clinical_homeworkassignment")} == {"each", "joint"}
    assert {f for (f,) in rows("SELECT DISTINCT frequency FROM clinical_homeworkassignment")} == {
        "once",
        "daily",
        "weekly",
    }
    assert {s for (s,) in rows("SELECT DISTINCT status FROM clinical_homeworkassignment")} == {
        "active",
        "completed",
        "cancelled",
    }
    assert {s for (s,) in rows("SELECT DISTINCT status FROM clinical_progressnote")} >= {"draft", "signed"}
    assert ProgressNote.objects.filter(cosigned_at__isnull=False).exists()
    assert HomeworkSubmission.objects.filter(status="amended").exists()
    assert HomeworkSubmission.objects.filter(reviewed_at__isnull=False).exists()
    assert GoalAttainmentRating.objects.exists()


def test_staff_cases_and_clients_belong_together(practice):
    supervisor_of = dict(Supervision.objects.filter(ended_on__isnull=True).values_list("supervisee", "supervisor"))
    clinicians = set(User.objects.filter(role=Role.CLINICIAN).values_list("pk", flat=True))
    assert clinicians <= set(supervisor_of)
    assert User.objects.filter(pk__in=supervisor_of.values(), role=Role.SUPERVISOR).count() == len(
        set(supervisor_of.values())
    )
    partners = defaultdict(set)
    for couple_id, client_id in CoupleMember.objects.values_list("couple", "client"):
        partners[couple_id].add(client_id)
    assert all(len(pair) == 2 for pair in partners.values())
    primary = dict(Client.objects.values_list("pk", "primary_clinician"))
    today = timezone.localdate()
    for case in Case.objects.select_related("clinician"):
        assert case.clinician.role in (Role.CLINICIAN, Role.SUPERVISOR)
        if case.subject_type == "couple":
            assert (case.client_id, case.couple_id in partners) == (None, True)
            subjects = partners[case.couple_id]
        else:
            assert (case.client_id is not None, case.couple_id) == (True, None)
            subjects = {case.client_id}
        assert {primary[c] for c in subjects} == {case.clinician_id}  # the case's clinician is their clinician
        assert today - timedelta(days=800) <= case.opened_on <= (case.closed_on or today) <= today
        assert case.created_at.date() == case.opened_on
        assert case.version == 1
    # Notes: written by the case's clinician, co-signed by the author's supervisor, never before the case opened.
    bad_notes = rows(
        """SELECT n.id FROM clinical_progressnote n JOIN clinical_case c ON c.id = n.case_id
           WHERE n.author_id <> c.clinician_id OR n.session_date < c.opened_on OR n.created_at < c.created_at
              OR n.signed_at < n.created_at OR n.cosigned_at < n.signed_at OR n.signed_at > now()"""
    )
    assert bad_notes == []
    for author, cosigner in ProgressNote.objects.filter(cosigned_by__isnull=False).values_list("author", "cosigned_by"):
        assert supervisor_of[author] == cosigner
    assert User.objects.get(email="admin@practice.example").check_password(GENERATED_PASSWORD)


def test_sessions_are_the_cases_weekly_appointments_and_never_double_book(practice):
    # Held by the case's clinician, within the case's time (four weeks ahead for an open case), with the case's
    # clients; every outcome and kind shows up; past sessions are final, future ones scheduled.
    bad = rows(
        """SELECT s.id FROM clinical_session s JOIN clinical_case c ON c.id = s.case_id
           WHERE s.clinician_id <> c.clinician_id OR s.starts_at::date < c.opened_on
              OR s.starts_at::date > COALESCE(c.closed_on, now()::date + 28)
              OR (s.ends_at < now()) = (s.status = 'scheduled')
              OR s.created_at > s.updated_at OR s.created_at > now()"""
    )
    assert bad == []
    assert {s for (s,) in rows("SELECT DISTINCT status FROM clinical_session")} == {
        "scheduled",
        "attended",
        "cancelled",
        "late_cancelled",
        "no_show",
    }
    assert {k for (k,) in rows("SELECT DISTINCT kind FROM clinical_session")} == {"joint", "individual"}
    strangers = rows(
        """SELECT a.id FROM clinical_session_attendees a JOIN clinical_session s ON s.id = a.session_id
           JOIN clinical_case c ON c.id = s.case_id
           WHERE a.client_id IS DISTINCT FROM c.client_id AND NOT EXISTS (
               SELECT 1 FROM clinical_couplemember m WHERE m.couple_id = c.couple_id AND m.client_id = a.client_id)
              OR (s.kind = 'individual' AND a.client_id <> s.partner_id)"""
    )
    assert strangers == []
    # The exclusion constraint held while loading; the check says so again.
    assert rows(
        """SELECT count(*) FROM clinical_session a JOIN clinical_session b ON a.clinician_id = b.clinician_id
           AND a.id < b.id AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)"""
    ) == [(0,)]


def test_homework_goes_to_the_case_clients_and_submissions_come_from_assignees(practice):
    case_clients = """
        SELECT c.id, c.client_id FROM clinical_case c WHERE c.client_id IS NOT NULL
        UNION ALL SELECT c.id, m.client_id FROM clinical_case c JOIN clinical_couplemember m USING (couple_id)"""
    outsiders = rows(
        f"""SELECT a.id FROM clinical_homeworkassignment_assignees aa
            JOIN clinical_homeworkassignment a ON a.id = aa.homeworkassignment_id
            WHERE NOT EXISTS (SELECT 1 FROM ({case_clients}) cc WHERE cc.id = a.case_id AND cc.client_id = aa.client_id)"""  # noqa: E501
    )
    assert outsiders == []
    not_assignees = rows(
        """SELECT s.id FROM clinical_homeworksubmission s JOIN clinical_client cl ON cl.id = s.client_id
           WHERE cl.user_id IS NULL OR NOT EXISTS (SELECT 1 FROM clinical_homeworkassignment_assignees aa
                 WHERE aa.homeworkassignment_id = s.assignment_id AND aa.client_id = s.client_id)"""
    )
    assert not_assignees == []
    # A submission's case is its assignment's (the staff lists read them by it).
    elsewhere = rows(
        """SELECT s.id FROM clinical_homeworksubmission s JOIN clinical_homeworkassignment a ON a.id = s.assignment_id
           WHERE s.case_id <> a.case_id"""
    )
    assert elsewhere == []
    out_of_time = rows(
        """SELECT s.id FROM clinical_homeworksubmission s
           JOIN clinical_homeworkassignment a ON a.id = s.assignment_id JOIN clinical_case c ON c.id = a.case_id
           WHERE s.completed_at::date < a.start_date OR s.received_at < s.completed_at OR s.received_at > now()
              OR s.completed_at::date > coalesce(a.due_date, current_date) OR s.created_at <> s.received_at
              OR (c.status = 'closed' AND s.received_at >= c.updated_at) OR s.reviewed_at < s.received_at"""
    )
    assert out_of_time == []
    assert not HomeworkAssignment.objects.filter(case__status=CaseStatus.CLOSED, status="active").exists()
    assert not AssessmentSchedule.objects.filter(case__status=CaseStatus.CLOSED, status="active").exists()

    # What a client sent reads back and is valid for the exercise version they were given; periods as the API counts.
    for submission in HomeworkSubmission.objects.select_related("assignment__exercise_version"):
        assignment = submission.assignment
        assert response_problems(assignment.exercise_version.response_fields, submission.responses) == {}
        day = timezone.localdate(submission.completed_at)
        assert submission.period == adherence.period_of(
            frequency=assignment.frequency, start=assignment.start_date, on=day
        )
    # A revision chain: each amended revision is replaced by exactly one later revision of the same completion.
    chains = rows(
        """SELECT old.status, new.status, new.revision - old.revision, new.period = old.period
           FROM clinical_homeworksubmission new JOIN clinical_homeworksubmission old ON old.id = new.amends_id"""
    )
    assert chains
    assert set(chains) <= {("amended", "current", 1, True), ("amended", "amended", 1, True)}
    assert HomeworkSubmission.objects.filter(status="amended", amended_by__isnull=True).count() == 0

    # Completed homework has every completion it asked for; active or cancelled homework does not.
    for assignment in HomeworkAssignment.objects.prefetch_related("assignees"):
        progress = progress_by_the_rule(assignment, today=timezone.localdate())
        assert progress.done == (assignment.status == "completed"), assignment.pk


def test_adherence_is_spread_from_nothing_to_everything(practice):
    by_client = dict(
        rows(
            """SELECT aa.client_id, count(DISTINCT (s.assignment_id, s.period)) FILTER (WHERE s.id IS NOT NULL)
               FROM clinical_homeworkassignment_assignees aa LEFT JOIN clinical_homeworksubmission s
                 ON s.assignment_id = aa.homeworkassignment_id AND s.client_id = aa.client_id
               GROUP BY aa.client_id"""
        )
    )
    assert 0 in by_client.values()  # some do nothing
    assert len(set(by_client.values())) > 5  # the rest, anything in between


def test_kept_homework_progress_is_the_submissions_recounted_and_the_reports_follow_the_python_rule(practice):
    """The generator fills HomeworkProgress as the services keep it; the caseload report, which reads those rows,
    gives each clinician the adherence clinical/adherence.py gives their active homework."""
    assert HomeworkProgress.objects.exists()
    assert repair_progress(fix=False) == {"missing": 0, "wrong": 0, "extra": 0}

    today = timezone.localdate()
    kept = {(p.assignment_id, p.client_id): p.periods for p in HomeworkProgress.objects.all()}
    totals = defaultdict(lambda: [0, 0])  # clinician → [completed, expected] of active homework on open cases
    active = HomeworkAssignment.objects.filter(status="active", case__status__in=["open", "paused"])
    for assignment in active.select_related("case").prefetch_related("assignees"):
        assignees = [c.pk for c in assignment.assignees.all()]
        rule = progress_by_the_rule(assignment, today=today, assignees=assignees)
        for client in assignees:
            count = kept.get((assignment.pk, None if assignment.mode == "joint" else client), 0)
            assert min(assignment.target_count, count) == rule.by_assignee[client].completed, assignment.pk
        totals[assignment.case.clinician_id][0] += rule.overall.completed
        totals[assignment.case.clinician_id][1] += rule.overall.expected
    supervisor = User.objects.get(role=Role.SUPERVISOR)
    report = caseload_report(user=supervisor, today=today)
    assert len(report) > 1
    for row in report:
        completed, expected = totals.get(row["clinician"], (0, 0))
        assert row["homework_adherence"] == (round(completed / expected, 4) if expected else None), row


def test_assessments_are_scored_as_the_instruments_score_them(practice):
    series = defaultdict(list)
    for assessment in Assessment.objects.order_by("administered_at", "created_at"):
        series[assessment.client_id, assessment.case_id, assessment.instrument].append(assessment)
    directions = set()
    for (_, _, code), administrations in series.items():
        instrument = instruments.INSTRUMENTS[code]
        baseline, *later = administrations
        assert (baseline.is_baseline, baseline.change, baseline.reliable_change) == (True, None, "")
        for assessment in administrations:
            assert instruments.answer_problems(instrument, list(assessment.answers)) == []
            assert assessment.total == instruments.total(instrument, assessment.answers)
            assert assessment.band == instruments.band(instrument, assessment.total)
        for assessment in later:
            change = instruments.change_from_baseline(instrument, baseline.total, assessment.total)
            assert (
                assessment.is_baseline,
                assessment.change,
                assessment.reliable_change,
                assessment.recovered,
                assessment.clinically_significant,
            ) == (False, change.change, change.reliable_change, change.recovered, change.clinically_significant)
        if later:
            moved = later[-1].total - baseline.total
            directions.add((moved > 0) - (moved < 0))
    assert {-1, 1} <= directions  # scores move both ways over time
    for assessment in Assessment.objects.filter(source="self_report").select_related("schedule", "client"):
        schedule = assessment.schedule
        assert (schedule.client_id, schedule.case_id, schedule.instrument) == (
            assessment.client_id,
            assessment.case_id,
            assessment.instrument,
        )
        assert assessment.recorded_by_id == assessment.client.user_id
        assert timezone.localdate(assessment.administered_at) >= schedule.start_date
    alerted = {a.pk for a in Assessment.objects.filter(instrument="phq9") if a.answers[8] > 0}
    assert set(SafetyAlert.objects.values_list("assessment", flat=True)) == alerted


def test_the_audit_trail_verifies_and_records_every_created_record(practice):
    assert verify_audit().startswith(f"OK: {AuditEvent.objects.count()} audit events")
    marker = AuditEvent.objects.exclude(action="publish", object_type="exercise").order_by("id").first()
    assert (marker.action, marker.object_type, marker.actor_id) == ("generate", "practice", None)
    assert (marker.detail["scale"], marker.detail["seed"]) == (SCALE, 1)
    created = defaultdict(set)
    for object_type, ids in AuditEvent.objects.filter(action="create").values_list("object_type", "object_ids"):
        created[object_type].update(ids)
    records = {
        "client": Client.objects,
        "couple": Couple.objects,
        "case": Case.objects,
        "goal": TreatmentGoal.objects,
        "gas_rating": GoalAttainmentRating.objects,
        "note": ProgressNote.objects,
        "assignment": HomeworkAssignment.objects,
        "submission": HomeworkSubmission.objects.filter(revision=1),
        "assessment": Assessment.objects,
        "assessment_schedule": AssessmentSchedule.objects,
        "alert": SafetyAlert.objects,
        "session": Session.objects,
    }
    for object_type, queryset in records.items():
        assert created[object_type] == set(queryset.values_list("pk", flat=True)), object_type
    amended = {tuple(ids) for ids in AuditEvent.objects.filter(action="amend").values_list("object_ids", flat=True)}
    assert amended == set(HomeworkSubmission.objects.filter(revision__gt=1).values_list("pk", "amends"))
    signed = {tuple(ids) for ids in AuditEvent.objects.filter(action="sign").values_list("object_ids", flat=True)}
    assert len(signed) == ProgressNote.objects.filter(signed_at__isnull=False).count()
    # The events are in time order, each by someone in the role recorded (the catalog's publication, loaded first,
    # is today's).
    generated = AuditEvent.objects.exclude(pk=marker.pk).exclude(action="publish", object_type="exercise")
    times = list(generated.order_by("id").values_list("occurred_at", flat=True))
    assert times == sorted(times)
    assert (
        rows(
            """SELECT e.id FROM clinical_auditevent e JOIN clinical_user u ON u.id = e.actor_id
           WHERE u.role <> e.actor_role"""
        )
        == []
    )
    # New events chain on (the id sequence was moved past the generated ids).
    audit_append(actor=None, action="test", object_type="case", object_ids=[])
    assert verify_audit().startswith(f"OK: {AuditEvent.objects.count()} audit events")


def index_definitions() -> set[tuple[str, str]]:
    return set(rows("SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(BULK_TABLES)]))


def test_the_tables_loaded_without_indexes_get_them_back(transactional_db):
    before = index_definitions()
    generate()
    assert index_definitions() == before
    assert len(before) > 2 * len(BULK_TABLES)


def test_generated_rows_have_no_row_history(practice):
    """Documented: the load bypasses triggers, so pghistory recorded nothing."""
    for model in (Case, Client, ProgressNote, HomeworkSubmission, Assessment):
        assert model.pgh_event_model.objects.count() == 0


def test_the_api_serves_a_clinician_and_a_client_from_generated_data(practice, call_as):
    case = Case.objects.filter(notes__isnull=False).order_by("created_at").first()
    clinician = case.clinician
    api = call_as(clinician, ["clinical:read"])

    listed = api.get(f"{API}cases/", {"page_size": 200})
    assert listed.status_code == 200
    assert {row["id"] for row in listed.json()["results"]} == {
        str(pk) for pk in Case.objects.filter(clinician=clinician).values_list("pk", flat=True)
    }
    detail = api.get(f"{API}cases/{case.pk}/")
    assert (detail.status_code, detail.json()["id"], detail.json()["status"]) == (200, str(case.pk), case.status)
    notes = api.get(f"{API}notes/", {"case": str(case.pk), "page_size": 200})
    assert notes.status_code == 200
    stored = {str(note.pk): note for note in case.notes.all()}
    assert {row["id"] for row in notes.json()["results"]} == set(stored)
    for row in notes.json()["results"]:
        note = stored[row["id"]]
        assert row["sections"] == note.sections  # decrypted with the configured key
        assert set(row["sections"]) == set(NOTE_SECTIONS[note.format])
        assert any(text.strip() for text in row["sections"].values())

    client = Client.objects.filter(user__isnull=False, assignments__status="active").distinct().first()
    mine = call_as(client.user, ["homework"]).get(f"{API}me/assignments/", {"page_size": 200})
    assert mine.status_code == 200
    assert {row["id"] for row in mine.json()["results"]} == {
        str(pk) for pk in client.assignments.filter(status="active").values_list("pk", flat=True)
    }
    assert verify_audit().startswith("OK:")  # the reads were audited on the generated chain


def test_a_second_run_is_refused_and_replace_generates_anew(practice):
    before = counts()
    first_cases = set(Case.objects.values_list("pk", flat=True))
    with pytest.raises(CommandError, match="already holds a generated practice; pass --replace"):
        generate()
    assert counts() == before

    generate("--replace", "--seed", "2")

    assert counts()["Case"] == practice.cases
    assert counts()["HomeworkSubmission"] == practice.submissions
    assert not first_cases & set(Case.objects.values_list("pk", flat=True))
    assert AuditEvent.objects.order_by("id").first().detail["seed"] == 2
    assert verify_audit().startswith("OK:")

    generate("--replace", "--seed", "1")
    assert set(Case.objects.values_list("pk", flat=True)) == first_cases  # the same seed, the same practice


@pytest.mark.parametrize("existing", ["an account", "a case", "an audit event"])
def test_a_database_it_did_not_generate_is_refused(transactional_db, existing):
    if existing == "an account":
        UserFactory()
    elif existing == "a case":
        CaseFactory()
    else:
        audit_append(actor=None, action="read", object_type="case", object_ids=[])
    before = counts()
    for args in ((), ("--replace",)):
        with pytest.raises(CommandError, match="holds data generate_practice did not make"):
            generate(*args)
        assert counts() == before


def test_the_scale_must_be_positive(transactional_db):
    with pytest.raises(CommandError, match="--scale must be above 0"):
        call_command("generate_practice", "--scale", "0", stdout=io.StringIO(), stderr=io.StringIO())
    assert counts()["User"] == 0
