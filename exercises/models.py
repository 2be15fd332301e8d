import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from kernel.models import GoalDomain, Record


class Audience(models.TextChoices):
    INDIVIDUAL = "individual"
    COUPLE = "couple"
    EITHER = "either"


class Frequency(models.TextChoices):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"


class Exercise(Record):
    """A homework exercise: from the practice's catalog (`author` empty) or written by a clinician.

    Its content lives in immutable versions; `current` is the one new assignments get.
    """

    slug = models.SlugField(max_length=80, unique=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    current = models.ForeignKey("ExerciseVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["created_at", "id"], name="exercise_created_id")]

    def __str__(self):
        return self.slug


class ExerciseVersion(models.Model):
    """One immutable text of an exercise. Assignments point here, so a client always sees the words they
    were given, whatever changes later."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.TextField()
    steps = models.JSONField()
    domains = ArrayField(models.CharField(max_length=32), default=list)
    audience = models.CharField(max_length=16, choices=Audience.choices)
    suggested_frequency = models.CharField(max_length=8, choices=Frequency.choices)
    estimated_minutes = models.PositiveSmallIntegerField()
    response_fields = models.JSONField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exercise", "number"], name="exercise_version_number_unique"),
            models.CheckConstraint(condition=Q(audience__in=Audience.values), name="exercise_audience_valid"),
            models.CheckConstraint(
                condition=Q(suggested_frequency__in=Frequency.values), name="exercise_frequency_valid"
            ),
            models.CheckConstraint(condition=Q(domains__contained_by=GoalDomain.values), name="exercise_domains_valid"),
            models.CheckConstraint(condition=Q(estimated_minutes__gte=1), name="exercise_minutes_positive"),
        ]
        triggers = [
            pgtrigger.Protect(name="exercise_versions_are_immutable", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self):
        return f"{self.exercise_id} v{self.number}"
