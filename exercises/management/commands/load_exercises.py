from django.core.management.base import BaseCommand, CommandError

from exercises.services import ExerciseInvalid, catalog_load


class Command(BaseCommand):
    help = "Load the curated exercise catalog (exercises/catalog.yaml): new exercises, new versions of changed ones."

    def handle(self, *args, **options):
        try:
            report = catalog_load()
        except ExerciseInvalid as exc:
            raise CommandError(f"the catalog is not valid: {exc}") from exc
        self.stdout.write(
            f"exercise catalog: {report.created} new, {report.changed} new versions, {report.unchanged} unchanged"
        )
