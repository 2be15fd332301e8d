from django.core.management.base import BaseCommand, CommandError

from exercises.services import catalog_load
from kernel.errors import InvalidInput


class Command(BaseCommand):
    help = "Load the curated exercise catalog (exercises/catalog.yaml): new exercises, new versions of changed ones."

    def handle(self, *args, **options):
        try:
            report = catalog_load()
        except InvalidInput as exc:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.errors.items())
            raise CommandError(f"the catalog is not valid: {problems}") from exc
        self.stdout.write(
            f"exercise catalog: {report.created} new, {report.changed} new versions, {report.unchanged} unchanged"
        )
