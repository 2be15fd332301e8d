from django.core.management.base import BaseCommand, CommandError

from clinical.audit import audit_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; report the first broken link, or OK."

    def handle(self, *args, **options):
        report = audit_verify()
        if not report.ok:
            raise CommandError(
                f"audit chain broken at event {report.broken_at}: {report.reason} "
                f"({report.checked} events verified before it)"
            )
        self.stdout.write(f"OK: {report.checked} audit events, chain intact")
