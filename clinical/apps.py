from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _publish_builtin_consent_documents(sender, using, **kwargs) -> None:
    """After every migrate (and every flush, which sends the same signal), the consent documents the product ships
    are there to consent to, as the contenttypes are."""
    from clinical.services.consents import consent_documents_builtin_load

    consent_documents_builtin_load(using=using)


class ClinicalConfig(AppConfig):
    name = "clinical"
    verbose_name = "Clinical records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        post_migrate.connect(_publish_builtin_consent_documents, sender=self)
