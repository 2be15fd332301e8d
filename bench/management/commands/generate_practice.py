from django.core.management.base import BaseCommand, CommandError

from bench.generate import EMAIL_DOMAIN, GENERATED_PASSWORD, GenerationRefused, generate_practice


class Command(BaseCommand):
    help = (
        "Fill an empty database with a generated couples-therapy practice for the benchmark: at --scale 1, 200 "
        "clinicians, 20,000 clients, 25,000 cases, 3,000,000 homework submissions and the rest in proportion, with "
        "their audit trail (bench/generate.py explains how, and what it refuses). Every account signs in with the "
        f"password {GENERATED_PASSWORD!r}: admin@{EMAIL_DOMAIN}, supervisor0001@{EMAIL_DOMAIN}, "
        f"clinician0003@{EMAIL_DOMAIN}, client00001@{EMAIL_DOMAIN}, ..."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, required=True, help="multiplies every count (1: the full practice)")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed, the same practice")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="empty a database this command generated before, and generate anew (any other database is refused)",
        )

    def handle(self, *args, scale, seed, replace, **options):
        self.stderr.ending = ""  # progress lines are redrawn in place
        try:
            report = generate_practice(scale=scale, seed=seed, replace=replace, stream=self.stderr)
        except GenerationRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{'table':<38} {'rows':>12} {'seconds':>8}")
        for table, (rows, seconds) in report.tables.items():
            self.stdout.write(f"{table:<38} {rows:>12,} {seconds:>8.1f}")
        self.stdout.write(f"{'total':<38} {sum(r for r, _ in report.tables.values()):>12,} {report.seconds:>8.1f}")
        self.stdout.write(f"database size: {report.database_bytes / 2**20:,.0f} MiB")
