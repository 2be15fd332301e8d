"""Sending reminders to the push gateway: one signed POST per reminder (Standard Webhooks, like a webhook delivery),
retried for the rest of the client's day and then dropped — a reminder of yesterday's exercise is noise.

The gateway (the app vendor's service holding the APNs/FCM credentials) gets `{"id", "token", "platform", "kind",
"text"}`: the device's push token and a text that says nothing about the therapy. `webhook-id` is the reminder's id,
the same on every retry: the gateway drops duplicates by it.
"""

import json
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from clinical.models import Reminder, ReminderStatus, SessionStatus
from clinical.reminders import session_period
from clinical.services.reminders import (
    REMINDER_TEXTS,
    homework_reminders_create_due,
    measure_reminders_create_due,
)
from kernel.audit import audit_append

from . import egress

# Seconds after each failed attempt until the next (±20 %); none after the reminder's day has ended.
RETRY_DELAYS = (10, 60, 5 * 60, 15 * 60, 60 * 60)
JITTER = 0.2


def retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "REMINDER_RETRY_DELAYS", RETRY_DELAYS))


def send_due_reminders(*, now=None) -> int:
    """Make the reminders due now and defer their deliveries, in one transaction: a reminder row exists exactly
    when its delivery job does. Returns how many were made."""
    from .tasks import deliver_reminder

    with transaction.atomic():
        made = homework_reminders_create_due(now=now) + measure_reminders_create_due(now=now)
        for reminder in made:
            deliver_reminder.configure(lock=f"reminder-{reminder.pk}").defer(reminder_id=str(reminder.pk))
    return len(made)


def reminder_body(reminder: Reminder) -> dict:
    device = reminder.device
    return {
        "id": str(reminder.pk),
        "token": device.token,
        "platform": device.platform,
        "kind": reminder.kind,
        "text": REMINDER_TEXTS[reminder.kind],
    }


def signed_headers(message_id: str, body: str) -> dict[str, str]:
    now = timezone.now()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(settings.PUSH_GATEWAY_SECRET).sign(message_id, now, body),
    }


def reminder_attempt(*, reminder_id: str) -> str:
    """Try to hand a reminder to the gateway once; retry later in its day, or drop it. Returns its status."""
    from .tasks import deliver_reminder

    reminder = Reminder.objects.select_related("device", "session").get(pk=reminder_id)
    if reminder.status != ReminderStatus.PENDING:
        return reminder.status
    now = timezone.now()
    url = getattr(settings, "PUSH_GATEWAY_URL", "")
    # A measure asked before a session that was cancelled meanwhile is withdrawn (selectors.session_measures_due);
    # one asked before a session since moved to another time waits for that time's own reminder.
    session = reminder.session
    withdrawn = session is not None and session.status != SessionStatus.SCHEDULED
    moved = session is not None and not withdrawn and session_period(session.starts_at) != reminder.period
    if now >= reminder.expires_at or reminder.device.revoked_at is not None or not url or withdrawn or moved:
        reason = (
            "expired"
            if now >= reminder.expires_at
            else "session cancelled"
            if withdrawn
            else "session moved"
            if moved
            else "device revoked"
            if url
            else "no gateway"
        )
        Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.PENDING).update(status=ReminderStatus.DROPPED)
        audit_append(
            actor=None, action="drop", object_type="reminder", object_ids=[reminder.pk], detail={"reason": reason}
        )
        return ReminderStatus.DROPPED

    message_id = f"reminder_{reminder.pk}"
    body = json.dumps(reminder_body(reminder), separators=(",", ":"))
    try:
        answer = egress.post(url, body.encode(), signed_headers(message_id, body))
    except egress.TargetRefused as refused:
        answer = egress.Answer(None, 0, f"refused: {refused}")
    succeeded = answer.status is not None and 200 <= answer.status < 300

    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
        reminder.attempts += 1
        reminder.last_status_code = answer.status
        delays = retry_delays()
        if succeeded:
            reminder.status, reminder.sent_at = ReminderStatus.SENT, timezone.now()
        elif reminder.attempts <= len(delays):
            wait = delays[reminder.attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
            at = timezone.now() + timedelta(seconds=wait)
            if at < reminder.expires_at:
                deliver_reminder.configure(lock=f"reminder-{reminder.pk}", schedule_at=at).defer(
                    reminder_id=str(reminder.pk)
                )
            else:
                reminder.status = ReminderStatus.FAILED
        else:
            reminder.status = ReminderStatus.FAILED
        reminder.save(update_fields=["attempts", "last_status_code", "status", "sent_at"])
        audit_append(
            actor=None,
            action="deliver",
            object_type="reminder",
            object_ids=[reminder.pk],
            detail={"attempt": reminder.attempts, "status": answer.status, "outcome": reminder.status},
        )
    return reminder.status
