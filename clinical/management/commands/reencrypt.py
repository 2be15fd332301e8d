from django.core.management.base import BaseCommand

from clinical.services.encryption import reencrypt_all


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column with the first key in FIELD_ENCRYPTION_KEYS (key rotation)."

    def handle(self, *args, **options):
        for column, count in reencrypt_all().items():
            self.stdout.write(f"{column}: {count} values re-encrypted")
