"""The worker's event tasks (procrastinate, on the same PostgreSQL): each event is fanned out to whoever receives it."""

import psycopg
from django.db import utils as db
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from . import housekeeping  # noqa: F401 (its periodic tasks register with the app, as this module's do)

# A job that fails because PostgreSQL went away (stopped, restarted, failed over) is tried again, every 5, 10, 15 …
# 100 s: 20 attempts over about 17 minutes. Without it the job ends `failed` and nothing defers it again: a delivery
# caught by a 10 s outage stayed `pending` for ever (found by `make resilience`, docs/reliability.md). Other errors are
# bugs and fail at once, as before.
DATABASE_UNAVAILABLE = RetryStrategy(
    max_attempts=20,
    wait=5,
    linear_wait=5,
    retry_exceptions=(db.OperationalError, db.InterfaceError, psycopg.OperationalError, psycopg.InterfaceError),
)


@app.periodic(cron="* * * * * *", periodic_id="relay")
@app.task(queue="relay", name="events.relay")
def relay(timestamp: int) -> None:
    """Every second: hand the events committed since to their receivers (webhook subscriptions whose owner may see
    them now), oldest first. Its own queue, so that its job rows (one a second) are kept an hour only. A run that
    fails (the database away) needs no retry: the next second's run takes the same pending events."""
    from .delivery import relay_pending

    relay_pending()


@app.task(queue="events", name="events.fan_out", retry=DATABASE_UNAVAILABLE)
def fan_out(event_id: str) -> None:
    """One event's fan-out: how events were handed on before the relay; kept for jobs deferred before it."""
    from .delivery import event_fan_out

    event_fan_out(event_id=event_id)


@app.task(queue="webhooks", name="events.deliver", retry=DATABASE_UNAVAILABLE)
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
