from django.core.management.base import BaseCommand, CommandError

from kernel.audit import audit_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; report the first broken link, or OK."

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            metavar="ID:HASH",
            help="a head printed by an earlier run and kept outside the database; it must still be in the chain",
        )

    def handle(self, *args, **options):
        anchor = None
        if options["anchor"]:
            event_id, _, digest = options["anchor"].partition(":")
            if not event_id.isdigit() or len(digest) != 64:
                raise CommandError("--anchor takes ID:HASH as printed by an earlier run")
            anchor = (int(event_id), digest)
        report = audit_verify(anchor=anchor)
        if not report.ok:
            raise CommandError(
                f"audit chain broken at event {report.broken_at}: {report.reason} "
                f"({report.checked} events verified before it)"
            )
        self.stdout.write(f"OK: {report.checked} audit events, chain intact")
        if report.head_id is not None:
            self.stdout.write(f"head: {report.head_id}:{report.head_hash} (keep it; pass it as --anchor next time)")
