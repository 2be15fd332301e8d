"""The worker's event tasks (procrastinate, on the same PostgreSQL): each event is fanned out to whoever receives it."""

from procrastinate.contrib.django import app


@app.task(queue="events", name="events.fan_out")
def fan_out(event_id: str) -> None:
    """Hand a committed event to its receivers (webhook subscriptions whose owner may see it now)."""
    from .delivery import event_fan_out

    event_fan_out(event_id=event_id)
