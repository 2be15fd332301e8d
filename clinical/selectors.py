"""Reads. For each kind of record one `<records>_visible_to(user=...)` decides what a user of any role may see,
and `<records>_writable_by` what they may change; the API never widens either, and uses nothing else to scope
its lists, its writable references, its filters and its reports.

- a clinician sees and changes their own caseload: the cases they hold, and the clients, couples, goals and
  notes on them, plus clients whose primary clinician they are;
- a supervisor sees the same for the clinicians they actively supervise (read only), and holds a caseload
  of their own like any clinician;
- the practice admin sees no clinical content;
- a client sees their own therapy: the cases they are the subject of (alone or as a partner), the titles of
  their goals, the homework given to them, their own submissions (and their partner's where shared), their own
  assessments and schedules; never notes, alerts or anyone's client record.
"""

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Case as Choice
from django.db.models import Exists, IntegerField, Max, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinical import adherence, instruments
from clinical.models import (
    MFA_ROLES,
    SCHEDULE_INTERVAL_DAYS,
    STAFF_ROLES,
    Assessment,
    AssessmentSchedule,
    AuditEvent,
    CalendarFeed,
    Case,
    Client,
    ConfidentialityPolicy,
    ConjointHold,
    Consent,
    ConsentDocument,
    ConsentKind,
    Couple,
    CoupleMember,
    Device,
    ErasureRequest,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    Instrument,
    InstrumentVersion,
    NotificationPreferences,
    ProgressNote,
    RecordRelease,
    RecoveryCode,
    Role,
    SafetyAlert,
    SafetyScreen,
    ScheduleFrequency,
    Session,
    SessionRating,
    SessionStatus,
    SubjectType,
    Supervision,
    TreatmentGoal,
    User,
)
from kernel import clock
from kernel.tokens import token_digest


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


def _supervised_by(user: User) -> QuerySet[Supervision]:
    """The ids of `user`'s current supervisees, as a subquery (`supervisee`)."""
    return Supervision.objects.filter(supervisor=user, ended_on__isnull=True).values("supervisee")


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
    return own | Q(**{f"{field}__in": _supervised_by(user)})


def _cases(user: User, *, writable: bool) -> QuerySet[Case]:
    held = _held_by(user, writable=writable, field="clinician")
    return Case.objects.none() if held is None else Case.objects.filter(held)


def cases_visible_to(*, user: User) -> QuerySet[Case]:
    """Staff: their caseload (a supervisor's with their supervisees'). A client: the cases of their own therapy,
    alone or with their partner."""
    if user.role == Role.CLIENT:
        as_partner = CoupleMember.objects.filter(couple=OuterRef("couple"), client__user=user)
        return Case.objects.filter(Q(client__user=user) | Exists(as_partner))
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
    """The goals on the cases the user sees; a client does not see goals entered in error."""
    goals = TreatmentGoal.objects.filter(case__in=cases_visible_to(user=user))
    return goals.exclude(lifecycle_status="entered_in_error") if user.role == Role.CLIENT else goals


def sessions_visible_to(*, user: User) -> QuerySet[Session]:
    """Staff: the sessions of the cases they see. A client: the sessions they attend (never an individual session
    of their partner's, which they do not attend)."""
    if user.role == Role.CLIENT:
        return Session.objects.filter(attendees__user=user)
    if user.role not in STAFF_ROLES:
        return Session.objects.none()
    return Session.objects.filter(Exists(cases_visible_to(user=user).filter(pk=OuterRef("case_id"))))


def session_ratings_visible_to(*, user: User) -> QuerySet[SessionRating]:
    """A client: their own ratings only (never their partner's). Staff: the ratings on the cases they see."""
    if user.role == Role.CLIENT:
        return SessionRating.objects.filter(client__user=user)
    if user.role not in STAFF_ROLES:
        return SessionRating.objects.none()
    return SessionRating.objects.filter(Exists(cases_visible_to(user=user).filter(pk=OuterRef("session__case_id"))))


def missing_a_note() -> Q:
    """The rule for a session whose note is missing: attended, and still no signed note NOTE_GRACE_HOURS after it
    ended. One definition for notes/missing/ and the caseload report."""
    due = timezone.now() - timedelta(hours=settings.NOTE_GRACE_HOURS)
    signed = ProgressNote.objects.filter(session=OuterRef("pk"), status="signed")
    return Q(status="attended", ends_at__lte=due) & ~Q(Exists(signed))


def sessions_missing_a_note(*, user: User) -> QuerySet[Session]:
    """Attended sessions the user sees that still have no signed note NOTE_GRACE_HOURS after they ended."""
    return sessions_visible_to(user=user).filter(missing_a_note())


def upcoming_sessions_visible_to(*, user: User) -> QuerySet[Session]:
    """The sessions the user sees that have not ended yet, by the application's clock (`kernel.clock`, so that the
    API's statement compiled once per shape takes each request's moment)."""
    return sessions_visible_to(user=user).filter(ends_at__gt=clock.now())


# The span of a clinician's calendar feed: the last month (to look back at) and the next six.
CALENDAR_FEED_PAST = timedelta(days=30)
CALENDAR_FEED_AHEAD = timedelta(days=180)


def calendar_feeds_visible_to(*, user: User) -> QuerySet[CalendarFeed]:
    """Staff: their own live feed (at most one). Nobody sees another's, the admin included; clients have none."""
    if user.role not in STAFF_ROLES:
        return CalendarFeed.objects.none()
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True)


def calendar_feed_by_token(*, token: str) -> CalendarFeed | None:
    """The live feed whose secret this is, with its clinician. None for a token that is unknown, replaced or
    revoked, and for an account since deactivated or no longer staff: each answers alike."""
    return (
        CalendarFeed.objects.select_related("user")
        .filter(
            token_hash=token_digest(token),
            revoked_at__isnull=True,
            user__is_active=True,
            user__role__in=STAFF_ROLES,
        )
        .first()
    )


def calendar_feed_sessions(*, user: User) -> QuerySet[Session]:
    """What a clinician's calendar feed shows: the sessions they hold, on cases they still see, starting from
    CALENDAR_FEED_PAST ago to CALENDAR_FEED_AHEAD ahead, cancelled ones included (the feed marks them so), with
    who attends. Only the columns the feed writes are read: never the place, the link or a cancellation's reason."""
    now = timezone.now()
    attendees = Client.objects.order_by("created_at", "id").only("id", "given_name", "preferred_name", "family_name")
    return (
        sessions_visible_to(user=user)
        .filter(clinician=user, starts_at__gte=now - CALENDAR_FEED_PAST, starts_at__lt=now + CALENDAR_FEED_AHEAD)
        .only("id", "starts_at", "ends_at", "modality", "status", "updated_at", "version")
        .prefetch_related(Prefetch("attendees", queryset=attendees))
        .order_by("starts_at", "id")
    )


def gas_ratings_visible_to(*, user: User) -> QuerySet[GoalAttainmentRating]:
    """Staff only: a rating is the clinician's judgement."""
    if user.role not in STAFF_ROLES:
        return GoalAttainmentRating.objects.none()
    return GoalAttainmentRating.objects.filter(goal__case__in=cases_visible_to(user=user))


def notes_visible_to(*, user: User) -> QuerySet[ProgressNote]:
    """Notes on the cases the user sees; a supervisor also sees what their supervisees wrote on cases that
    have since moved to someone else, so those notes can still be co-signed."""
    # Per note, whether its case is visible (EXISTS on the case's primary key), not the set of every visible
    # case: with the supervisor's alternative OR-ed in, PostgreSQL would otherwise build that whole set first.
    if user.role not in STAFF_ROLES:  # clients never read notes
        return ProgressNote.objects.none()
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


def audit_events_visible_to(*, user: User) -> QuerySet[AuditEvent]:
    """The audit trail is the practice admin's to read."""
    return AuditEvent.objects.all() if user.role == Role.ADMIN else AuditEvent.objects.none()


def erasure_requests_visible_to(*, user: User) -> QuerySet[ErasureRequest]:
    """Erasures are the practice admin's to make and read (they name record types and counts, never contents)."""
    return ErasureRequest.objects.all() if user.role == Role.ADMIN else ErasureRequest.objects.none()


def releases_visible_to(*, user: User) -> QuerySet[RecordRelease]:
    """Releases of a case's record: staff who see the case (its clinician makes them, their supervisors read them).
    Clients and the admin read none: a release is a disclosure the clinician made, kept with the case."""
    if user.role not in STAFF_ROLES:
        return RecordRelease.objects.none()
    return RecordRelease.objects.filter(case__in=cases_visible_to(user=user))


def clients_erasable_by(*, user: User) -> QuerySet[Client]:
    """Whom `user` may ask to erase: the practice admin, any client of the practice (the service refuses one still in
    care); nobody else anyone. The admin reads nothing of them but their id."""
    return Client.objects.all() if user.role == Role.ADMIN else Client.objects.none()


# ---------------------------------------------------------------- homework


def case_clients(case: Case) -> list:
    """The clients a case is about: its client, or both partners of its couple."""
    if case.subject_type == SubjectType.INDIVIDUAL:
        return [case.client]
    return [member.client for member in case.couple.members.select_related("client").order_by("position")]


def assignments_visible_to(*, user: User) -> QuerySet[HomeworkAssignment]:
    """Staff: the homework on the cases they see. A client: the homework given to them (not their partner's)."""
    if user.role == Role.CLIENT:
        mine = HomeworkAssignment.assignees.through.objects.filter(homeworkassignment=OuterRef("pk"), client__user=user)
        return HomeworkAssignment.objects.filter(Exists(mine))
    return HomeworkAssignment.objects.filter(case__in=cases_visible_to(user=user))


def assignments_to_submit_to(*, user: User) -> QuerySet[HomeworkAssignment]:
    """`assignments_visible_to`, each row locked and read with what a submission's service checks: its case, its
    exercise version, and its assignees as `assignee_clients` and their logins as `assignee_users` (in the same
    order), so that a submission reads its assignment in one statement (`submission_create(locked=True)`)."""
    assignees = HomeworkAssignment.assignees.through.objects.filter(homeworkassignment=OuterRef("pk")).order_by(
        "client_id"
    )
    return (
        assignments_visible_to(user=user)
        .select_related("case", "exercise_version")
        .select_for_update(of=("self",))
        .annotate(
            assignee_clients=ArraySubquery(assignees.values("client_id")),
            assignee_users=ArraySubquery(assignees.values("client__user_id")),
        )
    )


SHARING_POLICIES = (ConfidentialityPolicy.NO_SECRETS, ConfidentialityPolicy.LIMITED_SECRETS)


def submissions_visible_to(*, user: User) -> QuerySet[HomeworkSubmission]:
    """Staff see every submission on the cases they see. A client sees their own, and their partner's on their
    couple's case only where the partner chose to share it and the case's confidentiality policy lets partners
    share (not `separate_records`)."""
    if user.role in STAFF_ROLES:
        return HomeworkSubmission.objects.filter(case__in=cases_visible_to(user=user))
    if user.role != Role.CLIENT:
        return HomeworkSubmission.objects.none()
    # One join to the case: its couple has the caller as a partner, and its policy lets partners share (under
    # `separate_records` each partner's material is theirs alone, shared or not).
    partner_of_mine = CoupleMember.objects.filter(
        couple__cases=OuterRef("case"),
        couple__cases__confidentiality_policy__in=SHARING_POLICIES,
        client__user=user,
    )
    return HomeworkSubmission.objects.filter(
        Q(client__user=user) | (Q(shared_with_partner=True) & Exists(partner_of_mine))
    )


# Up to this many cases, a clinician's page of submissions is read case by case (submission_page_ids); a larger
# caseload walks every submission in order and keeps its own, which is then the quicker way. Measured at 3.1 million
# submissions (docs/performance.md): 124 cases case by case 2.2 ms of SQL against 7.5 ms walking; a supervisor's
# 3,798 cases 0.8 ms walking.
CASE_BY_CASE_MAX = 200


@functools.cache
def _page_by_case_statement(backwards: bool, after: bool) -> str:
    """submission_page_ids' statement, written once per process and direction from the model's names."""
    meta, quote = HomeworkSubmission._meta, connection.ops.quote_name
    pk, created, case = (quote(meta.get_field(name).column) for name in ("id", "created_at", "case"))
    order = f"{created} DESC, {pk} DESC" if backwards else f"{created}, {pk}"
    beyond = f"AND ({created}, {pk}) {'<' if backwards else '>'} (%s, %s)" if after else ""
    outer = "x.created_at DESC, x.id DESC" if backwards else "x.created_at, x.id"
    return (
        f"SELECT x.id FROM unnest(%s::uuid[]) AS c(id) CROSS JOIN LATERAL ("  # noqa: S608 - the model's names
        f"SELECT {pk} AS id, {created} AS created_at FROM {quote(meta.db_table)} "
        f"WHERE {case} = c.id {beyond} ORDER BY {order} LIMIT %s) AS x ORDER BY {outer} LIMIT %s"
    )


def submission_page_ids(*, user: User, position, size: int) -> list | None:
    """The ids of the first `size` submissions staff `user` sees from the cursor's `position` (None: the start;
    else its direction, time and id), in the cursor's order, read case by case: each of the caller's cases gives its
    first `size` from `submission_by_case`, and the first `size` of them all are the page. Its cost follows the
    caller's caseload, not the practice's size (walking every submission in order and keeping the caller's reads
    more rows the smaller their share of the practice: 6,396 for 21 for a caseload of 124 of 25,000 cases). None,
    and the queryset is the quicker way, for a clinician with more than CASE_BY_CASE_MAX cases, and for anyone but
    a clinician: a client's own are read by `submission_by_client`; a supervisor's team holds a large share of a
    practice (walking kept 21 of 130 at scale 1), and counting a team's cases to choose cost more than walking."""
    if user.role != Role.CLINICIAN:
        return None
    cases = list(cases_visible_to(user=user).values_list("id", flat=True)[: CASE_BY_CASE_MAX + 1])
    if len(cases) > CASE_BY_CASE_MAX:
        return None
    if not cases:
        return []
    backwards = position is not None and position[0] == "p"
    beyond = [] if position is None else [position[1], position[2]]
    with connection.cursor() as cursor:
        cursor.execute(_page_by_case_statement(backwards, position is not None), [cases, *beyond, size, size])
        return [row[0] for row in cursor.fetchall()]


def submission_feedback_for(*, user: User, submission: HomeworkSubmission) -> str | None:
    """The therapist's review as `user` may read it: staff and the submitter see it; a partner reading a shared
    submission does not (the review stays between its author and the therapist)."""
    return submission.feedback if feedback_shown(user=user, submitter=submission.client.user_id) else None


def feedback_shown(*, user: User, submitter) -> bool:
    """Whether `user` may read the review of a submission sent by the login `submitter` (a user id)."""
    return user.role != Role.CLIENT or submitter == user.pk


@functools.cache
def _periods_statement() -> str:
    """completion_periods' statement, written once per process from the model's names (the ORM built and compiled
    it on every read of a client's homework)."""
    meta, quote = HomeworkSubmission._meta, connection.ops.quote_name
    assignment, client, period, status = (
        quote(meta.get_field(name).column) for name in ("assignment", "client", "period", "status")
    )
    return (
        f"SELECT DISTINCT {assignment}, {client}, {period} FROM {quote(meta.db_table)} "  # noqa: S608 - the model's names
        # The status written out, not a parameter: the partial index `submission_progress` holds the current ones.
        f"WHERE {assignment} = ANY(%s) AND {status} = 'current'"
    )


def completion_periods(*, assignment_ids) -> dict:
    """{assignment id: {client id: {periods with a current submission}}}, in one query."""
    result: dict = {}
    assignment_ids = list(assignment_ids)
    if not assignment_ids:
        return result
    with connection.cursor() as cursor:
        cursor.execute(_periods_statement(), [assignment_ids])
        rows = cursor.fetchall()
    for assignment_id, client_id, period in rows:
        result.setdefault(assignment_id, {}).setdefault(client_id, set()).add(period)
    return result


def assignees_of(*, assignment_ids) -> dict:
    """{assignment id: [client ids]}, in one query."""
    result: dict = {}
    through = HomeworkAssignment.assignees.through.objects.filter(homeworkassignment_id__in=list(assignment_ids))
    for assignment_id, client_id in through.values_list("homeworkassignment_id", "client_id"):
        result.setdefault(assignment_id, []).append(client_id)
    return result


# ---------------------------------------------------------------- outcomes


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
    """Safety alerts go to the case's clinician and their supervisor, never to a client."""
    if user.role not in STAFF_ROLES:
        return SafetyAlert.objects.none()
    return SafetyAlert.objects.filter(case__in=cases_visible_to(user=user))


@dataclass(frozen=True)
class MeasureDue:
    """One measure a client is asked to fill in now: the schedule, the day it became due and, for a
    before_each_session schedule, the session it is for and that session's start (when it stops being due)."""

    schedule: AssessmentSchedule
    since: date
    session_id: UUID | None = None
    due_before: datetime | None = None


def assessments_due_for(*, user: User, today=None, now=None) -> list[MeasureDue]:
    """What the client is asked to fill in now, for each of their active schedules: once — until answered;
    weekly/fortnightly/monthly — each period from the start date with nothing reported in it; before_each_session —
    one item per session due now (session_measures_due). A flat number of queries, however many schedules and
    sessions."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    schedules = list(
        schedules_visible_to(user=user)
        .filter(status="active", start_date__lte=today)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
        .order_by("start_date", "created_at")
    )
    periodic = [s for s in schedules if s.frequency != ScheduleFrequency.BEFORE_EACH_SESSION]
    latest = (
        dict(
            Assessment.objects.filter(schedule__in=periodic)
            .values("schedule")
            .annotate(last=Max("administered_at"))
            .values_list("schedule", "last")
        )
        if periodic
        else {}
    )
    by_session = session_measures_due(
        schedules=[
            {
                "pk": s.pk,
                "client_id": s.client_id,
                "case_id": s.case_id,
                "start_date": s.start_date,
                "end_date": s.end_date,
            }
            for s in schedules
            if s.frequency == ScheduleFrequency.BEFORE_EACH_SESSION
        ],
        now=now,
    )
    due = []
    for schedule in schedules:
        if schedule.frequency == ScheduleFrequency.BEFORE_EACH_SESSION:
            due += [
                MeasureDue(schedule, timezone.localdate(item.opens), item.session_id, item.starts_at)
                for item in by_session.get(schedule.pk, [])
            ]
            continue
        _, since = schedule_period(frequency=schedule.frequency, start=schedule.start_date, today=today)
        if not schedule_answered(frequency=schedule.frequency, last=latest.get(schedule.pk), since=since):
            due.append(MeasureDue(schedule, since))
    return due


@dataclass(frozen=True)
class SessionMeasure:
    """A before_each_session measure due now: for this session, asked from `opens` until the session starts."""

    session_id: UUID
    starts_at: datetime
    opens: datetime


def before_session_lead() -> timedelta:
    return timedelta(hours=settings.MEASURE_BEFORE_SESSION_HOURS)


def session_measures_due(*, schedules: list[dict], now) -> dict[UUID, list[SessionMeasure]]:
    """{schedule id: [SessionMeasure, by start]} for before_each_session schedules (dicts of pk, client_id, case_id,
    start_date, end_date), in two queries however many schedules and sessions. One rule for me/assessments-due/ and
    the measure reminders:

    each session of the schedule's case that is still `scheduled` and that the schedule's client attends asks for
    the measure from MEASURE_BEFORE_SESSION_HOURS before it starts until it starts (then it is simply no longer
    asked); cancelling the session (cancelled, late_cancelled) withdraws it. A session counts when it starts within
    the schedule's start and end dates (the practice's local dates); its window opens no earlier than the start
    date (a self-report is never dated before it). An assessment of the schedule administered within the window
    answers it (two sessions whose windows overlap can be answered by one)."""
    if not schedules:
        return {}
    lead = before_session_lead()
    attending = Session.attendees.through.objects.filter(
        client_id__in={row["client_id"] for row in schedules},
        session__case_id__in={row["case_id"] for row in schedules},
        session__status=SessionStatus.SCHEDULED,
        session__starts_at__gt=now,
        session__starts_at__lte=now + lead,
    ).values_list("client_id", "session__case_id", "session_id", "session__starts_at")
    sessions: dict = {}
    for client_id, case_id, session_id, starts_at in attending:
        sessions.setdefault((client_id, case_id), []).append((starts_at, session_id))
    answers: dict = {}
    for schedule_id, administered_at in Assessment.objects.filter(
        schedule_id__in=[row["pk"] for row in schedules], administered_at__gte=now - lead
    ).values_list("schedule_id", "administered_at"):
        answers.setdefault(schedule_id, []).append(administered_at)
    due: dict = {}
    for row in schedules:
        first_day = timezone.make_aware(datetime.combine(row["start_date"], time.min))
        for starts_at, session_id in sorted(sessions.get((row["client_id"], row["case_id"]), [])):
            day = timezone.localdate(starts_at)
            if day < row["start_date"] or (row["end_date"] is not None and day > row["end_date"]):
                continue
            opens = max(starts_at - lead, first_day)
            if any(opens <= at < starts_at for at in answers.get(row["pk"], [])):
                continue
            due.setdefault(row["pk"], []).append(SessionMeasure(session_id, starts_at, opens))
    return due


def schedule_period(*, frequency: str, start, today) -> tuple[int, object]:
    """(the schedule's current period, the day it began): a one-off has one period from its start; weekly,
    fortnightly and monthly count whole intervals from the start date. (Not for before_each_session: its periods
    are its sessions, session_measures_due.)"""
    if frequency == "once":
        return 0, start
    interval = SCHEDULE_INTERVAL_DAYS[frequency]
    period = (today - start).days // interval
    return period, start + timedelta(days=period * interval)


def schedule_answered(*, frequency: str, last, since) -> bool:
    """Whether the period that began on `since` has its report, given the latest report's time (a one-off: any)."""
    return last is not None and (frequency == "once" or timezone.localdate(last) >= since)


# ---------------------------------------------------------------- homework progress


def assignment_progress(*, assignments, today=None) -> dict:
    """{assignment id: adherence.AssignmentProgress} for a page of assignments, in one query."""
    return assignment_progress_of_rows(
        rows=[
            {
                "id": a.pk,
                "frequency": a.frequency,
                "mode": a.mode,
                "start_date": a.start_date,
                "due_date": a.due_date,
                "target_count": a.target_count,
            }
            for a in assignments
        ],
        assignees={a.pk: [c.pk for c in a.assignees.all()] for a in assignments},
        today=today,
    )


def assignment_progress_of_rows(*, rows, assignees: dict, today=None) -> dict:
    """assignment_progress for assignments read as plain rows (dicts with those columns) and {assignment id:
    [client ids]}, for read paths that build no model objects."""
    today = today or timezone.localdate()
    periods = completion_periods(assignment_ids=[row["id"] for row in rows])
    return {
        row["id"]: adherence.assignment_progress(
            frequency=row["frequency"],
            mode=row["mode"],
            start=row["start_date"],
            due=row["due_date"],
            target=row["target_count"],
            assignees=assignees[row["id"]],
            periods_by_client=periods.get(row["id"], {}),
            today=today,
        )
        for row in rows
    }


# ---------------------------------------------------------------- reports


def clinicians_reportable_by(*, user: User) -> QuerySet[User]:
    """Whose caseloads `user` may report on: a clinician themself; a supervisor themself and their current
    supervisees. In report order: the caller first, then by name."""
    if user.role not in STAFF_ROLES:
        return User.objects.none()
    whom = Q(pk=user.pk)
    if user.role == Role.SUPERVISOR:
        # One key set (`id IN (supervisees UNION ALL me)`), read by key: `id = me OR id IN (supervisees)` made
        # PostgreSQL scan every user of the practice (13 ms at 20,000 users, 0.8 ms this way; bench 2026-12-03).
        whom = Q(pk__in=_supervised_by(user).union(User.objects.filter(pk=user.pk).values("pk"), all=True))
    caller_first = Choice(When(pk=user.pk, then=Value(0)), default=Value(1), output_field=IntegerField())
    return User.objects.filter(whom).order_by(caller_first, "display_name", "id")


# ---------------------------------------------------------------- measures


def measure_order(code: str) -> tuple[int, str]:
    """Where a measure comes among the others: built-in ones first (in the definitions' order), then by code. A sort
    key, so that every list of measures (the published ones, a case's series, a chart's panels) reads alike."""
    builtin = {definition["code"]: index for index, definition in enumerate(instruments.builtin_definitions())}
    return builtin.get(code, len(builtin)), code


def current_measures() -> list[tuple[Instrument, instruments.Instrument]]:
    """Every published measure with its current version's measure, built-in ones first (in the definitions'
    order), then by code. The same for everyone: measures are the practice's reference data, not records."""
    rows = Instrument.objects.select_related("current").filter(current__isnull=False)
    ordered = sorted(rows, key=lambda row: measure_order(row.code))
    return [(row, instruments.measure_of(row.current)) for row in ordered]


def measures_scored_with(*, versions) -> dict[UUID, instruments.Instrument]:
    """The measure each of these published versions (ids) defines, by version id, in one query: what an assessment
    was scored with (its bands and cut-off), whichever version is current now."""
    wanted = set(versions)
    if not wanted:
        return {}
    return {version.pk: instruments.measure_of(version) for version in InstrumentVersion.objects.filter(pk__in=wanted)}


def current_measure(code: str) -> tuple[InstrumentVersion, instruments.Instrument] | None:
    """The version new assessments of `code` are scored with, and its measure; None for an unknown code."""
    row = Instrument.objects.select_related("current").filter(code=code, current__isnull=False).first()
    return None if row is None else (row.current, instruments.measure_of(row.current))


def instruments_visible_to(*, user: User) -> QuerySet[Instrument]:
    """Every published measure, for everyone who uses them: staff record and schedule them, clients answer them,
    the admin publishes them. Reference data of the practice, not anyone's record."""
    return Instrument.objects.filter(current__isnull=False)


def instrument_versions_visible_to(*, user: User) -> QuerySet[InstrumentVersion]:
    """Every published version of every measure, its history: for staff, who read what an earlier assessment was
    scored with, and the admin, who publishes them. Not for clients: the app answers the current version
    (me/assessments-due/, instruments/)."""
    if user.role not in (*STAFF_ROLES, Role.ADMIN):
        return InstrumentVersion.objects.none()
    return InstrumentVersion.objects.select_related("instrument")


# ---------------------------------------------------------------- reminders


def devices_visible_to(*, user: User) -> QuerySet[Device]:
    """A client: their own devices still registered. Nobody else, staff included: a push token can notify the
    client's phone, and which phones a client uses is not part of their care."""
    if user.role != Role.CLIENT:
        return Device.objects.none()
    return Device.objects.filter(user=user, revoked_at__isnull=True)


def notification_preferences_visible_to(*, user: User) -> QuerySet[NotificationPreferences]:
    """A client: their own. Nobody else."""
    if user.role != Role.CLIENT:
        return NotificationPreferences.objects.none()
    return NotificationPreferences.objects.filter(user=user)


def consents_visible_to(*, user: User) -> QuerySet[Consent]:
    """A client: their own. Staff: those of the clients they see."""
    if user.role == Role.CLIENT:
        return Consent.objects.filter(client__user=user)
    return Consent.objects.filter(client__in=clients_visible_to(user=user))


def consent_documents_visible_to(*, user: User) -> QuerySet[ConsentDocument]:
    """Every version of every document, to everyone signed in: the texts are the practice's, the same for all."""
    return ConsentDocument.objects.all()


def current_consent_document(kind: str) -> ConsentDocument | None:
    """The newest published document of `kind`: the one a client is asked to consent to."""
    return ConsentDocument.objects.filter(kind=kind).order_by("-created_at", "-id").first()


def clients_without_consent(*, clients, kind: str = ConsentKind.TREATMENT) -> list[Client]:
    """Those of `clients` with no consent of `kind` in force, in the order given."""
    consented = set(
        Consent.objects.filter(client__in=clients, kind=kind, revoked_at__isnull=True).values_list(
            "client_id", flat=True
        )
    )
    return [client for client in clients if client.pk not in consented]


def safety_screens_visible_to(*, user: User) -> QuerySet[SafetyScreen]:
    """The clinician of the case and their supervisors; never a client (not even the screened partner), never the
    admin."""
    if user.role not in STAFF_ROLES:
        return SafetyScreen.objects.none()
    return SafetyScreen.objects.filter(case__in=cases_visible_to(user=user))


def conjoint_holds_visible_to(*, user: User) -> QuerySet[ConjointHold]:
    """As safety screens: the case's clinician and supervisors only."""
    if user.role not in STAFF_ROLES:
        return ConjointHold.objects.none()
    return ConjointHold.objects.filter(case__in=cases_visible_to(user=user))


# ---------------------------------------------------------------- two-factor sign-in


def mfa_devices_visible_to(*, user: User) -> QuerySet[TOTPDevice]:
    """Staff and the admin: their own authenticator app (at most one, confirmed or waiting for its first code).
    Nobody sees another's; clients have none."""
    if user.role not in MFA_ROLES:
        return TOTPDevice.objects.none()
    return TOTPDevice.objects.filter(user=user)


def mfa_required_for(user: User) -> bool:
    """The practice requires a second factor of every staff account (MFA_REQUIRED_FOR_STAFF)."""
    return settings.MFA_REQUIRED_FOR_STAFF and user.role in MFA_ROLES


def mfa_sign_in_step(user: User) -> str | None:
    """What a sign-in asks of this account after its password: `verify` (a code: it has an authenticator app),
    `enrol` (the practice requires one and it has none yet) or None (nothing more)."""
    if user.role not in MFA_ROLES:
        return None
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return "verify"
    return "enrol" if mfa_required_for(user) else None


def mfa_status(*, user: User) -> dict:
    """Whether the user enrolled an authenticator app, whether its first code confirmed it, whether the practice
    requires one, and how many unused recovery codes are left."""
    confirmed = [device.confirmed for device in mfa_devices_visible_to(user=user)]
    return {
        "enrolled": bool(confirmed),
        "confirmed": any(confirmed),
        "required": mfa_required_for(user),
        "recovery_codes_left": RecoveryCode.objects.filter(device__user=user).count() if any(confirmed) else 0,
    }
