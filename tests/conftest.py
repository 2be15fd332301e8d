import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client as DjangoClient
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.token_cache import cache as token_cache
from clinical.models import Role
from tests.factories import CaseFactory, SupervisionFactory, UserFactory, issue_token
from tests.helpers import ALL_SCOPES, HOMEWORK, READ_WRITE, Caller
from tests.problem_check import unlisted_code


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


# ---------------------------------------------------------------- a caller per role


def caller_of(user_fixture, scopes):
    """A fixture (named by the assignment below): the user that `user_fixture` gives, calling with `scopes`."""

    def caller(call_as, request):
        return call_as(request.getfixturevalue(user_fixture), scopes)

    caller.__doc__ = f"`{user_fixture}` calling the API with the scopes {', '.join(scopes)}."
    return pytest.fixture(caller)


admin_api = caller_of("admin_user", ["admin"])
api = caller_of("clinician", READ_WRITE)  # the role most tests act as
supervisor_api = caller_of("supervisor", READ_WRITE)
other_api = caller_of("other_clinician", READ_WRITE)
client_api = caller_of("client_user", HOMEWORK)


# ---------------------------------------------------------------- records and settings


@pytest.fixture
def case(clinician):
    """An open individual case of `clinician` (factory: no service, no audit event)."""
    return CaseFactory(clinician=clinician)


@pytest.fixture
def catalog(db):
    """The curated exercise library, loaded as `manage.py load_exercises` loads it."""
    from exercises.services import catalog_load

    catalog_load()
    from exercises.models import Exercise

    return {exercise.slug: exercise for exercise in Exercise.objects.select_related("current")}


@pytest.fixture
def no_csi4_parameters(settings):
    """CSI-4 reliable change is off unless the environment configures it; a test that relies on that says so."""
    settings.RELIABLE_CHANGE_PARAMETERS = {}


@pytest.fixture(autouse=True)
def _builtin_measures(db):
    """PHQ-9, GAD-7 and CSI-4 as published (their migration publishes them; a transactional test's flush empties
    the tables, so they are published again, as their migration did: without an audit event, which the tests of
    the audit chain would count)."""
    from clinical.models import BUILTIN_INSTRUMENTS, Instrument
    from clinical.services.instruments import builtin_publish

    published = Instrument.objects.filter(code__in=BUILTIN_INSTRUMENTS, current__isnull=False)
    if published.count() < len(BUILTIN_INSTRUMENTS):
        builtin_publish()


@pytest.fixture(autouse=True)
def _fresh_throttle_counters(db):
    # Throttle counters live in the database cache; tests must not inherit each other's counts.
    cache.clear()
    # Nor tokens cached in this process's memory (api/token_cache.py) by an earlier test, whose rows its rollback
    # removed without telling anyone.
    token_cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    yield
    # The token cache's listener holds a connection to the test database, which must be closed before it is dropped.
    token_cache.stop()


@pytest.fixture(autouse=True)
def _every_code_is_listed(monkeypatch):
    """A test fails when an answer carries a `code` that the catalog (api/problems.py) does not list, or that the
    contract does not list for the operation answered (tests/problem_check.py)."""
    unlisted = []
    request = DjangoClient.request

    def checked(self, **kwargs):
        response = request(self, **kwargs)
        environ = response.request
        if problem := unlisted_code(environ["REQUEST_METHOD"], environ["PATH_INFO"], response):
            unlisted.append(problem)
        return response

    monkeypatch.setattr(DjangoClient, "request", checked)
    yield
    assert not unlisted, "\n".join(unlisted)


@pytest.fixture
def count_queries(db):
    """`count_queries(fn)` → how many SQL queries calling fn made (for "same count for 1 and many rows").

    Each count starts with an empty token cache, so that it includes the token lookup whether or not the caller
    called before (tests/api/test_token_cache.py counts what a warm cache saves)."""

    def count(fn) -> int:
        token_cache.clear()
        with CaptureQueriesContext(connection) as captured:
            fn()
        return len(captured.captured_queries)

    return count
