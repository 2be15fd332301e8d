"""Reminders on the client's phone: the devices a client registered for push notifications, when they want to be
reminded, and each reminder sent (exactly once per assignment, period and device)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinical.fields import EncryptedTextField

from .base import Record
from .homework import HomeworkAssignment
from .measures import AssessmentSchedule
from .people import Client


class DevicePlatform(models.TextChoices):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class ReminderKind(models.TextChoices):
    HOMEWORK = "homework"
    MEASURES = "measures"


class Device(Record):
    """A client's app install that takes push notifications. The push token is a secret (whoever holds it can
    notify the phone), so it is stored encrypted and never shown; `token_digest` (SHA-256) finds a token that is
    registered again, since the ciphertext cannot be compared."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="devices")
    platform = models.CharField(max_length=8, choices=DevicePlatform.choices)
    token = EncryptedTextField()
    token_digest = models.CharField(max_length=64)
    registered_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(platform__in=DevicePlatform.values), name="device_platform_valid"),
            # A phone's token belongs to one login at a time: registering it for another revokes the old one.
            models.UniqueConstraint(
                fields=["token_digest"], condition=Q(revoked_at__isnull=True), name="device_token_active_once"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="device_created_id"),
            models.Index(fields=["user"], condition=Q(revoked_at__isnull=True), name="device_active_by_user"),
        ]

    def __str__(self):
        return f"device {self.pk}"


class NotificationPreferences(Record):
    """When a client wants to be reminded: their time zone (IANA; the practice's when blank), quiet hours in local
    time (may wrap midnight, e.g. 22:00 to 07:00), and the kinds of reminder they opted out of."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs")
    time_zone = models.CharField(max_length=64, blank=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    opted_out = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="preferences_quiet_hours_both_or_none",
            ),
        ]

    def __str__(self):
        return f"notification preferences of {self.user_id}"


class ReminderStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the gateway refused every attempt of the day
    DROPPED = "dropped"  # its day passed, the device was revoked, or no gateway is configured any more


class Reminder(models.Model):
    """One reminder of one period of homework (an assignment) or of a self-report (a schedule) on one device. The
    unique row makes it exactly-once, however often the worker looks (clinical/services/reminders.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment = models.ForeignKey(
        HomeworkAssignment, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    schedule = models.ForeignKey(AssessmentSchedule, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # A before_each_session schedule's reminder is of one session at one time (its `period`: the session's start, in
    # minutes since 1970): once per session, start and device, so a session moved later is reminded of again.
    session = models.ForeignKey("clinical.Session", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=12, choices=ReminderKind.choices, default=ReminderKind.HOMEWORK)
    period = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    expires_at = models.DateTimeField()  # the end of the client's local day (or the session's start): not sent after it
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "period", "device"], name="reminder_once_per_device"),
            models.UniqueConstraint(
                fields=["schedule", "period", "device"],
                condition=Q(session__isnull=True),
                name="reminder_measure_once_per_device",
            ),
            models.UniqueConstraint(
                fields=["schedule", "session", "period", "device"],
                condition=Q(session__isnull=False),
                name="reminder_session_measure_once_per_device",
            ),
            models.CheckConstraint(
                condition=Q(assignment__isnull=False, schedule__isnull=True, kind="homework")
                | Q(assignment__isnull=True, schedule__isnull=False, kind="measures"),
                name="reminder_of_homework_or_a_measure",
            ),
            models.CheckConstraint(condition=Q(status__in=ReminderStatus.values), name="reminder_status_valid"),
        ]

    def __str__(self):
        return f"reminder {self.pk}"
