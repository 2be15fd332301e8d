"""Reads. Each `*_visible_to` decides what one user may see, `*_writable_by` what they may change; the API
never widens either.

- a clinician sees and changes their own caseload: the cases they hold, and the clients, couples, goals and
  notes on them, plus clients whose primary clinician they are;
- a supervisor sees the same for the clinicians they actively supervise (read only), and holds a caseload
  of their own like any clinician;
- the practice admin sees no clinical content; a client sees only their own goals' titles (me/goals/).
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from clinical.models import (
    SCHEDULE_INTERVAL_DAYS,
    STAFF_ROLES,
    Assessment,
    AssessmentSchedule,
    AuditEvent,
    Case,
    Client,
    Couple,
    CoupleMember,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    ProgressNote,
    Role,
    SafetyAlert,
    Supervision,
    TreatmentGoal,
    User,
)


def clinicians_visible_to(*, user: User) -> QuerySet[User]:
    """Clinician and supervisor accounts: the practice admin sees them all, nobody else any."""
    if user.role != Role.ADMIN:
        return User.objects.none()
    return User.objects.filter(role__in=STAFF_ROLES)


def supervisions_visible_to(*, user: User) -> QuerySet[Supervision]:
    """Supervision relations: all for the admin; a supervisor's own; a clinician's own."""
    qs = Supervision.objects.select_related("supervisor", "supervisee")
    if user.role == Role.ADMIN:
        return qs
    if user.role == Role.SUPERVISOR:
        return qs.filter(Q(supervisor=user) | Q(supervisee=user))
    if user.role == Role.CLINICIAN:
        return qs.filter(supervisee=user)
    return qs.none()


def active_supervisor_of(*, clinician: User) -> User | None:
    supervision = (
        Supervision.objects.select_related("supervisor").filter(supervisee=clinician, ended_on__isnull=True).first()
    )
    return supervision.supervisor if supervision else None


def supervisees_of(*, supervisor: User) -> QuerySet[User]:
    return User.objects.filter(supervisions_received__supervisor=supervisor, supervisions_received__ended_on=None)


def _held_by(user: User, *, writable: bool, field: str) -> Q | None:
    """Rows whose `field` (a clinician column) names a clinician whose caseload `user` reaches: their own, and a
    supervisor reading also their current supervisees'. None: nobody's.

    A condition on the column itself (`= me OR IN (my supervisees)`), so PostgreSQL uses the column's index; a
    subquery over users would scan every user."""
    if user.role not in STAFF_ROLES:
        return None
    own = Q(**{field: user.pk})
    if writable or user.role != Role.SUPERVISOR:
        return own
    active = Supervision.objects.filter(supervisor=user, ended_on__isnull=True).values("supervisee")
    return own | Q(**{f"{field}__in": active})


def _cases(user: User, *, writable: bool) -> QuerySet[Case]:
    held = _held_by(user, writable=writable, field="clinician")
    return Case.objects.none() if held is None else Case.objects.filter(held)


def cases_visible_to(*, user: User) -> QuerySet[Case]:
    return _cases(user, writable=False)


def cases_writable_by(*, user: User) -> QuerySet[Case]:
    return _cases(user, writable=True)


def _clients(user: User, *, writable: bool) -> QuerySet[Client]:
    held = _held_by(user, writable=writable, field="primary_clinician")
    if held is None:
        return Client.objects.none()
    cases = _cases(user, writable=writable)
    return Client.objects.filter(
        held
        | Exists(cases.filter(client=OuterRef("pk")))
        | Exists(CoupleMember.objects.filter(client=OuterRef("pk"), couple__cases__in=cases))
    )


def clients_visible_to(*, user: User) -> QuerySet[Client]:
    return _clients(user, writable=False)


def clients_writable_by(*, user: User) -> QuerySet[Client]:
    return _clients(user, writable=True)


def _couples(user: User, *, writable: bool) -> QuerySet[Couple]:
    """Couples on the user's cases, or whose partners are both the user's clients (a couple never reveals a
    partner the user could not see on their own)."""
    if user.role not in STAFF_ROLES:
        return Couple.objects.none()
    members = CoupleMember.objects.filter(couple=OuterRef("pk"))
    return Couple.objects.filter(
        Exists(_cases(user, writable=writable).filter(couple=OuterRef("pk")))
        | ~Exists(members.exclude(client__in=_clients(user, writable=writable)))
    )


def couples_visible_to(*, user: User) -> QuerySet[Couple]:
    return _couples(user, writable=False)


def couples_writable_by(*, user: User) -> QuerySet[Couple]:
    return _couples(user, writable=True)


def goals_visible_to(*, user: User) -> QuerySet[TreatmentGoal]:
    return TreatmentGoal.objects.filter(case__in=cases_visible_to(user=user))


def gas_ratings_visible_to(*, user: User) -> QuerySet[GoalAttainmentRating]:
    return GoalAttainmentRating.objects.filter(goal__case__in=cases_visible_to(user=user))


def notes_visible_to(*, user: User) -> QuerySet[ProgressNote]:
    """Notes on the cases the user sees; a supervisor also sees what their supervisees wrote on cases that
    have since moved to someone else, so those notes can still be co-signed."""
    # Per note, whether its case is visible (EXISTS on the case's primary key), not the set of every visible
    # case: with the supervisor's alternative OR-ed in, PostgreSQL would otherwise build that whole set first.
    visible = Q(Exists(cases_visible_to(user=user).filter(pk=OuterRef("case_id"))))
    if user.role == Role.SUPERVISOR:
        visible |= Q(author__in=supervisees_of(supervisor=user).values("pk"))
    return ProgressNote.objects.filter(visible)


def notes_awaiting_cosign_for(*, supervisor: User) -> QuerySet[ProgressNote]:
    """Signed notes by the supervisor's current supervisees that still need their co-signature."""
    return ProgressNote.objects.filter(
        status="signed",
        cosign_required=True,
        cosigned_at__isnull=True,
        author__in=supervisees_of(supervisor=supervisor),
    )


def goals_of_client(*, user: User) -> QuerySet[TreatmentGoal]:
    """The goals on the cases of the client whose login `user` is: their own, or their couple's."""
    if user.role != Role.CLIENT:
        return TreatmentGoal.objects.none()
    return TreatmentGoal.objects.filter(
        Q(case__client__user=user) | Q(case__couple__members__client__user=user)
    ).exclude(lifecycle_status="entered_in_error")


def audit_events_visible_to(*, user: User) -> QuerySet[AuditEvent]:
    """The audit trail is the practice admin's to read."""
    return AuditEvent.objects.all() if user.role == Role.ADMIN else AuditEvent.objects.none()


# ---------------------------------------------------------------- homework


def assignments_visible_to(*, user: User) -> QuerySet[HomeworkAssignment]:
    """Staff: the homework on the cases they see. (Clients use assignments_of_client.)"""
    return HomeworkAssignment.objects.filter(case__in=cases_visible_to(user=user))


def assignments_of_client(*, user: User) -> QuerySet[HomeworkAssignment]:
    """The homework given to the client whose login `user` is."""
    if user.role != Role.CLIENT:
        return HomeworkAssignment.objects.none()
    mine = HomeworkAssignment.assignees.through.objects.filter(homeworkassignment=OuterRef("pk"), client__user=user)
    return HomeworkAssignment.objects.filter(Exists(mine))


def submissions_visible_to(*, user: User) -> QuerySet[HomeworkSubmission]:
    """Staff see every submission on the cases they see. A client sees their own, and their partner's on their
    couple's case only where the partner chose to share it."""
    if user.role in STAFF_ROLES:
        return HomeworkSubmission.objects.filter(assignment__case__in=cases_visible_to(user=user))
    if user.role != Role.CLIENT:
        return HomeworkSubmission.objects.none()
    partner_of_mine = CoupleMember.objects.filter(couple__cases=OuterRef("assignment__case"), client__user=user)
    return HomeworkSubmission.objects.filter(
        Q(client__user=user) | (Q(shared_with_partner=True) & Exists(partner_of_mine))
    )


def submission_feedback_for(*, user: User, submission: HomeworkSubmission) -> str | None:
    """The therapist's review as `user` may read it: staff and the submitter see it; a partner reading a shared
    submission does not (the review stays between its author and the therapist)."""
    if user.role == Role.CLIENT and submission.client.user_id != user.pk:
        return None
    return submission.feedback


def completion_periods(*, assignment_ids) -> dict:
    """{assignment id: {client id: {periods with a current submission}}}, in one query."""
    result: dict = {}
    rows = (
        HomeworkSubmission.objects.filter(assignment_id__in=list(assignment_ids), status="current")
        .values_list("assignment_id", "client_id", "period")
        .distinct()
    )
    for assignment_id, client_id, period in rows:
        result.setdefault(assignment_id, {}).setdefault(client_id, set()).add(period)
    return result


# ---------------------------------------------------------------- outcomes


def cases_of_client(*, user: User) -> QuerySet[Case]:
    """The cases a client user is the subject of, alone or with their partner."""
    if user.role != Role.CLIENT:
        return Case.objects.none()
    return Case.objects.filter(Q(client__user=user) | Q(couple__members__client__user=user)).distinct()


def cases_reachable_by(*, user: User) -> QuerySet[Case]:
    """For filters that name a case: staff's visible cases, or a client's own."""
    return cases_of_client(user=user) if user.role == Role.CLIENT else cases_visible_to(user=user)


def assessments_visible_to(*, user: User) -> QuerySet[Assessment]:
    """Staff: assessments on the cases they see. A client: their own."""
    if user.role == Role.CLIENT:
        return Assessment.objects.filter(client__user=user)
    return Assessment.objects.filter(case__in=cases_visible_to(user=user))


def schedules_visible_to(*, user: User) -> QuerySet[AssessmentSchedule]:
    if user.role == Role.CLIENT:
        return AssessmentSchedule.objects.filter(client__user=user)
    return AssessmentSchedule.objects.filter(case__in=cases_visible_to(user=user))


def alerts_visible_to(*, user: User) -> QuerySet[SafetyAlert]:
    """Safety alerts go to the case's clinician and their supervisor."""
    return SafetyAlert.objects.filter(case__in=cases_visible_to(user=user))


def assessments_due_for(*, user: User, today=None) -> list[tuple[AssessmentSchedule, object]]:
    """(schedule, due since) for each of the client's active schedules with nothing reported in its current
    period: once — until answered; weekly/fortnightly/monthly — each period from the start date."""
    from django.db.models import Max
    from django.utils import timezone

    today = today or timezone.localdate()
    schedules = list(
        schedules_visible_to(user=user)
        .filter(status="active", start_date__lte=today)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
        .order_by("start_date", "created_at")
    )
    latest = dict(
        Assessment.objects.filter(schedule__in=schedules)
        .values("schedule")
        .annotate(last=Max("administered_at"))
        .values_list("schedule", "last")
    )
    due = []
    for schedule in schedules:
        last = latest.get(schedule.pk)
        if schedule.frequency == "once":
            since = schedule.start_date
        else:
            interval = SCHEDULE_INTERVAL_DAYS[schedule.frequency]
            periods = (today - schedule.start_date).days // interval
            since = schedule.start_date + timedelta(days=periods * interval)
        if last is None or (schedule.frequency != "once" and timezone.localdate(last) < since):
            due.append((schedule, since))
    return due
