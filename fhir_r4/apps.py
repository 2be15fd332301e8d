from django.apps import AppConfig


class FhirConfig(AppConfig):
    """FHIR R4: the read API and the bulk export (docs/fhir.md)."""

    name = "fhir_r4"
    verbose_name = "FHIR R4"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from kernel import erasure

        from .exports import forget_client

        erasure.register("fhir_bulk_export", forget_client)
