import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinical.fields import EncryptedJSONField, EncryptedTextField
from kernel.models import GoalDomain

from .base import Record, not_in_future
from .people import Client, Couple


class SubjectType(models.TextChoices):
    INDIVIDUAL = "individual"
    COUPLE = "couple"


class CaseStatus(models.TextChoices):
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class ConfidentialityPolicy(models.TextChoices):
    """What a couple agreed at intake about what one partner tells the therapist alone (issue 17)."""

    NO_SECRETS = "no_secrets"  # the therapist may bring into joint work what one partner said alone
    LIMITED_SECRETS = "limited_secrets"  # the therapist keeps it, unless it bears on safety
    SEPARATE_RECORDS = "separate_records"  # each partner's material is theirs alone, in the app and in releases


class PresentingConcern(models.TextChoices):
    TRUST = "trust"
    COMMUNICATION = "communication"
    CONFLICT = "conflict"
    EMOTIONAL_INTIMACY = "emotional_intimacy"
    INFIDELITY = "infidelity"
    PARENTING = "parenting"
    LIFE_TRANSITION = "life_transition"
    OTHER = "other"


@pghistory.track()
class Case(Record):
    """An episode of care. Its subject is one client or one couple; its clinician holds it."""

    subject_type = models.CharField(max_length=16, choices=SubjectType.choices)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="cases")
    couple = models.ForeignKey(Couple, on_delete=models.PROTECT, null=True, blank=True, related_name="cases")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    opened_on = models.DateField(default=timezone.localdate, validators=[not_in_future])
    closed_on = models.DateField(null=True, blank=True)
    closing_reason = models.CharField(max_length=500, blank=True)
    presenting_concerns = ArrayField(
        models.CharField(max_length=32, choices=PresentingConcern.choices), default=list, blank=True
    )
    # A couple case's policy (set at opening, changed by its clinician with a reason); none for an individual case.
    confidentiality_policy = models.CharField(max_length=20, choices=ConfidentialityPolicy.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(subject_type=SubjectType.INDIVIDUAL, client__isnull=False, couple__isnull=True)
                    | Q(subject_type=SubjectType.COUPLE, couple__isnull=False, client__isnull=True)
                ),
                name="case_has_exactly_one_subject",
            ),
            models.CheckConstraint(condition=Q(status__in=CaseStatus.values), name="case_status_valid"),
            models.CheckConstraint(
                condition=(
                    Q(status=CaseStatus.CLOSED, closed_on__isnull=False) & ~Q(closing_reason="")
                    | ~Q(status=CaseStatus.CLOSED) & Q(closed_on__isnull=True)
                ),
                name="case_closed_has_date_and_reason",
            ),
            models.CheckConstraint(
                condition=Q(presenting_concerns__contained_by=PresentingConcern.values),
                name="case_presenting_concerns_valid",
            ),
            models.CheckConstraint(
                condition=Q(subject_type=SubjectType.COUPLE, confidentiality_policy__in=ConfidentialityPolicy.values)
                | Q(subject_type=SubjectType.INDIVIDUAL, confidentiality_policy=""),
                name="case_couple_has_confidentiality_policy",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="case_created_id"),
            models.Index(fields=["clinician", "status"], name="case_by_clinician_status"),
        ]

    def __str__(self):
        return f"case {self.pk}"


class GoalPriority(models.TextChoices):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class GoalLifecycle(models.TextChoices):
    """As FHIR Goal.lifecycleStatus (the subset a therapy practice uses)."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered_in_error"


class GoalAchievement(models.TextChoices):
    IN_PROGRESS = "in_progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no_change"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"


GAS_SCORES = (-2, -1, 0, 1, 2)


@pghistory.track()
class TreatmentGoal(Record):
    """What the work on a case aims at, with an optional Goal Attainment Scale (texts for -2 … +2)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="goals")
    domain = models.CharField(max_length=32, choices=GoalDomain.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=8, choices=GoalPriority.choices, default=GoalPriority.MEDIUM)
    start_date = models.DateField(default=timezone.localdate)
    target_date = models.DateField(null=True, blank=True)
    lifecycle_status = models.CharField(max_length=16, choices=GoalLifecycle.choices, default=GoalLifecycle.PROPOSED)
    achievement_status = models.CharField(
        max_length=16, choices=GoalAchievement.choices, default=GoalAchievement.IN_PROGRESS
    )
    # {"-2": "...", "-1": "...", "0": "...", "1": "...", "2": "..."} or null
    gas_levels = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(domain__in=GoalDomain.values), name="goal_domain_valid"),
            models.CheckConstraint(condition=Q(priority__in=GoalPriority.values), name="goal_priority_valid"),
            models.CheckConstraint(condition=Q(lifecycle_status__in=GoalLifecycle.values), name="goal_lifecycle_valid"),
            models.CheckConstraint(
                condition=Q(achievement_status__in=GoalAchievement.values), name="goal_achievement_valid"
            ),
            models.CheckConstraint(
                condition=Q(target_date__isnull=True) | Q(target_date__gte=models.F("start_date")),
                name="goal_target_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="goal_created_id"),
            models.Index(fields=["case", "lifecycle_status"], name="goal_by_case"),
        ]

    def __str__(self):
        return f"goal {self.pk}"


@pghistory.track()
class GoalAttainmentRating(models.Model):
    """A dated Goal Attainment Scaling rating of one goal, -2 (much less than expected) to +2."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    goal = models.ForeignKey(TreatmentGoal, on_delete=models.PROTECT, related_name="gas_ratings")
    rated_on = models.DateField()
    score = models.SmallIntegerField()
    rated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=-2, score__lte=2), name="gas_score_range"),
            models.UniqueConstraint(fields=["goal", "rated_on"], name="gas_one_rating_per_day"),
        ]

    def __str__(self):
        return f"GAS {self.score:+d} on {self.rated_on}"


class NoteFormat(models.TextChoices):
    SOAP = "soap"
    DAP = "dap"
    BIRP = "birp"
    NARRATIVE = "narrative"


NOTE_SECTIONS = {
    NoteFormat.SOAP: ("subjective", "objective", "assessment", "plan"),
    NoteFormat.DAP: ("data", "assessment", "plan"),
    NoteFormat.BIRP: ("behavior", "intervention", "response", "plan"),
    NoteFormat.NARRATIVE: ("body",),
}


class NoteStatus(models.TextChoices):
    DRAFT = "draft"
    SIGNED = "signed"
    ENTERED_IN_ERROR = "entered_in_error"


@pghistory.track()
class ProgressNote(Record):
    """A session note. Signed notes never change: not through the API, and not in the database."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    session_date = models.DateField()
    format = models.CharField(max_length=16, choices=NoteFormat.choices)
    sections = EncryptedJSONField(null=True)
    goals_addressed = models.ManyToManyField(TreatmentGoal, blank=True, related_name="notes")
    status = models.CharField(max_length=20, choices=NoteStatus.choices, default=NoteStatus.DRAFT)
    signed_at = models.DateTimeField(null=True, blank=True)
    cosign_required = models.BooleanField(default=False)
    cosigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cosigned_at = models.DateTimeField(null=True, blank=True)
    entered_in_error_reason = models.CharField(max_length=500, blank=True)
    # The session the note documents (its date follows the session's), and, for an individual session inside a
    # couple case, the partner it was with: the note is that partner's.
    session = models.ForeignKey(
        "clinical.Session", on_delete=models.PROTECT, null=True, blank=True, related_name="notes"
    )
    partner = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            # One note per session and author (a note entered in error makes way for its replacement).
            models.UniqueConstraint(
                fields=["session", "author"],
                condition=~Q(status=NoteStatus.ENTERED_IN_ERROR),
                name="note_once_per_session_and_author",
            ),
            models.CheckConstraint(condition=Q(format__in=NoteFormat.values), name="note_format_valid"),
            models.CheckConstraint(condition=Q(status__in=NoteStatus.values), name="note_status_valid"),
            models.CheckConstraint(
                condition=Q(status=NoteStatus.DRAFT, signed_at__isnull=True) | ~Q(status=NoteStatus.DRAFT),
                name="note_draft_unsigned",
            ),
            models.CheckConstraint(
                condition=Q(cosigned_at__isnull=True, cosigned_by__isnull=True)
                | Q(cosigned_at__isnull=False, cosigned_by__isnull=False, signed_at__isnull=False),
                name="note_cosign_after_sign",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="note_created_id"),
            models.Index(fields=["case", "created_at", "id"], name="note_by_case"),
            models.Index(
                fields=["author"],
                condition=Q(cosign_required=True, cosigned_at__isnull=True, status="signed"),
                name="note_awaiting_cosign",
            ),
        ]
        triggers = [
            # Once signed (or retired), what was written stays written: sections, date, format, case, author.
            pgtrigger.Protect(
                name="signed_note_is_immutable",
                operation=pgtrigger.Update,
                condition=(
                    pgtrigger.Q(old__status__in=[NoteStatus.SIGNED, NoteStatus.ENTERED_IN_ERROR])
                    & (
                        pgtrigger.Q(old__sections__df=pgtrigger.F("new__sections"))
                        | pgtrigger.Q(old__session_date__df=pgtrigger.F("new__session_date"))
                        | pgtrigger.Q(old__format__df=pgtrigger.F("new__format"))
                        | pgtrigger.Q(old__case_id__df=pgtrigger.F("new__case_id"))
                        | pgtrigger.Q(old__author_id__df=pgtrigger.F("new__author_id"))
                        | pgtrigger.Q(old__session_id__df=pgtrigger.F("new__session_id"))
                        | pgtrigger.Q(old__partner_id__df=pgtrigger.F("new__partner_id"))
                        | pgtrigger.Q(old__signed_at__df=pgtrigger.F("new__signed_at"))
                        | pgtrigger.Q(new__status=NoteStatus.DRAFT)
                    )
                ),
            ),
            pgtrigger.Protect(name="notes_are_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self):
        return f"note {self.pk}"


@pghistory.track(pghistory.InsertEvent())
class NoteAddendum(models.Model):
    """Text added to a signed note by its author or their supervisor. Never changed, never removed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    note = models.ForeignKey(ProgressNote, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["note", "created_at"], name="addendum_by_note")]
        triggers = [
            pgtrigger.Protect(name="addenda_are_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"addendum {self.pk}"
