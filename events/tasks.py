"""The worker's event tasks (procrastinate, on the same PostgreSQL): each event is fanned out to whoever receives it."""

from procrastinate.contrib.django import app

from . import housekeeping  # noqa: F401 (its periodic tasks register with the app, as this module's do)


@app.task(queue="events", name="events.fan_out")
def fan_out(event_id: str) -> None:
    """Hand a committed event to its receivers (webhook subscriptions whose owner may see it now)."""
    from .delivery import event_fan_out

    event_fan_out(event_id=event_id)


@app.task(queue="webhooks", name="events.deliver")
def deliver(delivery_id: str) -> None:
    """Try one webhook delivery; a failed try defers the next one itself (events/delivery.py, RETRY_DELAYS)."""
    from .delivery import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@app.periodic(cron="*/15 * * * *", periodic_id="overdue")
@app.task(queue="events", name="events.notice_overdue_homework")
def notice_overdue_homework(timestamp: int) -> None:
    """Every 15 minutes: assignment.overdue for homework periods that ended behind (once per assignment and period)."""
    from clinical.services.homework import notice_overdue_homework as notice

    notice()


@app.periodic(cron="*/5 * * * *", periodic_id="reminders")
@app.task(queue="reminders", name="events.send_due_reminders")
def send_due_reminders(timestamp: int) -> None:
    """Every 5 minutes: the reminders due now (homework, self-reports), once per period and device."""
    from .reminders import send_due_reminders as send

    send()


@app.task(queue="reminders", name="events.deliver_reminder")
def deliver_reminder(reminder_id: str) -> None:
    """Hand one reminder to the push gateway; a failed try defers the next one itself, within the reminder's day."""
    from .reminders import reminder_attempt

    reminder_attempt(reminder_id=reminder_id)
