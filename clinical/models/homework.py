import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinical.fields import EncryptedJSONField, EncryptedTextField
from exercises.models import Frequency

from .base import Record
from .care import Case, TreatmentGoal
from .people import Client


class AssignmentMode(models.TextChoices):
    EACH = "each"  # every assignee submits
    JOINT = "joint"  # one submission, by either partner, counts for both


# The same choices as an exercise's suggested frequency.
AssignmentFrequency = Frequency


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@pghistory.track()
class HomeworkAssignment(Record):
    """An exercise version given on a case to one or both partners. Its progress comes from submissions."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="assignments")
    exercise_version = models.ForeignKey("exercises.ExerciseVersion", on_delete=models.PROTECT, related_name="+")
    assignees = models.ManyToManyField(Client, related_name="assignments")
    mode = models.CharField(max_length=8, choices=AssignmentMode.choices, default=AssignmentMode.EACH)
    goals = models.ManyToManyField(TreatmentGoal, blank=True, related_name="assignments")
    instructions = models.TextField(blank=True)
    start_date = models.DateField(default=timezone.localdate)
    due_date = models.DateField(null=True, blank=True)
    frequency = models.CharField(max_length=8, choices=AssignmentFrequency.choices)
    target_count = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.ACTIVE)
    # The client's local time of day for its reminder; blank: DEFAULT_REMINDER_TIME (clinical/reminders.py).
    reminder_time = models.TimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=AssignmentMode.values), name="assignment_mode_valid"),
            models.CheckConstraint(
                condition=Q(frequency__in=AssignmentFrequency.values), name="assignment_frequency_valid"
            ),
            models.CheckConstraint(condition=Q(status__in=AssignmentStatus.values), name="assignment_status_valid"),
            models.CheckConstraint(
                condition=Q(target_count__gte=1, target_count__lte=366), name="assignment_target_range"
            ),
            models.CheckConstraint(
                condition=Q(due_date__isnull=True) | Q(due_date__gte=models.F("start_date")),
                name="assignment_due_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="assignment_created_id"),
            models.Index(fields=["case", "status"], name="assignment_by_case"),
        ]

    def __str__(self):
        return f"assignment {self.pk}"


class OverduePeriod(models.Model):
    """A period of homework that ended with its assignees behind, noticed once: the row makes assignment.overdue
    exactly-once per assignment and period, however often the worker looks (clinical/services/homework.py)."""

    assignment = models.ForeignKey(HomeworkAssignment, on_delete=models.CASCADE, related_name="+")
    period = models.PositiveIntegerField()
    noticed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "period"], name="overdue_period_once")]

    def __str__(self):
        return f"assignment {self.assignment_id} period {self.period}"


class SubmissionStatus(models.TextChoices):
    CURRENT = "current"
    AMENDED = "amended"  # superseded by a correction; kept as it was


@pghistory.track()
class HomeworkSubmission(Record):
    """A completion sent by a client. Never overwritten: a correction is a new revision that `amends` this one.

    `completed_at` is the client's clock (the phone may have been offline for days); `received_at` is ours.
    `period` is the day or week of the assignment the completion falls in (0 for a one-off), so adherence is
    a count of distinct periods.
    """

    assignment = models.ForeignKey(HomeworkAssignment, on_delete=models.PROTECT, related_name="submissions")
    # The assignment's case, copied as the submission is stored (an assignment never changes case): staff read
    # submissions by the cases they see, each case's in order from `submission_by_case`, with no join through the
    # assignment (selectors.submissions_visible_to, selectors.submission_page_ids).
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+", db_index=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="submissions")
    completed_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    period = models.PositiveIntegerField()
    responses = EncryptedJSONField(null=True)
    shared_with_partner = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=SubmissionStatus.choices, default=SubmissionStatus.CURRENT)
    revision = models.PositiveSmallIntegerField(default=1)
    amends = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="amended_by")
    feedback = EncryptedTextField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SubmissionStatus.values), name="submission_status_valid"),
            models.CheckConstraint(
                condition=Q(amends__isnull=True, revision=1) | Q(amends__isnull=False, revision__gt=1),
                name="submission_revision_chain",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_at__isnull=True) | Q(reviewed_by__isnull=False),
                name="submission_review_has_reviewer",
            ),
        ]
        indexes = [
            # Every submission in the cursor's order, with its case: a caller who sees a share of the practice (a
            # supervisor's team) walks the ids they may see from the index alone and reads only the page's rows
            # (api.viewsets `walk_first_roles`); without the case, each skipped row was read from the table.
            models.Index(fields=["created_at", "id"], include=["case"], name="submission_created_case"),
            models.Index(fields=["case", "created_at", "id"], name="submission_by_case"),
            # Progress and adherence (completion_periods, the reports' homework CTEs): the distinct periods of an
            # assignment's current submissions, read from the index alone. Without it PostgreSQL, which
            # underestimates how many assignments there are, chose to scan every submission for a report.
            models.Index(
                fields=["assignment", "client", "period"],
                include=["completed_at"],
                condition=Q(status="current"),
                name="submission_progress",
            ),
            models.Index(fields=["client", "created_at"], name="submission_by_client"),
        ]
        triggers = [
            # What the client sent stays as sent. Only the review may be added, and a current revision may
            # become `amended` (never the other way).
            pgtrigger.Protect(
                name="submission_is_never_overwritten",
                operation=pgtrigger.Update,
                condition=(
                    pgtrigger.Q(old__responses__df=pgtrigger.F("new__responses"))
                    | pgtrigger.Q(old__completed_at__df=pgtrigger.F("new__completed_at"))
                    | pgtrigger.Q(old__received_at__df=pgtrigger.F("new__received_at"))
                    | pgtrigger.Q(old__client_id__df=pgtrigger.F("new__client_id"))
                    | pgtrigger.Q(old__assignment_id__df=pgtrigger.F("new__assignment_id"))
                    | pgtrigger.Q(old__case_id__df=pgtrigger.F("new__case_id"))
                    | pgtrigger.Q(old__period__df=pgtrigger.F("new__period"))
                    | pgtrigger.Q(old__shared_with_partner__df=pgtrigger.F("new__shared_with_partner"))
                    | pgtrigger.Q(old__amends_id__df=pgtrigger.F("new__amends_id"))
                    | pgtrigger.Q(old__revision__df=pgtrigger.F("new__revision"))
                    | pgtrigger.Q(old__status=SubmissionStatus.AMENDED, new__status=SubmissionStatus.CURRENT)
                    | (
                        pgtrigger.Q(old__reviewed_at__isnull=False)
                        & pgtrigger.Q(old__feedback__df=pgtrigger.F("new__feedback"))
                    )
                ),
            ),
            pgtrigger.Protect(name="submissions_are_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self):
        return f"submission {self.pk}"


class HomeworkProgress(models.Model):
    """How far an assignment's current submissions go, with the assignment's columns the reports need, kept in step
    by the homework services (clinical/services/progress.py, keep_progress) so that a report reads one index range
    per case instead of looking up every assignment, assignee and submission. One row per assignee of every
    assignment from its creation (zero periods until they submit), and one with no client for the assignment as a
    whole (distinct periods across its submitters: what a `joint` assignment counts). What is expected by a date
    stays computed from the dates. `manage.py repair_progress` recomputes every row from the assignments, their
    assignees and their submissions."""

    # db_index off: the unique constraint leads with the assignment.
    assignment = models.ForeignKey(HomeworkAssignment, on_delete=models.CASCADE, related_name="+", db_index=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    periods = models.PositiveIntegerField()  # distinct periods with a current submission
    # The latest completed_at among them (reports as of an earlier day); none before the first submission.
    last_completed_at = models.DateTimeField(null=True, blank=True)
    # The assignment's, copied (reports read them from progress_by_case alone); db_index off: that index leads.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)
    mode = models.CharField(max_length=8, choices=AssignmentMode.choices)
    status = models.CharField(max_length=12, choices=AssignmentStatus.choices)
    start_date = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    frequency = models.CharField(max_length=8, choices=AssignmentFrequency.choices)
    target_count = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            # The conflict target of keep_progress's upsert.
            models.UniqueConstraint(
                fields=["assignment", "client"],
                include=["periods", "last_completed_at"],
                nulls_distinct=False,
                name="progress_once_per_assignee",
            ),
            models.CheckConstraint(
                condition=Q(periods=0, last_completed_at__isnull=True)
                | Q(periods__gte=1, last_completed_at__isnull=False),
                name="progress_periods_have_a_last",
            ),
        ]
        indexes = [
            # The reports: a case's non-cancelled homework, every column they read, from the index alone, in the
            # order they compute in (an assignment's rows together, its whole last). The whole of an `each`
            # assignment is left out: the reports sum its assignees' rows.
            models.Index(
                fields=["case", "assignment", "client"],
                include=[
                    "mode",
                    "status",
                    "start_date",
                    "due_date",
                    "frequency",
                    "target_count",
                    "periods",
                    "last_completed_at",
                ],
                condition=~Q(status="cancelled") & (Q(client__isnull=False) | Q(mode="joint")),
                name="progress_by_case",
            ),
        ]

    def __str__(self):
        return f"progress of assignment {self.assignment_id}, client {self.client_id or 'all'}"


class ClientInvitation(models.Model):
    """A single-use invitation for a client to create their app login. Only the token's hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_client",
            ),
        ]

    def __str__(self):
        return f"invitation for {self.client_id}"
