"""Submissions are rate-limited per client account and per address (api/throttling.py): 429 problem+json with
`Retry-After`, nothing stored, and the same Idempotency-Key goes through once the limit lifts.

An idempotent replay (same key, same body) counts like any other submission request: it still costs the server a
transaction, a lock and a hash of the body, so exempting it would give anyone holding one stored key an unlimited
stream of requests; and a client refused a replay loses nothing, since its submission is already stored and the
retry after `Retry-After` gets the same answer.
"""

import uuid
from types import SimpleNamespace

import psycopg
import pytest
import yaml
from django.core.cache import cache
from django.db import connection, transaction

from api.models import IdempotencyRecord
from api.throttling import SubmissionPerUserThrottle
from clinical.models import HomeworkSubmission
from tests.api.test_submissions import SUBMISSIONS, amend, an_hour_ago, answers, state, submit
from tools import schema

# Committed for real: the counts are written when a request's transaction commits (api/throttling.py), which a
# test wrapped in one rolled-back transaction never does.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rates(settings):
    """`rates(user="2/min", ip="100/min")`: the submission limits for this test (read at request time)."""

    def set_rates(*, user="1000/min", ip="1000/min"):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "submission_user": user,
                "submission_ip": ip,
            },
        }

    return set_rates


def submit_from(address, api, assignment):
    """A submission sent from this client address (REMOTE_ADDR)."""
    data = {"assignment": str(assignment.pk), "completed_at": an_hour_ago().isoformat(), "responses": answers()}
    return api.post(SUBMISSIONS, data, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()), REMOTE_ADDR=address)


def assert_throttled(response):
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["status"], body["type"]) == ("throttled", 429, "/api/problems/throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    return body


def test_a_client_is_limited_from_whatever_address(rates, as_a, as_b, assignment):
    rates(user="2/min")
    assert submit_from("10.0.0.1", as_a, assignment).status_code == 201
    assert submit_from("10.0.0.2", as_a, assignment).status_code == 201

    assert_throttled(submit_from("10.0.0.3", as_a, assignment))

    # The partner, from the very address just refused, is another account.
    assert submit_from("10.0.0.3", as_b, assignment).status_code == 201


def test_an_address_is_limited_whichever_accounts_send(rates, as_a, as_b, assignment):
    rates(ip="2/min")
    assert submit_from("10.0.0.1", as_a, assignment).status_code == 201
    assert submit_from("10.0.0.1", as_b, assignment).status_code == 201

    assert_throttled(submit_from("10.0.0.1", as_a, assignment))
    assert_throttled(submit_from("10.0.0.1", as_b, assignment))

    assert submit_from("10.0.0.2", as_a, assignment).status_code == 201


def test_retry_after_is_given_even_when_the_window_holds_more_than_the_limit(rates, as_a, assignment):
    # Concurrent requests, or a limit lowered while clients are sending, leave more requests in the window than the
    # limit allows; DRF's own estimate then gives no wait at all, and the 429 went out without Retry-After.
    for _ in range(3):
        assert submit(as_a, assignment).status_code == 201
    rates(user="1/min")

    assert_throttled(submit(as_a, assignment))


def test_a_throttled_submission_stores_nothing_and_its_key_works_later(rates, as_a, assignment):
    rates(user="1/min")
    assert submit(as_a, assignment).status_code == 201
    before = state()

    key = str(uuid.uuid4())
    assert_throttled(submit(as_a, assignment, key=key, responses=answers(felt_natural=2)))

    assert state() == before
    assert not IdempotencyRecord.objects.filter(key=key).exists()

    # Once the limit allows it, the same key is a first request: stored once, not a replay.
    rates(user="2/min")
    later = submit(as_a, assignment, key=key, responses=answers(felt_natural=2))
    assert later.status_code == 201, later.content
    assert "Idempotent-Replayed" not in later
    assert HomeworkSubmission.objects.count() == 2


def test_a_replay_counts_and_a_refused_replay_loses_nothing(rates, as_a, assignment):
    rates(user="2/min")
    key, when = str(uuid.uuid4()), an_hour_ago().isoformat()
    refused = submit(as_a, assignment, key=key, completed_at="2020-01-01T00:00:00Z")
    assert refused.status_code == 400  # before the homework started: refused, counted, and the key stays free

    first = submit(as_a, assignment, key=key, completed_at=when)
    assert first.status_code == 201, first.content
    body = first.json()

    assert_throttled(submit(as_a, assignment, key=key, completed_at=when))
    assert HomeworkSubmission.objects.count() == 1

    rates(user="3/min")
    replay = submit(as_a, assignment, key=key, completed_at=when)
    assert replay.status_code == 201, replay.content
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == body["id"]
    assert HomeworkSubmission.objects.count() == 1


def test_refused_submissions_count_too(rates, as_a, assignment):
    rates(user="2/min")
    for _ in range(2):
        refused = submit(as_a, assignment, responses={"felt_natural": 99})
        assert refused.status_code == 400, refused.content

    assert_throttled(submit(as_a, assignment))
    assert not HomeworkSubmission.objects.exists()


def test_amendments_share_the_limit_and_reads_are_not_limited(rates, as_a, assignment):
    rates(user="2/min")
    first = submit(as_a, assignment)
    assert first.status_code == 201
    assert amend(as_a, first.json()).status_code == 201

    assert_throttled(amend(as_a, first.json()))
    assert_throttled(submit(as_a, assignment))

    assert as_a.get("/api/v1/submissions/").status_code == 200
    assert as_a.get(f"/api/v1/submissions/{first.json()['id']}/").status_code == 200
    assert as_a.get("/api/v1/me/assignments/").status_code == 200


def test_a_counted_request_leaves_its_counter_unlocked_until_it_commits(rates, care, as_a, assignment):
    """The count is written at commit: while a submission is still running, the same client's (or address's)
    other requests can update the counter at once instead of waiting for this one to end."""
    rates(user="100/min")
    assert submit(as_a, assignment).status_code == 201  # the counter row exists now
    throttle = SubmissionPerUserThrottle()
    with transaction.atomic():  # a request's transaction, still running
        assert throttle.allow_request(SimpleNamespace(user=care.a_user), None)
        with psycopg.connect(**connection.get_connection_params()) as other:
            other.execute("SET lock_timeout = '500ms'")
            updated = other.execute(
                "UPDATE cache_entries SET expires = expires WHERE cache_key = %s", [cache.make_key(throttle.key)]
            ).rowcount
    assert updated == 1
    assert len(cache.get(throttle.key)) == 2  # and once committed, this request is counted too


def test_the_contract_documents_429_with_retry_after_where_it_can_happen():
    paths = yaml.safe_load(schema.SCHEMA_FILE.read_text())["paths"]
    for path in ("/api/v1/submissions/", "/api/v1/submissions/{id}/amend/"):
        response = paths[path]["post"]["responses"]["429"]
        assert "application/problem+json" in response["content"], path
        assert "Retry-After" in response["headers"], path
    assert "429" not in paths["/api/v1/submissions/"]["get"]["responses"]
    assert "429" not in paths["/api/v1/submissions/{id}/review/"]["post"]["responses"]


def test_counts_lost_after_the_commit_are_a_warning_and_undo_nothing(rates, as_a, assignment, caplog):
    """The database refusing the counts' write after the request committed (as when it stops in between, seen in
    `make resilience`'s outage): the submission stays stored and answered 201, and a warning says the counts were
    not written — no error with a traceback."""
    rates(user="10/min")
    table = connection.ops.quote_name(cache._table)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_counts() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'counts refused'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_counts BEFORE INSERT OR UPDATE ON {table} EXECUTE FUNCTION refuse_counts()"
        )
    try:
        with caplog.at_level("WARNING"):
            response = submit(as_a, assignment)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER refuse_counts ON {table}")
            cursor.execute("DROP FUNCTION refuse_counts()")

    assert response.status_code == 201, response.content
    assert HomeworkSubmission.objects.filter(pk=response.json()["id"]).exists()
    warned = [r for r in caplog.records if r.name == "api.throttling"]
    assert [r.levelname for r in warned] == ["WARNING"]
    assert "counts refused" in warned[0].getMessage()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
