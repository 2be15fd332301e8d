"""Idempotency-Key on POST: replay, mismatch (422), in-flight duplicate (409), expiry after 7 days."""

import re
import uuid
from datetime import timedelta

import pytest
import yaml
from django.db import connection, connections
from django.utils import timezone

from api.idempotency import KEY_PATTERN, _lock_id
from api.models import IdempotencyRecord
from clinical.models import Role, Supervision, User
from tests.factories import UserFactory, issue_token
from tests.helpers import Caller, sent_at_once
from tools import schema


def create_clinician(api, key, email="kim@example.test", **extra):
    return api.post("/api/v1/staff/", {"email": email, "display_name": "Kim"}, HTTP_IDEMPOTENCY_KEY=key, **extra)


def test_same_key_same_body_replays_the_first_response(admin_api):
    key = str(uuid.uuid4())

    first = create_clinician(admin_api, key)
    second = create_clinician(admin_api, key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second["ETag"] == first["ETag"]
    assert User.objects.filter(email="kim@example.test").count() == 1


def test_replay_is_the_first_response_even_after_the_record_changed(admin_api):
    key = str(uuid.uuid4())
    first = create_clinician(admin_api, key)
    admin_api.patch(f"/api/v1/staff/{first.json()['id']}/", {"display_name": "Changed"}, HTTP_IF_MATCH='"1"')

    replay = create_clinician(admin_api, key)

    assert replay.json()["display_name"] == "Kim"
    assert replay.json()["version"] == 1


def test_body_key_order_and_spacing_do_not_matter(admin_api):
    key = str(uuid.uuid4())
    admin_api.post(
        "/api/v1/staff/",
        data='{"email": "kim@example.test", "display_name": "Kim"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    replay = admin_api.post(
        "/api/v1/staff/",
        data='{"display_name":"Kim","email":"kim@example.test"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )

    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


def test_same_key_other_body_is_422_and_creates_nothing(admin_api):
    key = str(uuid.uuid4())
    create_clinician(admin_api, key)

    response = create_clinician(admin_api, key, email="someone.else@example.test")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert not User.objects.filter(email="someone.else@example.test").exists()


def test_same_key_on_another_endpoint_is_422(admin_api, supervisor, other_clinician):
    key = str(uuid.uuid4())
    create_clinician(admin_api, key)

    response = admin_api.post(
        "/api/v1/supervisions/",
        {"supervisor": str(supervisor.id), "supervisee": str(other_clinician.id)},
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 422
    assert not Supervision.objects.filter(supervisee=other_clinician).exists()


def test_keys_belong_to_one_caller(admin_api, call_as):
    key = str(uuid.uuid4())
    create_clinician(admin_api, key)
    another_admin = call_as(UserFactory(role=Role.ADMIN), ["admin"])

    response = create_clinician(another_admin, key, email="other@example.test")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_failed_request_is_not_stored_and_can_be_retried(admin_api):
    key = str(uuid.uuid4())
    failed = admin_api.post("/api/v1/staff/", {"email": "not-an-email"}, HTTP_IDEMPOTENCY_KEY=key)
    assert failed.status_code == 400
    assert not IdempotencyRecord.objects.exists()

    fixed = admin_api.post(
        "/api/v1/staff/", {"email": "kim@example.test", "display_name": "Kim"}, HTTP_IDEMPOTENCY_KEY=key
    )
    assert fixed.status_code == 201


def test_a_key_in_flight_answers_409(admin_api, admin_user, transactional_db):
    key = str(uuid.uuid4())
    # Another request with this key holds the lock (as an in-flight request's transaction does).
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(admin_user.pk, key)])
            response = create_clinician(admin_api, key)
            cursor.execute("ROLLBACK")
    finally:
        other.close()

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert not User.objects.filter(email="kim@example.test").exists()
    assert create_clinician(admin_api, key).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_create_exactly_one():
    admin = UserFactory(role=Role.ADMIN)
    token = issue_token(admin, ["admin"])
    key = str(uuid.uuid4())

    results = sent_at_once(lambda: create_clinician(Caller(admin, token), key))

    assert User.objects.filter(email="kim@example.test").count() == 1
    fresh = [r for r in results if r == (201, None)]
    assert len(fresh) == 1, results
    assert all(r in {(201, None), (201, "true"), (409, None)} for r in results), results
    assert IdempotencyRecord.objects.count() == 1


def test_an_expired_key_can_be_used_again(admin_api, settings):
    key = str(uuid.uuid4())
    create_clinician(admin_api, key)
    IdempotencyRecord.objects.update(created_at=timezone.now() - settings.IDEMPOTENCY_KEY_TTL - timedelta(minutes=1))

    response = create_clinician(admin_api, key, email="kim2@example.test")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert IdempotencyRecord.objects.count() == 1


def test_keys_are_kept_seven_days_then_purged(admin_api, settings):
    assert timedelta(days=7) == settings.IDEMPOTENCY_KEY_TTL
    create_clinician(admin_api, str(uuid.uuid4()))
    create_clinician(admin_api, str(uuid.uuid4()), email="kim2@example.test")
    IdempotencyRecord.objects.filter(pk=IdempotencyRecord.objects.first().pk).update(
        created_at=timezone.now() - timedelta(days=7, seconds=1)
    )
    from django.core.management import call_command

    call_command("purge_idempotency_keys", verbosity=0)

    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "ünïcode"])
def test_malformed_keys_are_400(admin_api, key):
    response = create_clinician(admin_api, key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not User.objects.filter(email="kim@example.test").exists()
    assert not re.fullmatch(KEY_PATTERN, key)


@pytest.mark.parametrize("key", ["k", "x" * 255, "!~", "2bb04c21-937a-43d3-9106-c010a2acb3a3"])
def test_the_schema_states_which_keys_are_valid(admin_api, key):
    # Found by the contract fuzzer: the schema said any string, the API accepts 1 to 255 visible ASCII characters.
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    declared = {
        p["schema"]["pattern"]
        for item in document["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p["name"] == "Idempotency-Key"
    }

    assert declared == {KEY_PATTERN}
    assert re.fullmatch(KEY_PATTERN, key)
    assert create_clinician(admin_api, key).status_code == 201


def test_stored_response_is_encrypted_at_rest(admin_api):
    create_clinician(admin_api, str(uuid.uuid4()))

    with connection.cursor() as cursor:
        cursor.execute("SELECT response_body FROM api_idempotencyrecord")
        (raw,) = cursor.fetchone()
    assert "kim@example.test" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
