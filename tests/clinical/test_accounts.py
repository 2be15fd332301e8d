"""Account and supervision rules, through the services; the database backs each one."""

import pytest
from django.db import IntegrityError, connection, transaction

from clinical.fields import FieldDecryptionError
from clinical.models import Role, Supervision, User
from clinical.services import accounts
from kernel.errors import Conflict, InvalidInput, StaleVersion
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_emails_are_stored_lower_case_and_unique_whatever_the_case():
    user = accounts.user_create(email="  Alex.Doe@Example.TEST ", display_name="Alex", role=Role.CLIENT)

    assert user.email == "alex.doe@example.test"
    with pytest.raises(InvalidInput) as refused:
        accounts.user_create(email="ALEX.DOE@example.test", display_name="Twin", role=Role.CLIENT)
    assert "email" in refused.value.errors
    assert User.objects.get_by_natural_key("ALEX.doe@EXAMPLE.test") == user


def test_the_database_refuses_mixed_case_emails():
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="Mixed@Example.test", display_name="M", role=Role.CLIENT)])


def test_update_with_a_stale_version_changes_nothing(admin_user):
    clinician = UserFactory(role=Role.CLINICIAN, display_name="Before")
    accounts.staff_update(actor=admin_user, clinician=clinician, expected_version=1, display_name="After")

    with pytest.raises(StaleVersion):
        accounts.staff_update(actor=admin_user, clinician=clinician, expected_version=1, display_name="Lost update")

    clinician.refresh_from_db()
    assert (clinician.display_name, clinician.version) == ("After", 2)


def test_one_active_supervision_per_clinician_is_a_database_rule_too(admin_user):
    clinician = UserFactory(role=Role.CLINICIAN)
    first = UserFactory(role=Role.SUPERVISOR)
    accounts.supervision_start(actor=admin_user, supervisor=first, supervisee=clinician)

    with pytest.raises(Conflict):
        accounts.supervision_start(actor=admin_user, supervisor=UserFactory(role=Role.SUPERVISOR), supervisee=clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        Supervision.objects.create(supervisor=UserFactory(role=Role.SUPERVISOR), supervisee=clinician)


def test_a_supervision_ends_then_another_can_start(admin_user):
    clinician = UserFactory(role=Role.CLINICIAN)
    supervision = accounts.supervision_start(
        actor=admin_user, supervisor=UserFactory(role=Role.SUPERVISOR), supervisee=clinician
    )
    accounts.supervision_end(actor=admin_user, supervision=supervision)

    replacement = accounts.supervision_start(
        actor=admin_user, supervisor=UserFactory(role=Role.SUPERVISOR), supervisee=clinician
    )

    assert replacement.ended_on is None
    assert Supervision.objects.filter(supervisee=clinician).count() == 2


def test_a_supervision_cannot_end_before_it_started(admin_user):
    supervision = accounts.supervision_start(
        actor=admin_user, supervisor=UserFactory(role=Role.SUPERVISOR), supervisee=UserFactory(role=Role.CLINICIAN)
    )
    with pytest.raises(InvalidInput):
        accounts.supervision_end(
            actor=admin_user, supervision=supervision, ended_on=supervision.started_on.replace(year=2000)
        )


def test_demoting_a_supervisor_with_supervisees_is_refused(admin_user):
    supervisor = UserFactory(role=Role.SUPERVISOR)
    accounts.supervision_start(actor=admin_user, supervisor=supervisor, supervisee=UserFactory(role=Role.CLINICIAN))

    with pytest.raises(Conflict):
        accounts.staff_update(actor=admin_user, clinician=supervisor, expected_version=None, role=Role.CLINICIAN)


def test_a_value_no_key_decrypts_raises_instead_of_leaking_ciphertext(admin_api):
    from api.models import IdempotencyRecord

    admin_api.post("/api/v1/staff/", {"email": "k@example.test", "display_name": "K"}, HTTP_IDEMPOTENCY_KEY="a")
    with connection.cursor() as cursor:  # as if written under a key that is no longer configured
        cursor.execute(
            "UPDATE api_idempotencyrecord SET response_body = %s",
            ["gAAAAABpAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="],
        )

    with pytest.raises(FieldDecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        IdempotencyRecord.objects.get()


def test_key_rotation_reencrypts_every_value(admin_api, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from api.models import IdempotencyRecord

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    admin_api.post("/api/v1/staff/", {"email": "k@example.test", "display_name": "K"}, HTTP_IDEMPOTENCY_KEY="a")
    new_key = Fernet.generate_key().decode()

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("reencrypt", verbosity=0)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert "k@example.test" in IdempotencyRecord.objects.get().response_body
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(FieldDecryptionError):
        IdempotencyRecord.objects.get()
