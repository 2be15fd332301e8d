"""Time one FHIR bulk export of the whole practice, as the worker runs it (fhir_r4.exports.export_run), and roll it
back: the practice is left as it was (no files, no audit events). `make bench` runs it at scale 0.1."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from clinical.models import Role, User
from fhir_r4.exports import export_run
from fhir_r4.models import BulkExport, BulkExportFile
from fhir_r4.search import TYPES


class Command(BaseCommand):
    help = "Time a FHIR bulk export of every type (bench/run.py), rolled back afterwards."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args, out: Path, **options):
        admin = User.objects.filter(role=Role.ADMIN).order_by("created_at").first()
        with transaction.atomic():
            export = BulkExport.objects.create(
                requested_by=admin, request_url="http://localhost/fhir/r4/$export", types=list(TYPES)
            )
            started = time.perf_counter()
            export_run(export_id=export.pk)
            seconds = time.perf_counter() - started
            files = BulkExportFile.objects.filter(export=export)
            per_type = {}
            size = 0
            for resource_type, count, content in files.values_list("resource_type", "count", "content"):
                per_type[resource_type] = per_type.get(resource_type, 0) + count
                size += len(content)
            transaction.set_rollback(True)
        resources = sum(per_type.values())
        figures = {
            "resources": resources,
            "seconds": round(seconds, 2),
            "resources_per_second": round(resources / seconds, 1),
            "megabytes": round(size / 1e6, 1),
            "per_type": per_type,
        }
        out.write_text(json.dumps(figures, indent=1) + "\n")
