"""Homework: assignments on a case, clients' submissions (exactly once, never overwritten), review."""

from datetime import timedelta
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from clinical import adherence
from clinical.models import (
    AssignmentMode,
    AssignmentStatus,
    Case,
    CaseStatus,
    Client,
    HomeworkAssignment,
    HomeworkSubmission,
    OverduePeriod,
    Role,
    SubmissionStatus,
)
from clinical.selectors import assignees_of, assignment_progress, case_clients, completion_periods
from exercises.models import Audience, Exercise
from exercises.responses import response_problems
from kernel.audit import audit_append
from kernel.changes import insert_plain, lock_at_version, save_valid, try_advisory_lock, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed
from kernel.events import happened

from .cases import require_case_not_closed, require_case_writable
from .progress import keep_progress
from .safety import require_no_conjoint_hold

DEFAULT_TARGETS = {"once": 1, "daily": 7, "weekly": 4}
CLOCK_SKEW = timedelta(minutes=5)


@transaction.atomic
def assignment_create(
    *,
    actor,
    case: Case,
    exercise: Exercise,
    assignees: list,
    mode: str = AssignmentMode.EACH,
    goals=(),
    instructions: str = "",
    start_date=None,
    due_date=None,
    frequency: str | None = None,
    target_count: int | None = None,
    reminder_time=None,
) -> HomeworkAssignment:
    """Give the current version of an exercise on a case to one or both of its clients.

    Assignees must be clients of the case; `joint` needs two of them; a couple exercise goes to both partners
    of a couple case; goals must belong to the case; a closed case takes no homework.
    """
    require_case_writable(actor, case)
    require_case_not_closed(case)
    version = exercise.current
    clients = {c.pk: c for c in case_clients(case)}
    errors = {}
    if not assignees or len({a.pk for a in assignees}) != len(assignees):
        errors["assignees"] = ["One or two distinct clients of the case."]
    elif any(a.pk not in clients for a in assignees):
        errors["assignees"] = ["Assignees must be clients of this case."]
    elif mode == AssignmentMode.JOINT and len(assignees) < 2:
        errors["mode"] = ["A joint assignment needs both partners as assignees."]
    elif mode == AssignmentMode.JOINT and version.audience == Audience.INDIVIDUAL:
        errors["mode"] = ["This exercise is done alone; assign it to each partner (mode `each`)."]
    elif version.audience == Audience.COUPLE and len(assignees) < 2:
        errors["assignees"] = ["This is a couple exercise: assign it to both partners of a couple case."]
    if any(goal.case_id != case.pk for goal in goals):
        errors["goals"] = ["Only goals of this case."]
    start_date = start_date or timezone.localdate()
    if errors:
        raise InvalidInput(errors)
    if mode == AssignmentMode.JOINT or version.audience == Audience.COUPLE:
        require_no_conjoint_hold(case)  # joint homework waits for the clinician's decision on a hold
    frequency = frequency or version.suggested_frequency
    target_count = target_count or DEFAULT_TARGETS[frequency]
    _check_reachable(frequency, start_date, due_date, target_count)
    assignment = save_valid(
        HomeworkAssignment(
            case=case,
            exercise_version=version,
            mode=mode,
            instructions=instructions,
            start_date=start_date,
            due_date=due_date,
            frequency=frequency,
            target_count=target_count,
            reminder_time=reminder_time,
            assigned_by=actor,
        )
    )
    assignment.assignees.set(assignees)
    assignment.goals.set(goals)
    keep_progress(assignment_id=assignment.pk)  # a row per assignee and one for the whole, none done yet
    audit_append(actor=actor, action="create", object_type="assignment", object_ids=[assignment.pk])
    happened("assignment.created", assignment=assignment, case=case)
    return assignment


def _check_reachable(frequency: str, start, due, target: int) -> None:
    """A target that cannot be met by the due date would leave the homework overdue for good."""
    if due is None:
        return
    if due < start:
        raise InvalidInput({"due_date": ["The due date cannot come before the start date."]})
    possible = adherence.expected_by(frequency=frequency, start=start, due=due, target=366, today=due)
    if target > possible:
        raise InvalidInput(
            {"target_count": [f"Between {start} and {due} there is room for {possible} {frequency} completion(s)."]}
        )


@transaction.atomic
def assignment_update(*, actor, assignment: HomeworkAssignment, expected_version: int | None, **changes):
    """Change instructions, due date, target, reminder time or linked goals of active homework. Lowering the target
    to what is already done completes it."""
    require_case_writable(actor, assignment.case)
    require_case_not_closed(assignment.case)
    locked = lock_at_version(assignment, expected_version=expected_version)
    if locked.status != AssignmentStatus.ACTIVE:
        raise Conflict(f"This assignment is {locked.status}; it no longer changes.", code="assignment_not_active")
    goals = changes.pop("goals", None)
    if goals is not None and any(goal.case_id != locked.case_id for goal in goals):
        raise InvalidInput({"goals": ["Only goals of this case."]})
    _check_reachable(
        locked.frequency,
        locked.start_date,
        changes.get("due_date", locked.due_date),
        changes.get("target_count", locked.target_count),
    )
    assignment = update_versioned(locked, expected_version=None, changes=changes)
    completed = _complete_if_done(assignment)
    if completed or {"due_date", "target_count"} & changes.keys():
        keep_progress(assignment_id=assignment.pk)  # its rows carry the due date, the target and the status
    if goals is not None:
        assignment.goals.set(goals)
    fields = sorted([*changes, *(["goals"] if goals is not None else [])])
    audit_append(
        actor=actor, action="update", object_type="assignment", object_ids=[assignment.pk], detail={"fields": fields}
    )
    return assignment


@transaction.atomic
def assignment_cancel(*, actor, assignment: HomeworkAssignment, expected_version: int | None = None):
    """Withdraw active homework; its submissions stay."""
    require_case_writable(actor, assignment.case)
    locked = lock_at_version(assignment, expected_version=expected_version)
    if locked.status != AssignmentStatus.ACTIVE:
        raise Conflict(f"This assignment is already {locked.status}.", code="assignment_not_active")
    assignment = update_versioned(locked, expected_version=None, changes={"status": AssignmentStatus.CANCELLED})
    keep_progress(assignment_id=assignment.pk)
    audit_append(actor=actor, action="cancel", object_type="assignment", object_ids=[assignment.pk])
    return assignment


@cache
def _assignees_statement() -> str:
    through, client = HomeworkAssignment.assignees.through._meta, Client._meta
    quote = connection.ops.quote_name
    return (
        f"SELECT t.{quote(through.get_field('client').column)}, c.{quote(client.get_field('user').column)} "  # noqa: S608 - the models' own names
        f"FROM {quote(through.db_table)} t JOIN {quote(client.db_table)} c "
        f"ON c.{quote(client.pk.column)} = t.{quote(through.get_field('client').column)} "
        f"WHERE t.{quote(through.get_field('homeworkassignment').column)} = %s"
    )


def _assignees(assignment: HomeworkAssignment) -> list[tuple]:
    """[(client id, login user id)] of the assignment's assignees (who submits, and whether the homework is done
    after): as read with the assignment (`selectors.assignments_to_submit_to`), else one statement written once per
    process, no client objects built."""
    clients = getattr(assignment, "assignee_clients", None)
    if clients is not None:
        return list(zip(clients, assignment.assignee_users, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(_assignees_statement(), [assignment.pk])
        return cursor.fetchall()


def _client_of(actor, assignees: list[tuple]):
    """The id of the assignee whose login the actor is (the API found the assignment among the actor's own)."""
    client_id = next((client_id for client_id, user_id in assignees if user_id == actor.pk), None)
    if actor.role != Role.CLIENT or client_id is None:
        raise NotAllowed("Only a client this homework was given to can submit it.", code="not_an_assignee")
    return client_id


def _check_completion(assignment: HomeworkAssignment, completed_at, responses) -> dict:
    errors = {}
    now = timezone.now()
    if completed_at > now + CLOCK_SKEW:
        errors["completed_at"] = ["This is in the future; check the device's clock."]
    elif timezone.localdate(completed_at) < assignment.start_date:
        errors["completed_at"] = [f"The homework starts on {assignment.start_date}; this is before."]
    for key, messages in response_problems(assignment.exercise_version.response_fields, responses).items():
        errors[f"responses.{key}" if key != "responses" else key] = messages
    if errors:
        raise InvalidInput(errors)
    return responses


def _require_open_for_submissions(assignment: HomeworkAssignment) -> None:
    if assignment.status == AssignmentStatus.CANCELLED:
        raise Conflict("This homework was cancelled.", code="assignment_cancelled")
    require_case_not_closed(assignment.case)


def _now_done(assignment: HomeworkAssignment) -> bool:
    """Active homework whose every required completion is in."""
    if assignment.status != AssignmentStatus.ACTIVE:
        return False
    return assignment_progress(assignments=[assignment])[assignment.pk].done


def _complete_if_done(assignment: HomeworkAssignment) -> bool:
    """Complete active homework whose every required completion is in; say whether it did."""
    if not _now_done(assignment):
        return False
    update_versioned(assignment, expected_version=None, changes={"status": AssignmentStatus.COMPLETED})
    happened("assignment.completed", assignment=assignment, case=assignment.case_id)
    return True


def _after_submission(assignment: HomeworkAssignment, done: bool | None = None) -> None:
    """Progress changed: the assignment (locked by the caller) gets a new version, so delta sync sees it, and
    completes when done (`done`, where the caller knows it from the recount; else computed here)."""
    done = _now_done(assignment) if done is None else done
    update_versioned(
        assignment, expected_version=None, changes={"status": AssignmentStatus.COMPLETED} if done else {}, locked=True
    )
    if done:
        happened("assignment.completed", assignment=assignment, case=assignment.case_id)


def submission_create(
    *,
    actor,
    assignment: HomeworkAssignment,
    completed_at,
    responses: dict,
    shared_with_partner: bool = False,
    locked: bool = False,
) -> HomeworkSubmission:
    """A client's completion of their homework, checked against the exercise version they were given.

    `locked`: the caller read `assignment` with its case and exercise version (and its assignees,
    `selectors.assignments_to_submit_to`) under its row lock, in its own transaction (the API's lookup does, in one
    statement), so it is not read again; otherwise it is locked here. Submissions to one assignment take turns on
    that lock (progress and versions are counted under it). A caller that locked also undoes this work where it
    raises (the API rolls back to the savepoint after its checks), so no savepoint of its own is taken."""
    with transaction.atomic(savepoint=not locked):
        return _submission_create(
            actor=actor,
            assignment=assignment,
            completed_at=completed_at,
            responses=responses,
            shared_with_partner=shared_with_partner,
            locked=locked,
        )


def _submission_create(*, actor, assignment, completed_at, responses, shared_with_partner, locked):
    if not locked:
        assignment = lock_at_version(assignment, expected_version=None, related=("case", "exercise_version"))
    assignees = _assignees(assignment)  # read once: who submits, and whether it is done after
    client = _client_of(actor, assignees)
    _require_open_for_submissions(assignment)
    _check_completion(assignment, completed_at, responses)
    submission = insert_plain(
        HomeworkSubmission(
            assignment=assignment,
            case_id=assignment.case_id,
            client_id=client,
            completed_at=completed_at,
            period=adherence.period_of(
                frequency=assignment.frequency, start=assignment.start_date, on=timezone.localdate(completed_at)
            ),
            responses=responses,
            shared_with_partner=shared_with_partner,
        )
    )
    periods = keep_progress(assignment_id=assignment.pk)
    audit_append(actor=actor, action="create", object_type="submission", object_ids=[submission.pk])
    happened("submission.created", submission=submission, assignment=assignment, case=assignment.case_id, client=client)
    done = assignment.status == AssignmentStatus.ACTIVE and adherence.done_by_counts(
        mode=assignment.mode,
        target=assignment.target_count,
        assignees=[client_id for client_id, _ in assignees],
        periods=periods,
    )
    _after_submission(assignment, done)  # then, if it is done now, assignment.completed
    if done:
        keep_progress(assignment_id=assignment.pk)  # the kept rows carry the assignment's status: completed now
    return submission


@transaction.atomic
def submission_amend(
    *, actor, submission: HomeworkSubmission, responses: dict, completed_at=None, shared_with_partner=None
) -> HomeworkSubmission:
    """Correct a submission: a new revision is stored and the old one is kept, marked `amended`. The chain
    counts once towards adherence."""
    assignment = lock_at_version(submission.assignment, expected_version=None, related=("case", "exercise_version"))
    locked = lock_at_version(submission, expected_version=None)
    if locked.client.user_id != actor.pk:
        raise NotAllowed("Only the client who sent it can correct a submission.", code="not_submitter")
    if locked.status != SubmissionStatus.CURRENT:
        raise Conflict("This revision was already corrected; amend the latest one.", code="submission_amended")
    _require_open_for_submissions(assignment)
    completed_at = completed_at or locked.completed_at
    _check_completion(assignment, completed_at, responses)
    update_versioned(locked, expected_version=None, changes={"status": SubmissionStatus.AMENDED})
    revision = HomeworkSubmission.objects.create(
        assignment=assignment,
        case_id=assignment.case_id,
        client=locked.client,
        completed_at=completed_at,
        period=adherence.period_of(
            frequency=assignment.frequency, start=assignment.start_date, on=timezone.localdate(completed_at)
        ),
        responses=responses,
        shared_with_partner=locked.shared_with_partner if shared_with_partner is None else shared_with_partner,
        revision=locked.revision + 1,
        amends=locked,
    )
    audit_append(
        actor=actor,
        action="amend",
        object_type="submission",
        object_ids=[revision.pk, locked.pk],
        detail={"amends": str(locked.pk)},
    )
    happened(
        "submission.amended",
        submission=revision,
        amends=locked,
        assignment=assignment,
        case=assignment.case_id,
        client=locked.client_id,
    )
    _after_submission(assignment)
    keep_progress(assignment_id=assignment.pk)
    return revision


@transaction.atomic
def submission_review(*, actor, submission: HomeworkSubmission, feedback: str) -> HomeworkSubmission:
    """The case's clinician answers a submission; the client sees the feedback on their own submission."""
    require_case_writable(actor, submission.assignment.case)
    locked = lock_at_version(submission, expected_version=None)
    if locked.status != SubmissionStatus.CURRENT:
        raise Conflict("Review the latest revision of this submission.", code="submission_amended")
    if locked.reviewed_at is not None:
        raise Conflict("This submission was already reviewed.", code="already_reviewed")
    if not feedback.strip():
        raise InvalidInput({"feedback": ["Write some feedback."]})
    submission = update_versioned(
        locked,
        expected_version=None,
        changes={"feedback": feedback.strip(), "reviewed_by": actor, "reviewed_at": timezone.now()},
    )
    audit_append(actor=actor, action="review", object_type="submission", object_ids=[submission.pk])
    happened(
        "submission.reviewed",
        submission=submission,
        assignment=submission.assignment_id,
        case=submission.assignment.case_id,
        client=submission.client_id,
    )
    return submission


# Periods that ended longer ago than this are not noticed any more: a worker that was stopped for a while, or the
# first run on a practice with years of homework, does not flood receivers with old news.
OVERDUE_LOOKBACK = timedelta(days=7)
OVERDUE_CHUNK = 2000


def notice_overdue_homework(*, today=None) -> int:
    """assignment.overdue, once per assignment and period, for active homework on open cases whose period ended
    (before `today`, within OVERDUE_LOOKBACK) with its assignees behind (adherence.behind_after). The worker runs
    it every 15 minutes (events/tasks.py); a transaction-level advisory lock keeps two runs from overlapping.
    Returns how many periods were noticed."""
    today = today or timezone.localdate()
    first, last = today - OVERDUE_LOOKBACK, today - timedelta(days=1)
    noticed = 0
    with transaction.atomic():
        if not try_advisory_lock("clinical.notice_overdue_homework"):
            return 0
        rows = list(
            HomeworkAssignment.objects.filter(
                status=AssignmentStatus.ACTIVE, case__status=CaseStatus.OPEN, start_date__lte=last
            )
            .exclude(due_date__lt=first)
            .order_by("pk")
            .values("pk", "case_id", "frequency", "mode", "start_date", "due_date", "target_count")
        )
        for start in range(0, len(rows), OVERDUE_CHUNK):
            noticed += _notice_chunk(rows[start : start + OVERDUE_CHUNK], first=first, last=last)
    return noticed


def _notice_chunk(rows: list[dict], *, first, last) -> int:
    ids = [row["pk"] for row in rows]
    done = completion_periods(assignment_ids=ids)
    assignees = assignees_of(assignment_ids=ids)
    seen = set(OverduePeriod.objects.filter(assignment_id__in=ids).values_list("assignment_id", "period"))
    due = []
    for row in rows:
        for period in adherence.periods_ending(
            frequency=row["frequency"],
            start=row["start_date"],
            due=row["due_date"],
            target=row["target_count"],
            first=first,
            last=last,
        ):
            if (row["pk"], period) not in seen and adherence.behind_after(
                frequency=row["frequency"],
                mode=row["mode"],
                target=row["target_count"],
                assignees=assignees.get(row["pk"], []),
                periods_by_client=done.get(row["pk"], {}),
                period=period,
            ):
                due.append((row, period))
    OverduePeriod.objects.bulk_create(OverduePeriod(assignment_id=row["pk"], period=period) for row, period in due)
    for row, _ in due:
        happened("assignment.overdue", assignment=row["pk"], case=row["case_id"])
    return len(due)
