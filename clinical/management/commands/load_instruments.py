from django.core.management.base import BaseCommand, CommandError

from clinical.services.instruments import builtin_load
from kernel.errors import InvalidInput


class Command(BaseCommand):
    help = (
        "Publish the built-in measures (clinical/instrument_definitions.yaml): a changed definition becomes a new "
        "version, which new assessments are scored with; assessments already scored keep theirs."
    )

    def handle(self, *args, **options):
        try:
            report = builtin_load()
        except InvalidInput as exc:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.errors.items())
            raise CommandError(f"the measures' definitions are not valid: {problems}") from exc
        self.stdout.write(
            f"measures: {report.created} new, {report.changed} new versions, {report.unchanged} unchanged"
        )
