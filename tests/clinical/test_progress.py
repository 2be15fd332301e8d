"""Homework progress kept, not recomputed (clinical/services/progress.py): every assignment has a HomeworkProgress
row per assignee (zero periods until they submit) and one for the whole, carrying the assignment's columns the
reports read; every service that changes those columns or which submissions are current keeps the rows in step,
inside its transaction; the rows always equal a recount from the assignments and the submissions, and agree with
the Python adherence rule; `repair_progress` finds and mends a row that does not."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from clinical.models import HomeworkAssignment, HomeworkProgress, HomeworkSubmission
from clinical.reports import caseload_report
from clinical.services import homework as homework_services
from clinical.services.progress import repair_progress
from tests.factories.scenes import CoupleInCare
from tests.helpers import progress_by_the_rule

RESPONSES = {
    "usual_sentence": "You never listen.",
    "i_statement": "I feel alone when my news goes unanswered, and I would like a minute of your attention.",
    "said_it": True,
    "felt_natural": 5,
}


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def kept(assignment) -> dict:
    """{client id or None: (periods, last completed_at)} of the assignment's kept rows."""
    return {
        p.client_id: (p.periods, p.last_completed_at) for p in HomeworkProgress.objects.filter(assignment=assignment)
    }


def recounted(assignment) -> dict:
    """The same, recounted from the assignees and the current submissions (zero periods and no last completion
    for an assignee who has not submitted)."""
    current = HomeworkSubmission.objects.filter(assignment=assignment, status="current")
    assignees = assignment.assignees.values_list("pk", flat=True)
    result = {}
    for key, rows in [(None, current), *((c, current.filter(client=c)) for c in assignees)]:
        result[key] = (len({s.period for s in rows}), max((s.completed_at for s in rows), default=None))
    return result


COPIED = ("case_id", "mode", "status", "start_date", "due_date", "frequency", "target_count")


def copied(assignment) -> set:
    """The assignment's columns as its kept rows carry them (one set of values when they agree)."""
    return set(HomeworkProgress.objects.filter(assignment=assignment).values_list(*COPIED))


def columns(assignment) -> set:
    """The same, read from the assignment itself."""
    return set(HomeworkAssignment.objects.filter(pk=assignment.pk).values_list(*COPIED))


def submit(assignment, client, days_ago):
    return homework_services.submission_create(
        actor=client.user, assignment=assignment, completed_at=ago(days_ago), responses=RESPONSES
    )


def repair(*args) -> str:
    out = io.StringIO()
    call_command("repair_progress", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def care(clinician):
    return CoupleInCare(clinician)


def test_a_submission_keeps_its_client_and_the_assignment_in_step(care, catalog):
    assignment = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    # From its creation: a row per assignee and one for the whole, nothing done yet.
    assert kept(assignment) == {care.a.pk: (0, None), care.b.pk: (0, None), None: (0, None)}
    assert copied(assignment) == columns(assignment)
    first = submit(assignment, care.a, 5)
    assert kept(assignment) == {
        care.a.pk: (1, first.completed_at),
        care.b.pk: (0, None),
        None: (1, first.completed_at),
    }
    submit(assignment, care.a, 3)
    again = submit(assignment, care.a, 3)  # the same day again: still two days of practice
    assert kept(assignment)[care.a.pk] == (2, again.completed_at)
    by_b = submit(assignment, care.b, 5)  # partner b, on a day a also practised
    assert kept(assignment) == {
        care.a.pk: (2, again.completed_at),
        care.b.pk: (1, by_b.completed_at),
        None: (2, again.completed_at),
    }
    assert kept(assignment) == recounted(assignment)


def test_a_joint_assignment_counts_the_partners_days_together(care, catalog):
    assignment = care.assign(catalog, frequency="daily", target_count=7, days_ago=6, mode="joint")
    submit(assignment, care.a, 5)
    submit(assignment, care.b, 4)
    submit(assignment, care.b, 5)
    rows = kept(assignment)
    assert (rows[care.a.pk][0], rows[care.b.pk][0], rows[None][0]) == (1, 2, 2)
    assert rows == recounted(assignment)


def test_an_amendment_moves_the_completion_and_counts_once(care, catalog):
    assignment = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    first = submit(assignment, care.a, 5)
    submit(assignment, care.a, 4)
    # Corrected to a day already practised: the chain counts once, so one day fewer.
    revision = homework_services.submission_amend(
        actor=care.a.user, submission=first, responses=RESPONSES, completed_at=ago(4)
    )
    assert kept(assignment)[care.a.pk][0] == 1
    # Corrected again, to a new day: two days once more, the latest completion unchanged.
    homework_services.submission_amend(actor=care.a.user, submission=revision, responses=RESPONSES, completed_at=ago(2))
    assert kept(assignment)[care.a.pk][0] == 2
    assert kept(assignment) == recounted(assignment)


def test_an_amendment_of_the_answers_alone_changes_nothing_kept(care, catalog):
    assignment = care.assign(catalog, frequency="weekly", target_count=4, days_ago=10)
    first = submit(assignment, care.a, 2)
    before = kept(assignment)
    homework_services.submission_amend(actor=care.a.user, submission=first, responses={**RESPONSES, "said_it": False})
    assert kept(assignment) == before == recounted(assignment)


def test_cancelling_the_assignment_or_reaching_its_target_carries_the_status_to_its_rows(care, catalog):
    done = care.assign(catalog, frequency="once", target_count=1, days_ago=3, assignees=[care.a])
    submit(done, care.a, 1)  # completes it
    done.refresh_from_db()
    assert done.status == "completed"
    assert kept(done) == recounted(done)
    assert copied(done) == columns(done)
    assert {status for _, _, status, *_ in copied(done)} == {"completed"}
    cancelled = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    submit(cancelled, care.b, 2)
    homework_services.assignment_cancel(actor=care.clinician, assignment=cancelled)
    # The rows stay, marked cancelled (the reports leave cancelled homework out by its status), and a repair finds
    # nothing to mend.
    assert kept(cancelled) == recounted(cancelled)
    assert {status for _, _, status, *_ in copied(cancelled)} == {"cancelled"}
    assert repair_progress(fix=False) == {"missing": 0, "wrong": 0, "extra": 0}


def test_changing_the_due_date_or_the_target_carries_them_to_the_rows(care, catalog):
    assignment = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    submit(assignment, care.a, 5)
    submit(assignment, care.a, 4)
    submit(assignment, care.b, 4)
    due = timezone.localdate() + timedelta(days=10)
    assignment = homework_services.assignment_update(
        actor=care.clinician, assignment=assignment, expected_version=None, due_date=due
    )
    assert copied(assignment) == columns(assignment)
    assert {row[4] for row in copied(assignment)} == {due}
    # The instructions are not kept: the rows are not written again.
    homework_services.assignment_update(
        actor=care.clinician, assignment=assignment, expected_version=None, instructions="Gently."
    )
    assert copied(assignment) == columns(assignment)
    # Lowering the target to what each has done completes it: the rows carry both.
    assignment = homework_services.assignment_update(
        actor=care.clinician, assignment=assignment, expected_version=None, target_count=1
    )
    assignment.refresh_from_db()
    assert assignment.status == "completed"
    assert copied(assignment) == columns(assignment)
    assert {(row[2], row[6]) for row in copied(assignment)} == {("completed", 1)}
    assert kept(assignment) == recounted(assignment)
    assert repair_progress(fix=False) == {"missing": 0, "wrong": 0, "extra": 0}


def test_the_kept_rows_agree_with_the_python_adherence_rule(care, catalog):
    each = care.assign(catalog, frequency="daily", target_count=3, days_ago=6)
    joint = care.assign(catalog, frequency="weekly", target_count=2, days_ago=20, mode="joint")
    for assignment, who, days in [
        (each, care.a, 5),
        (each, care.a, 4),
        (each, care.a, 3),
        (each, care.a, 2),
        (each, care.b, 1),
        (joint, care.a, 19),
        (joint, care.b, 18),
        (joint, care.b, 3),
    ]:
        submit(assignment, who, days)
    today = timezone.localdate()
    for assignment in (each, joint):
        rows = kept(assignment)
        rule = progress_by_the_rule(assignment, today=today, assignees=[care.a.pk, care.b.pk])
        for client in (care.a.pk, care.b.pk):
            count = rows[None][0] if assignment.mode == "joint" else rows[client][0]
            assert min(assignment.target_count, count) == rule.by_assignee[client].completed


def tamper(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_repair_finds_each_kind_of_difference_and_mends_it(care, catalog):
    one = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    other = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    untouched = care.assign(catalog, frequency="weekly", target_count=4, days_ago=6)
    for assignment in (one, other, untouched):
        submit(assignment, care.a, 3)
        submit(assignment, care.b, 2)
    truth = {a.pk: recounted(a) for a in (one, other, untouched)}
    assert repair("--check").startswith("missing: 0, wrong: 0, extra: 0")

    tamper(
        "UPDATE clinical_homeworkprogress SET periods = 5 WHERE assignment_id = %s AND client_id = %s",
        [one.pk, care.a.pk],
    )  # wrong
    tamper(
        "UPDATE clinical_homeworkprogress SET status = 'cancelled' WHERE assignment_id = %s AND client_id IS NULL",
        [untouched.pk],
    )  # wrong: an assignment column out of step
    tamper(
        "DELETE FROM clinical_homeworkprogress WHERE assignment_id = %s AND client_id IS NULL", [other.pk]
    )  # missing
    stray = care.assign(catalog, frequency="daily", target_count=7, days_ago=6, assignees=[care.a])
    tamper(
        "INSERT INTO clinical_homeworkprogress (assignment_id, client_id, case_id, mode, status, start_date, "
        "due_date, frequency, target_count, periods, last_completed_at) "
        "SELECT id, %s, case_id, mode, status, start_date, due_date, frequency, target_count, 1, now() "
        "FROM clinical_homeworkassignment WHERE id = %s",
        [care.b.pk, stray.pk],
    )  # extra: not an assignee

    with pytest.raises(CommandError, match="4 homework progress rows differ"):
        repair("--check")
    assert kept(one)[care.a.pk][0] == 5  # --check mends nothing

    assert repair() == "missing: 1, wrong: 2, extra: 1\nmended 4 rows\n"
    assert {a.pk: kept(a) for a in (one, other, untouched)} == truth
    assert copied(untouched) == columns(untouched)
    assert kept(stray) == {care.a.pk: (0, None), None: (0, None)}
    assert repair("--check") == "missing: 0, wrong: 0, extra: 0\n"


def test_a_report_as_of_an_earlier_day_counts_only_the_completions_until_then(care, catalog):
    """A kept row whose last completion is after the report's day is counted again from its submissions."""
    assignment = care.assign(catalog, frequency="daily", target_count=7, days_ago=6)
    for days in (5, 4, 3, 1, 0):
        submit(assignment, care.a, days)
    submit(assignment, care.b, 5)
    today = timezone.localdate()
    for day in (today - timedelta(days=2), today):
        rule = progress_by_the_rule(assignment, today=day, assignees=[care.a.pk, care.b.pk], until=day)
        [row] = caseload_report(user=care.clinician, today=day)
        assert row["homework_adherence"] == round(rule.overall.completed / rule.overall.expected, 4), day
    assert rule.overall.completed == 6  # today: a's five days and b's one
