from django.core.management.base import BaseCommand, CommandError

from clinical.models import User
from clinical.services.mfa import mfa_reset


class Command(BaseCommand):
    help = (
        "Take an account's second factor away (its authenticator app and recovery codes), e.g. the practice admin's "
        "own after a lost phone: staff accounts are reset by the admin through the API (POST staff/{id}/mfa-reset/). "
        "Recorded in the audit trail as the server operator's."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = User.objects.filter(email=User.objects.normalize_email(email)).first()
        if user is None:
            raise CommandError(f"no account {email}")
        mfa_reset(actor=None, clinician=user)
        self.stdout.write(f"{user.email} signs in without a second factor now (until they enrol again)")
