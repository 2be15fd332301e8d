"""Who receives an event, decided when it is delivered, not when it happened."""

from .models import Event


def event_fan_out(*, event_id: str) -> int:
    """The number of deliveries this event makes (webhooks subscribe to it: events/webhooks)."""
    Event.objects.get(pk=event_id)
    return 0
