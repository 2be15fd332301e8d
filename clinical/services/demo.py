"""The demo practice `make run` serves, so a newcomer can sign in and try every flow at once.

Idempotent: running it again changes nothing but resetting the demo passwords and applications.
"""

import os

from django.db import transaction

from clinical.models import OAuthApplication, Role, Supervision, User

from .accounts import supervision_start, user_create

DEMO_PASSWORD = "demo-pass-123"
DEMO_SPA_REDIRECT = "http://127.0.0.1:8765/callback"

DEMO_ACCOUNTS = [
    ("admin@demo.test", "Dana Admin", Role.ADMIN),
    ("supervisor@demo.test", "Dr. Sofia Reyes", Role.SUPERVISOR),
    ("clinician@demo.test", "Chris Morgan, LMFT", Role.CLINICIAN),
    ("clinician2@demo.test", "Jordan Lee, LPC", Role.CLINICIAN),
    ("alex@demo.test", "Alex", Role.CLIENT),
    ("sam@demo.test", "Sam", Role.CLIENT),
]


def _account(email, display_name, role) -> User:
    user = User.objects.filter(email=email).first() or user_create(
        email=email, display_name=display_name, role=role
    )
    user.set_password(DEMO_PASSWORD)
    user.save(update_fields=["password"])
    return user


def _application(client_id: str, **fields) -> OAuthApplication:
    app, _ = OAuthApplication.objects.update_or_create(
        client_id=client_id,
        defaults={"client_type": OAuthApplication.CLIENT_PUBLIC, "client_secret": "", **fields},
    )
    return app


@transaction.atomic
def seed_demo() -> dict[str, User]:
    users = {email.split("@")[0]: _account(email, name, role) for email, name, role in DEMO_ACCOUNTS}
    if not Supervision.objects.filter(supervisee=users["clinician"], ended_on__isnull=True).exists():
        supervision_start(supervisor=users["supervisor"], supervisee=users["clinician"])

    port = os.environ.get("PORT", "8000")
    _application(
        "demo-cli",
        name="Demo CLI (first-party)",
        authorization_grant_type=OAuthApplication.GRANT_PASSWORD,
        first_party=True,
        redirect_uris="",
    )
    _application(
        "demo-spa",
        name="Demo single-page app",
        authorization_grant_type=OAuthApplication.GRANT_AUTHORIZATION_CODE,
        first_party=False,
        skip_authorization=False,
        redirect_uris=" ".join(
            [
                DEMO_SPA_REDIRECT,
                # Swagger UI's "Authorize" button at /api/docs/, however the docs were opened
                f"http://127.0.0.1:{port}/api/docs/oauth2-redirect.html",
                f"http://localhost:{port}/api/docs/oauth2-redirect.html",
            ]
        ),
        allowed_origins="http://127.0.0.1:8765",
    )
    return users
