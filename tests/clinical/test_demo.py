import pytest

from clinical.models import OAuthApplication, Supervision, User
from clinical.services.demo import DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    seed_demo()
    first = (User.objects.count(), OAuthApplication.objects.count(), Supervision.objects.count())
    users = seed_demo()

    assert (User.objects.count(), OAuthApplication.objects.count(), Supervision.objects.count()) == first == (6, 2, 1)
    assert all(user.check_password(DEMO_PASSWORD) for user in users.values())
    cli = OAuthApplication.objects.get(client_id="demo-cli")
    assert cli.first_party
    assert cli.authorization_grant_type == OAuthApplication.GRANT_PASSWORD
    spa = OAuthApplication.objects.get(client_id="demo-spa")
    assert not spa.first_party
    assert spa.client_type == OAuthApplication.CLIENT_PUBLIC
    assert Supervision.objects.get().supervisee.email == "clinician@demo.test"
