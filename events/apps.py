from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The API acting on its own: the event outbox, the worker's tasks, webhooks and reminders (docs/events.md)."""

    name = "events"
    verbose_name = "Events, webhooks and reminders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from kernel.events import listen

        if not getattr(settings, "EVENTS_RECORD", True):  # only the benchmark's settings turn it off (before/after)
            return
        from .services import event_record

        listen(event_record)
