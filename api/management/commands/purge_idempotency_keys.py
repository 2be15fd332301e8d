from django.core.management.base import BaseCommand

from api.idempotency import purge_expired


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key responses older than IDEMPOTENCY_KEY_TTL (7 days). Run daily."

    def handle(self, *args, **options):
        deleted = purge_expired()
        if options["verbosity"]:
            self.stdout.write(f"purged {deleted} idempotency records")
