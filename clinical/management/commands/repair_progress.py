from django.core.management.base import BaseCommand, CommandError

from clinical.services.progress import repair_progress


class Command(BaseCommand):
    help = (
        "Recount every kept homework progress row (HomeworkProgress) from the current submissions, report the rows "
        "that differed (missing, wrong, extra) and mend them. With --check, only report, and fail if any differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="report differences without mending; exit 1 if any")

    def handle(self, *args, check=False, **options):
        found = repair_progress(fix=not check)
        self.stdout.write(", ".join(f"{kind}: {n}" for kind, n in found.items()))
        differing = sum(found.values())
        if check and differing:
            raise CommandError(f"{differing} homework progress rows differ from their submissions.")
        if differing:
            self.stdout.write(f"mended {differing} rows")
