import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from clinical.fields import EncryptedTextField


class ExportStatus(models.TextChoices):
    ACCEPTED = "accepted"  # waiting for the worker
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class BulkExport(models.Model):
    """One `$export` request (FHIR Bulk Data): what was asked for, by whom, and until when its files may be read."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    request_url = models.CharField(max_length=2000)
    types = ArrayField(models.CharField(max_length=40))
    since = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=ExportStatus.choices, default=ExportStatus.ACCEPTED)
    created_at = models.DateTimeField(auto_now_add=True)
    transaction_time = models.DateTimeField(null=True, blank=True)  # when the run that wrote the files began
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # set on completion; the files are deleted after it
    progress = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="export_status_valid"),
        ]

    def __str__(self):
        return f"export {self.pk}"


class BulkExportFile(models.Model):
    """One NDJSON file of an export: up to FHIR_EXPORT_FILE_RESOURCES resources of one type, encrypted at rest like
    the records it was made from."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    export = models.ForeignKey(BulkExport, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=40)
    part = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    content = EncryptedTextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["export", "resource_type", "part"], name="export_file_part_unique")
        ]

    def __str__(self):
        return f"{self.resource_type} part {self.part} of export {self.export_id}"
