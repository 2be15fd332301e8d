import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .base import Record
from .care import Case
from .people import Client

BUILTIN_INSTRUMENTS = ["phq9", "gad7", "csi4"]


@pghistory.track()
class Instrument(Record):
    """An outcome measure: built in (`author` empty: PHQ-9, GAD-7, CSI-4, clinical/instrument_definitions.yaml) or
    published by a practice admin. Its definition lives in immutable versions; `current` is the one new assessments
    are scored with, and each assessment keeps the version it was scored with."""

    code = models.CharField(max_length=32, unique=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    current = models.ForeignKey("InstrumentVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[a-z][a-z0-9_]{1,31}$"), name="instrument_code_form")
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="instrument_created_id")]

    def __str__(self):
        return self.code


class InstrumentVersion(models.Model):
    """One immutable definition of a measure (clinical.instruments reads and scores it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    content_hash = models.CharField(max_length=64)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instrument", "number"], name="instrument_version_number_unique"),
        ]
        triggers = [
            pgtrigger.Protect(name="instrument_versions_are_immutable", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self):
        return f"{self.instrument_id} v{self.number}"


class AssessmentSource(models.TextChoices):
    CLINICIAN = "clinician"
    SELF_REPORT = "self_report"


class ScheduleFrequency(models.TextChoices):
    ONCE = "once"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"  # every four weeks
    # Due MEASURE_BEFORE_SESSION_HOURS before each scheduled session of the case the client attends, until it starts
    # (clinical.selectors.session_measures_due).
    BEFORE_EACH_SESSION = "before_each_session"


SCHEDULE_INTERVAL_DAYS = {"weekly": 7, "fortnightly": 14, "monthly": 28}


class ScheduleStatus(models.TextChoices):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@pghistory.track()
class AssessmentSchedule(Record):
    """A clinician asks a client to self-report an instrument on a case: once, every week/fortnight/month, or before
    each session the client attends."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="assessment_schedules")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="assessment_schedules")
    instrument = models.CharField(max_length=32)  # the measure's code: answered with its current version
    frequency = models.CharField(max_length=20, choices=ScheduleFrequency.choices)
    start_date = models.DateField(default=timezone.localdate)
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(frequency__in=ScheduleFrequency.values), name="schedule_frequency"),
            models.CheckConstraint(condition=Q(status__in=ScheduleStatus.values), name="schedule_status"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")), name="schedule_dates"
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="schedule_created_id")]

    def __str__(self):
        return f"schedule {self.pk}"


@pghistory.track()
class Assessment(Record):
    """One administration of a standard measure. Change figures compare with the client's baseline: their
    first assessment of that instrument on the case (kept up to date if an earlier one is entered later)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="assessments")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="assessments")
    instrument = models.CharField(max_length=32)  # the measure's code
    instrument_version = models.ForeignKey(InstrumentVersion, on_delete=models.PROTECT, related_name="+")
    answers = ArrayField(models.SmallIntegerField())
    administered_at = models.DateTimeField()
    source = models.CharField(max_length=12, choices=AssessmentSource.choices)
    schedule = models.ForeignKey(
        AssessmentSchedule, on_delete=models.PROTECT, null=True, blank=True, related_name="assessments"
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    total = models.SmallIntegerField()
    subscales = models.JSONField(default=dict, blank=True)  # {subscale key: its total}, for measures that have some
    band = models.CharField(max_length=100)
    is_baseline = models.BooleanField(default=False)
    change = models.SmallIntegerField(null=True, blank=True)
    reliable_change = models.CharField(max_length=12, blank=True)
    clinically_significant = models.BooleanField(null=True, blank=True)
    recovered = models.BooleanField(null=True, blank=True)
    # At the measure's caseness by this total, as its version defines it (reports read it for the baseline).
    at_caseness = models.BooleanField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(source__in=AssessmentSource.values), name="assessment_source"),
            models.CheckConstraint(condition=Q(total__gte=0), name="assessment_total_range"),
            models.CheckConstraint(
                condition=Q(reliable_change__in=["", "improved", "deteriorated", "none"]),
                name="assessment_reliable_change",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="assessment_created_id"),
            models.Index(fields=["case", "client", "instrument", "administered_at"], name="assessment_series"),
        ]

    def __str__(self):
        return f"{self.instrument} {self.pk}"


@pghistory.track()
class SafetyAlert(Record):
    """Something in an assessment needs the clinician's attention now (PHQ-9 item 9 above 0)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="alerts")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="alerts")
    # What raised it: an assessment (a measure's risk item), or a session whose ratings showed a split or low
    # alliance (clinical/services/alliance.py).
    assessment = models.OneToOneField(Assessment, on_delete=models.PROTECT, related_name="alert", null=True, blank=True)
    session = models.ForeignKey(
        "clinical.Session", on_delete=models.PROTECT, related_name="alerts", null=True, blank=True
    )
    kind = models.CharField(max_length=32)
    detail = models.CharField(max_length=300)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(acknowledged_by__isnull=False), name="alert_ack_by"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="alert_created_id"),
            models.Index(fields=["case"], condition=Q(acknowledged_at__isnull=True), name="alert_open_by_case"),
        ]

    def __str__(self):
        return f"alert {self.pk}"
