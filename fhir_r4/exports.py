"""The bulk export (FHIR Bulk Data, system level): an admin with the `fhir:export` scope asks for the practice's
records; the worker writes them as NDJSON files, one resource type per file (split every FHIR_EXPORT_FILE_RESOURCES
resources), in one transaction; the files are read with the same token until they expire, then deleted.

The export is the practice's own record leaving it (to a new EHR, a registry, an archive): it holds every record,
both partners' private answers included, each as that partner's own resource. Every record in it is appended to
the audit trail as read by the admin who asked, in the transaction that wrote the files.
"""

from datetime import timedelta

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kernel.audit import audit_append
from kernel.erasure import Erased

from .models import BulkExport, BulkExportFile, ExportStatus
from .search import TYPES


@transaction.atomic
def export_start(*, actor, types: list[str], since, request_url: str) -> BulkExport:
    """Record the request and hand it to the worker when this transaction commits (never for a rolled-back one)."""
    from .tasks import run_export

    export = BulkExport.objects.create(requested_by=actor, request_url=request_url, types=types, since=since)
    audit_append(
        actor=actor,
        action="export",
        object_type="fhir_export",
        object_ids=[export.pk],
        detail={"types": types, "since": since.isoformat() if since else None},
    )
    run_export.configure(lock=f"fhir-export-{export.pk}").defer(export_id=str(export.pk))
    return export


def _base(request_url: str) -> str:
    return request_url.split("/fhir/r4/", 1)[0] + "/fhir/r4/"


def export_run(*, export_id) -> None:
    """Write the export's files in one transaction (all of them or none), or record that it failed. Each batch is read
    as committed when it is read (READ COMMITTED: a snapshot for the whole run would conflict with the audit trail's
    appends), so a record changed during the run appears as it was then; `transactionTime` is the run's start."""
    with transaction.atomic():
        export = (
            BulkExport.objects.select_for_update()
            .filter(pk=export_id, status__in=[ExportStatus.ACCEPTED, ExportStatus.RUNNING])
            .first()
        )
        if export is None:
            return  # deleted, or done (or failed) in an earlier run of this job; a run cut off re-runs
        export.status = ExportStatus.RUNNING
        export.save(update_fields=["status"])
    try:
        with transaction.atomic():
            _write(export)
    except Exception as exc:
        BulkExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=str(exc)[:500])
        raise


def _write(export: BulkExport) -> None:
    now = timezone.now()
    for resource_type in export.types:
        _write_type(export, resource_type)
    export.status = ExportStatus.COMPLETED
    export.transaction_time = now
    export.completed_at = timezone.now()
    export.expires_at = export.completed_at + timedelta(hours=settings.FHIR_EXPORT_HOURS)
    export.save()


def _write_type(export: BulkExport, resource_type: str) -> None:
    """The type's files: its sources' records by key, a batch at a time, each batch audited as read."""
    size = settings.FHIR_EXPORT_FILE_RESOURCES
    base = _base(export.request_url)
    part, lines = 0, []
    for source in TYPES[resource_type]:
        records = source.visible(None)
        if export.since:
            records = records.filter(**{f"{source.updated}__gt": export.since})
        last = None
        while True:
            batch = records.order_by("pk")
            batch = list((batch.filter(pk__gt=last) if last else batch)[:size])
            if not batch:
                break
            last = batch[-1].pk
            for resource in source.render(batch, base, None):
                lines.append(orjson.dumps(resource).decode())
                if len(lines) == size:
                    part = _file(export, resource_type, part, lines)
                    lines = []
            if source.audit_type:
                audit_append(
                    actor=export.requested_by,
                    action="read",
                    object_type=source.audit_type,
                    object_ids=[record.pk for record in batch],
                    detail={"via": "fhir-export", "export": str(export.pk)},
                )
    if lines:
        _file(export, resource_type, part, lines)


def _file(export: BulkExport, resource_type: str, part: int, lines: list[str]) -> int:
    BulkExportFile.objects.create(
        export=export, resource_type=resource_type, part=part + 1, count=len(lines), content="\n".join(lines)
    )
    return part + 1


def exports_expire(*, now=None) -> int:
    """Delete the exports whose files have expired, with their files; how many."""
    _, deleted = BulkExport.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted.get(BulkExport._meta.label, 0)


def forget_client(client_id, user_id) -> Erased:
    """An erased client in the bulk exports (kernel.erasure): an export whose Patient file holds the client (their
    names, contact details, birth date) is deleted whole, files and all; the admin may export again. The files are
    encrypted, so the Patient files are read to be searched; the other types name a client by id only."""
    needle = f'"id":"{client_id}"'
    holding = {
        file.export_id
        for file in BulkExportFile.objects.filter(resource_type="Patient").only("export_id", "content").iterator()
        if needle in file.content
    }
    BulkExport.objects.filter(pk__in=holding).delete()
    return Erased(
        "fhir_bulk_export",
        len(holding),
        "FHIR bulk exports written before the erasure whose Patient file held the client: deleted whole (they are "
        "copies, kept for a day at most; the admin may export again).",
    )
