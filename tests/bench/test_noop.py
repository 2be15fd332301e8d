"""The benchmark's authenticated no-op (bench/views.py): the API's token check and view machinery, nothing else."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.token_cache import cache
from clinical.models import Role
from tests.factories import UserFactory, issue_token
from tests.helpers import Caller


@pytest.fixture
def bench_urls(settings):
    settings.ROOT_URLCONF = "bench.urls"


def test_the_no_op_checks_the_token_like_the_api_and_answers_nothing(db, bench_urls):
    clinician = UserFactory(role=Role.CLINICIAN)
    api = Caller(clinician, issue_token(clinician, ["clinical:read"]))

    assert api.get("/bench/noop/").json() == {}
    assert Caller(clinician, "not-a-token").get("/bench/noop/").status_code == 401
    assert Caller(clinician, issue_token(clinician, ["homework"])).get("/bench/noop/").status_code == 403
    client = UserFactory(role=Role.CLIENT)
    assert Caller(client, issue_token(client, ["clinical:read"])).get("/bench/noop/").status_code == 403


def test_on_a_warm_token_cache_the_no_op_runs_no_query(db, bench_urls):
    cache._ensure_listener()
    clinician = UserFactory(role=Role.CLINICIAN)
    api = Caller(clinician, issue_token(clinician, ["clinical:read"]))
    for _ in range(100):  # until the listener listens and a request has filled the cache
        assert api.get("/bench/noop/").status_code == 200
        if cache.trusted and len(cache):
            break
    with CaptureQueriesContext(connection) as captured:
        assert api.get("/bench/noop/").status_code == 200
    # The request's transaction (ATOMIC_REQUESTS) is a savepoint inside the test's: nothing else is sent.
    sent = [q["sql"] for q in captured.captured_queries]
    assert [sql for sql in sent if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))] == []
