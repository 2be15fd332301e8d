from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "kernel"
    verbose_name = "Shared kernel"
    default_auto_field = "django.db.models.BigAutoField"
