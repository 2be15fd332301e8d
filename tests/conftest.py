import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clinical.models import Role
from tests.factories import SupervisionFactory, UserFactory, issue_token

ALL_SCOPES = ["clinical:read", "clinical:write", "homework", "reports", "admin"]


class Caller(APIClient):
    """An API client holding a bearer token for one user."""

    def __init__(self, user, token):
        super().__init__()
        self.user = user
        self.token = token
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def call_as(db):
    """`call_as(user, scopes=[...])` → an APIClient authenticated as that user with those scopes."""

    def make(user, scopes=ALL_SCOPES):
        return Caller(user, issue_token(user, scopes))

    return make


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def admin_user(db):
    return UserFactory(role=Role.ADMIN, email="admin@example.test")


@pytest.fixture
def supervisor(db):
    return UserFactory(role=Role.SUPERVISOR)


@pytest.fixture
def clinician(db, supervisor):
    """A clinician supervised by `supervisor`."""
    user = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisor=supervisor, supervisee=user)
    return user


@pytest.fixture
def other_clinician(db):
    return UserFactory(role=Role.CLINICIAN)


@pytest.fixture
def client_user(db):
    return UserFactory(role=Role.CLIENT)


@pytest.fixture
def admin_api(call_as, admin_user):
    return call_as(admin_user, ["admin"])


@pytest.fixture
def catalog(db):
    """The curated exercise library, loaded as `manage.py load_exercises` loads it."""
    from exercises.services import catalog_load

    catalog_load()
    from exercises.models import Exercise

    return {exercise.slug: exercise for exercise in Exercise.objects.select_related("current")}


@pytest.fixture(autouse=True)
def _fresh_throttle_counters(db):
    # Throttle counters live in the database cache; tests must not inherit each other's counts.
    cache.clear()


@pytest.fixture
def count_queries(db):
    """`count_queries(fn)` → how many SQL queries calling fn made (for "same count for 1 and many rows")."""

    def count(fn) -> int:
        with CaptureQueriesContext(connection) as captured:
            fn()
        return len(captured.captured_queries)

    return count
