import secrets
from datetime import timedelta

import factory
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from clinical.models import OAuthApplication, Role, Supervision, User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    display_name = factory.Faker("name")
    role = Role.CLINICIAN
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SupervisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supervision

    supervisor = factory.SubFactory(UserFactory, role=Role.SUPERVISOR)
    supervisee = factory.SubFactory(UserFactory, role=Role.CLINICIAN)


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthApplication

    name = factory.Sequence(lambda n: f"app {n}")
    client_id = factory.Sequence(lambda n: f"client-{n}")
    client_type = OAuthApplication.CLIENT_PUBLIC
    authorization_grant_type = OAuthApplication.GRANT_AUTHORIZATION_CODE
    redirect_uris = "https://app.example.test/callback"
    client_secret = ""


def issue_token(user, scopes, *, application=None, expires_in=3600) -> str:
    """A real access token row, as the token endpoint would store it; returns the raw token."""
    application = application or ApplicationFactory()
    raw = secrets.token_urlsafe(24)
    token = AccessToken(
        user=user,
        application=application,
        scope=" ".join(scopes),
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(token, raw)
    token.save()
    return raw
