from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "HTTP API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from kernel import erasure

        from .idempotency import forget_client
        from .token_cache import connect_signals

        connect_signals()
        erasure.register("idempotency_record", forget_client)
