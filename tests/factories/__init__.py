import secrets
from datetime import date, timedelta

import factory
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from clinical.models import (
    Case,
    Client,
    Couple,
    CoupleMember,
    GoalAttainmentRating,
    GoalDomain,
    GoalLifecycle,
    NoteAddendum,
    NoteFormat,
    NoteStatus,
    OAuthApplication,
    ProgressNote,
    RelationshipType,
    Role,
    SubjectType,
    Supervision,
    TreatmentGoal,
    User,
)

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


# ---------------------------------------------------------------- clinical records
# Factories write rows directly (no service, no audit event), to set the scene for a test.


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    preferred_name = ""
    pronouns = "they/them"
    email = factory.Sequence(lambda n: f"client{n}@example.test")
    primary_clinician = factory.SubFactory(UserFactory, role=Role.CLINICIAN)


class CoupleFactory(factory.django.DjangoModelFactory):
    """A couple of two new clients; `partners=[a, b]` names them, `partners__clinician=user` gives the new
    ones that primary clinician."""

    class Meta:
        model = Couple
        skip_postgeneration_save = True

    relationship_type = RelationshipType.MARRIED

    @factory.post_generation
    def partners(obj, create, extracted, **kwargs):
        if not create:
            return
        clinician = kwargs.get("clinician") or UserFactory(role=Role.CLINICIAN)
        partners = extracted or [ClientFactory(primary_clinician=clinician) for _ in range(2)]
        for position, client in enumerate(partners, 1):
            CoupleMember.objects.create(
                couple=obj, client=client, position=position, couple_active=obj.status == "active"
            )


class CaseFactory(factory.django.DjangoModelFactory):
    """An open individual case; pass `couple=` (and subject_type="couple") for a couple case."""

    class Meta:
        model = Case

    clinician = factory.SubFactory(UserFactory, role=Role.CLINICIAN)
    subject_type = SubjectType.INDIVIDUAL
    client = factory.LazyAttribute(
        lambda o: ClientFactory(primary_clinician=o.clinician) if o.subject_type == SubjectType.INDIVIDUAL else None
    )
    couple = None
    presenting_concerns = factory.LazyFunction(lambda: ["communication"])
    confidentiality_policy = factory.LazyAttribute(
        lambda o: "limited_secrets" if o.subject_type == SubjectType.COUPLE else ""
    )


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatmentGoal

    case = factory.SubFactory(CaseFactory)
    domain = GoalDomain.COMMUNICATION
    title = factory.Sequence(lambda n: f"Goal {n}")
    lifecycle_status = GoalLifecycle.ACTIVE
    gas_levels = None


GAS_LEVELS = {"-2": "much less", "-1": "less", "0": "expected", "1": "more", "2": "much more"}


class GASRatingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GoalAttainmentRating

    goal = factory.SubFactory(GoalFactory, gas_levels=GAS_LEVELS)
    rated_on = factory.Sequence(lambda n: date(2026, 1, 1) + timedelta(days=n))
    score = 0
    rated_by = factory.LazyAttribute(lambda o: o.goal.case.clinician)


class NoteFactory(factory.django.DjangoModelFactory):
    """A draft SOAP note by the case's clinician; pass status/signed_at for a signed one."""

    class Meta:
        model = ProgressNote

    case = factory.SubFactory(CaseFactory)
    author = factory.LazyAttribute(lambda o: o.case.clinician)
    session_date = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=1))
    format = NoteFormat.SOAP
    sections = factory.LazyFunction(
        lambda: {"subjective": "felt unheard", "objective": "calm", "assessment": "improving", "plan": "check-in"}
    )


class AddendumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NoteAddendum

    note = factory.SubFactory(NoteFactory, status=NoteStatus.SIGNED, signed_at=factory.LazyFunction(timezone.now))
    author = factory.LazyAttribute(lambda o: o.note.author)
    text = "added later"
