from django.core.management.base import BaseCommand

from clinical.services.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo practice: accounts, supervision and OAuth applications."

    def handle(self, *args, **options):
        users = seed_demo()
        self.stdout.write(
            f"demo practice ready: {len(users)} accounts, password {DEMO_PASSWORD!r}; "
            "OAuth clients demo-cli (password grant) and demo-spa (authorization code + PKCE)"
        )
