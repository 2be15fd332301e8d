"""The worker's event tasks (procrastinate, on the same PostgreSQL): each event is fanned out to whoever receives it."""

from procrastinate.contrib.django import app

from . import housekeeping  # noqa: F401 (its periodic tasks register with the app, as this module's do)


@app.periodic(cron="* * * * * *", periodic_id="relay")
@app.task(queue="relay", name="events.relay")
def relay(timestamp: int) -> None:
    """Every second: hand the events committed since to their receivers (webhook subscriptions whose owner may see
    them now), oldest first. Its own queue, so that its job rows (one a second) are kept an hour only."""
    from .delivery import relay_pending

    relay_pending()


@app.task(queue="events", name="events.fan_out")
def fan_out(event_id: str) -> None:
    """One event's fan-out: how events were handed on before the relay; kept for jobs deferred before it."""
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
