"""Reminders on the client's phone: registering devices, notification preferences, and finding the reminders due.

Sending is the worker's (events/reminders.py): this module decides who is reminded of what, and when, and writes
one Reminder row per assignment, period and device, so that however often the worker looks a reminder is made once.
"""

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from clinical import adherence
from clinical.models import (
    Assessment,
    AssessmentSchedule,
    AssignmentMode,
    AssignmentStatus,
    CaseStatus,
    Consent,
    ConsentKind,
    Device,
    HomeworkAssignment,
    NotificationPreferences,
    Reminder,
    ReminderKind,
    ScheduleFrequency,
    ScheduleStatus,
)
from clinical.reminders import day_end, due_moment, session_period
from clinical.selectors import completion_periods, schedule_answered, schedule_period, session_measures_due
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_valid, try_advisory_lock, update_versioned
from kernel.errors import InvalidInput
from kernel.tokens import token_digest

# The words on the lock screen: nothing about the therapy, the exercise or the partner.
REMINDER_TEXTS = {
    ReminderKind.HOMEWORK: "You have a practice exercise for today",
    ReminderKind.MEASURES: "You have a short questionnaire to fill in",
}


@transaction.atomic
def device_register(*, actor, platform: str, token: str) -> Device:
    """Register the caller's app install for reminders. The same token again is the same device (idempotent); a
    token registered by another login (a phone that changed hands) is revoked for that login first, so one
    partner's reminders never reach the other's phone."""
    digest = token_digest(token)
    current = Device.objects.select_for_update().filter(token_digest=digest, revoked_at__isnull=True).first()
    if current is not None and current.user_id == actor.pk:
        if current.platform != platform:
            current = update_versioned(current, expected_version=None, changes={"platform": platform}, locked=True)
        return current
    if current is not None:
        update_versioned(current, expected_version=None, changes={"revoked_at": timezone.now()}, locked=True)
        audit_append(actor=actor, action="revoke", object_type="device", object_ids=[current.pk])
    device = save_valid(Device(user=actor, platform=platform, token=token, token_digest=digest))
    audit_append(actor=actor, action="create", object_type="device", object_ids=[device.pk])
    return device


@transaction.atomic
def device_revoke(*, actor, device: Device) -> Device:
    """Stop reminders to this device (the app signed out, or the client does not want them there). Idempotent."""
    locked = lock_at_version(device, expected_version=None)
    if locked.revoked_at is not None:
        return locked
    device = update_versioned(locked, expected_version=None, changes={"revoked_at": timezone.now()}, locked=True)
    audit_append(actor=actor, action="revoke", object_type="device", object_ids=[device.pk])
    return device


def preferences_of(*, user) -> NotificationPreferences:
    """The client's preferences; the defaults (the practice's time zone, no quiet hours, every kind) until they
    change them."""
    preferences, _ = NotificationPreferences.objects.get_or_create(user=user)
    return preferences


def valid_time_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@transaction.atomic
def preferences_update(
    *, actor, preferences: NotificationPreferences, expected_version: int | None, **changes
) -> NotificationPreferences:
    """Change the time zone (IANA, e.g. Europe/Berlin; blank for the practice's), quiet hours (both or neither)
    and opted-out kinds."""
    locked = lock_at_version(preferences, expected_version=expected_version)
    errors = {}
    if changes.get("time_zone") and not valid_time_zone(changes["time_zone"]):
        errors["time_zone"] = ["An IANA time zone name, such as Europe/Berlin or America/New_York."]
    start = changes.get("quiet_hours_start", locked.quiet_hours_start)
    end = changes.get("quiet_hours_end", locked.quiet_hours_end)
    if (start is None) != (end is None):
        errors["quiet_hours_end" if end is None else "quiet_hours_start"] = [
            "Give both ends of quiet hours, or neither."
        ]
    if "opted_out" in changes:
        changes["opted_out"] = sorted(set(changes["opted_out"]))
        if set(changes["opted_out"]) - set(ReminderKind.values):
            errors["opted_out"] = [f"Kinds of reminder: {', '.join(ReminderKind.values)}."]
    if errors:
        raise InvalidInput(errors)
    preferences = update_versioned(locked, expected_version=None, changes=changes, locked=True)
    audit_append(
        actor=actor,
        action="update",
        object_type="notification_preferences",
        object_ids=[preferences.pk],
        detail={"fields": sorted(changes)},
    )
    return preferences


def zone_of(preferences: NotificationPreferences | None) -> ZoneInfo:
    return ZoneInfo((preferences.time_zone if preferences else "") or settings.TIME_ZONE)


def homework_reminders_create_due(*, now: datetime | None = None) -> list[Reminder]:
    """The homework reminders due now, written once per assignment, period and device; the caller's transaction
    sends them (events/reminders.py defers a delivery for each in it).

    For active homework on open cases, each assignee who consented to electronic communication (issue 17) and has
    an active device is reminded when, in their time zone
    (the practice's by default), today is in the homework (from its start to its due date, before its target is
    reached), their part of the current period is not done (`each`: their own completion; `joint`: either
    partner's), the reminder time has come today (moved to the end of quiet hours), and they have not opted out of
    homework reminders. Nothing is made when no push gateway is configured (PUSH_GATEWAY_URL). A transaction-level
    advisory lock keeps two runs from overlapping."""
    now = now or timezone.now()
    if not getattr(settings, "PUSH_GATEWAY_URL", ""):
        return []
    with transaction.atomic():
        if not try_advisory_lock("clinical.homework_reminders"):
            return []
        devices: dict = {}
        for device in Device.objects.filter(
            revoked_at__isnull=True, user__is_active=True, user__client_record__isnull=False
        ).only("pk", "user_id"):
            devices.setdefault(device.user_id, []).append(device.pk)
        if not devices:
            return []
        consented = Consent.objects.filter(
            client=OuterRef("client_id"), kind=ConsentKind.ELECTRONIC_COMMUNICATION, revoked_at__isnull=True
        )
        links = list(
            HomeworkAssignment.assignees.through.objects.filter(
                Exists(consented),
                client__user_id__in=list(devices),
                homeworkassignment__status=AssignmentStatus.ACTIVE,
                homeworkassignment__case__status=CaseStatus.OPEN,
            ).values(
                "client_id",
                "client__user_id",
                "homeworkassignment_id",
                "homeworkassignment__frequency",
                "homeworkassignment__mode",
                "homeworkassignment__start_date",
                "homeworkassignment__due_date",
                "homeworkassignment__target_count",
                "homeworkassignment__reminder_time",
            )
        )
        preferences = {p.user_id: p for p in NotificationPreferences.objects.filter(user_id__in=list(devices))}
        done = completion_periods(assignment_ids={link["homeworkassignment_id"] for link in links})
        seen = set(
            Reminder.objects.filter(assignment_id__in={link["homeworkassignment_id"] for link in links}).values_list(
                "assignment_id", "period", "device_id"
            )
        )
        made = []
        for link in links:
            user_id, assignment_id = link["client__user_id"], link["homeworkassignment_id"]
            prefs = preferences.get(user_id)
            if prefs is not None and ReminderKind.HOMEWORK in (prefs.opted_out or []):
                continue
            zone = zone_of(prefs)
            today = now.astimezone(zone).date()
            start, due = link["homeworkassignment__start_date"], link["homeworkassignment__due_date"]
            if today < start or (due is not None and today > due):
                continue
            frequency = link["homeworkassignment__frequency"]
            period = adherence.period_of(frequency=frequency, start=start, on=today)
            by_client = done.get(assignment_id, {})
            if link["homeworkassignment__mode"] == AssignmentMode.JOINT:
                periods = set().union(*by_client.values())
            else:
                periods = by_client.get(link["client_id"], set())
            if period in periods or len(periods) >= link["homeworkassignment__target_count"]:
                continue
            due_at = due_moment(
                day=today,
                at=link["homeworkassignment__reminder_time"],
                zone=zone,
                quiet_start=prefs.quiet_hours_start if prefs else None,
                quiet_end=prefs.quiet_hours_end if prefs else None,
            )
            if due_at is None or now < due_at:
                continue
            made += _once_per_device(
                seen,
                (assignment_id, period),
                devices[user_id],
                assignment_id=assignment_id,
                client_id=link["client_id"],
                kind=ReminderKind.HOMEWORK,
                period=period,
                due_at=due_at,
                expires_at=day_end(day=today, zone=zone),
                created_at=now,
            )
        return Reminder.objects.bulk_create(made)


def measure_reminders_create_due(*, now: datetime | None = None) -> list[Reminder]:
    """The self-report reminders due now, once per schedule, period and device: for each active schedule on an open
    case whose client consented to electronic communication, has an active device and has not opted out of
    `measures`, when in the client's local today the schedule runs (start to end date) and nothing was reported in
    its current period (the rule of me/assessments-due/: a one-off until answered; weekly, fortnightly, monthly each
    period from the start date), at DEFAULT_REMINDER_TIME (18:00) local, moved to the end of quiet hours.

    A before_each_session schedule is reminded once per session and device (the reminder names the session), for
    each session whose measure is due and unanswered (selectors.session_measures_due): when its window opens, or
    the start of the client's local day if it opened earlier, moved to the end of quiet hours; not after the
    session starts. A cancelled session is never reminded of, and a pending reminder of it is dropped unsent."""
    now = now or timezone.now()
    if not getattr(settings, "PUSH_GATEWAY_URL", ""):
        return []
    with transaction.atomic():
        if not try_advisory_lock("clinical.measure_reminders"):
            return []
        consented = Consent.objects.filter(
            client=OuterRef("client_id"), kind=ConsentKind.ELECTRONIC_COMMUNICATION, revoked_at__isnull=True
        )
        schedules = list(
            AssessmentSchedule.objects.filter(
                Exists(consented),
                status=ScheduleStatus.ACTIVE,
                case__status=CaseStatus.OPEN,
                client__user__is_active=True,
                client__user__devices__revoked_at__isnull=True,
            )
            .distinct()
            .values("pk", "client_id", "client__user_id", "case_id", "frequency", "start_date", "end_date")
        )
        if not schedules:
            return []
        users = {row["client__user_id"] for row in schedules}
        devices: dict = {}
        for user_id, device_id in Device.objects.filter(user_id__in=users, revoked_at__isnull=True).values_list(
            "user_id", "pk"
        ):
            devices.setdefault(user_id, []).append(device_id)
        preferences = {p.user_id: p for p in NotificationPreferences.objects.filter(user_id__in=users)}
        before_session = [row for row in schedules if row["frequency"] == ScheduleFrequency.BEFORE_EACH_SESSION]
        periodic = [row["pk"] for row in schedules if row["frequency"] != ScheduleFrequency.BEFORE_EACH_SESSION]
        latest = dict(
            Assessment.objects.filter(schedule_id__in=periodic)
            .values("schedule")
            .annotate(last=Max("administered_at"))
            .values_list("schedule", "last")
        )
        by_session = session_measures_due(schedules=before_session, now=now)
        # (schedule, period or (session, its start), device): a session's reminder is keyed by the session at a time.
        seen = {
            (schedule_id, (session_id, period) if session_id else period, device_id)
            for schedule_id, period, session_id, device_id in Reminder.objects.filter(
                schedule_id__in=[row["pk"] for row in schedules]
            ).values_list("schedule_id", "period", "session_id", "device_id")
        }
        made = []
        for row in schedules:
            prefs = preferences.get(row["client__user_id"])
            if prefs is not None and ReminderKind.MEASURES in (prefs.opted_out or []):
                continue
            zone = zone_of(prefs)
            today = now.astimezone(zone).date()
            quiet = {
                "quiet_start": prefs.quiet_hours_start if prefs else None,
                "quiet_end": prefs.quiet_hours_end if prefs else None,
            }
            reminded = {"schedule_id": row["pk"], "client_id": row["client_id"], "kind": ReminderKind.MEASURES}
            if row["frequency"] == ScheduleFrequency.BEFORE_EACH_SESSION:
                day_start = datetime.combine(today, time(0), tzinfo=zone)
                for item in by_session.get(row["pk"], []):
                    from_ = max(item.opens, day_start).astimezone(zone)
                    due_at = due_moment(day=today, at=from_.time().replace(tzinfo=None), zone=zone, **quiet)
                    if due_at is None or now < due_at or due_at >= item.starts_at:
                        continue
                    at = session_period(item.starts_at)
                    made += _once_per_device(
                        seen,
                        (row["pk"], (item.session_id, at)),
                        devices.get(row["client__user_id"], []),
                        **reminded,
                        session_id=item.session_id,
                        period=at,
                        due_at=due_at,
                        expires_at=min(day_end(day=today, zone=zone), item.starts_at),
                        created_at=now,
                    )
                continue
            if today < row["start_date"] or (row["end_date"] is not None and today > row["end_date"]):
                continue
            period, since = schedule_period(frequency=row["frequency"], start=row["start_date"], today=today)
            if schedule_answered(frequency=row["frequency"], last=latest.get(row["pk"]), since=since):
                continue
            due_at = due_moment(day=today, at=None, zone=zone, **quiet)
            if due_at is None or now < due_at:
                continue
            made += _once_per_device(
                seen,
                (row["pk"], period),
                devices.get(row["client__user_id"], []),
                **reminded,
                period=period,
                due_at=due_at,
                expires_at=day_end(day=today, zone=zone),
                created_at=now,
            )
        return Reminder.objects.bulk_create(made)


def _once_per_device(seen: set, key: tuple, device_ids, **fields) -> list[Reminder]:
    """A reminder of `key` (what and which period) for each device not yet reminded of it; `seen` remembers them."""
    made = []
    for device_id in device_ids:
        if (*key, device_id) not in seen:
            seen.add((*key, device_id))
            made.append(Reminder(device_id=device_id, **fields))
    return made
