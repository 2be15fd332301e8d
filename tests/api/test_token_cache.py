"""The per-process token cache (api/token_cache.py): a request on a warm cache runs no token query, and every path
that revokes, rotates or deactivates refuses the token on the next request — in this process, and in every other
(two gunicorn servers, each one worker, over the test database).

Each revocation test first checks that the token really is in the cache, so that a 401 afterwards is the cache
being invalidated, not a cache that was never used.
"""

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg
import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from api.token_cache import cache
from clinical.models import OAuthApplication, Role, User
from tests.api.oauth import TOKEN_URL, tokens_for
from tests.factories import UserFactory, issue_token
from tools.serve import ROOT, gunicorn_command, wait_until_serving

ME = "/api/v1/me/"
NOTIFY_WAIT = 3.0  # seconds: how long another process may take to process a notification (measured: milliseconds)


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def with_bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def password_token(username="clinician@demo.test"):
    return tokens_for(username)


def refresh(token):
    return BrowserClient().post(
        TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-cli"}
    )


def wait_until(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def listening(db):
    """This process's cache listener, connected and listening (so the cache is trusted)."""
    cache._ensure_listener()
    wait_until(lambda: cache.trusted, 10, "the token cache listener")
    return cache


def warm(token) -> None:
    """One request with `token`, which the cache then holds."""
    assert with_bearer(token).get(ME).status_code == 200
    assert checksum(token) in cache._entries, "the token was not cached"


def assert_refused(token) -> None:
    response = with_bearer(token).get(ME)
    assert response.status_code == 401, response.content[:300]
    assert response.json()["code"] == "invalid_token"


# ---------------------------------------------------------------- every revoking path, in this process


def revoked_at_the_endpoint(demo):
    tokens = password_token()
    warm(tokens["access_token"])
    answer = BrowserClient().post("/o/revoke_token/", {"token": tokens["access_token"], "client_id": "demo-cli"})
    assert answer.status_code == 200
    return tokens["access_token"]


def refresh_token_revoked_at_the_endpoint(demo):
    tokens = password_token()
    warm(tokens["access_token"])
    answer = BrowserClient().post("/o/revoke_token/", {"token": tokens["refresh_token"], "client_id": "demo-cli"})
    assert answer.status_code == 200
    return tokens["access_token"]


def rotated_away(demo):
    first = password_token()
    warm(first["access_token"])
    assert refresh(first["refresh_token"]).status_code == 200
    return first["access_token"]


def family_revoked_by_a_replay(demo):
    first = password_token()
    second = refresh(first["refresh_token"]).json()
    warm(second["access_token"])
    assert refresh(first["refresh_token"]).status_code == 400  # the replay revokes the family
    return second["access_token"]


def staff_deactivated_by_the_admin(demo):
    tokens = password_token()
    warm(tokens["access_token"])
    admin = with_bearer(issue_token(demo["admin"], ["admin"]))
    clinician = demo["clinician"]
    version = admin.get(f"/api/v1/staff/{clinician.pk}/")["ETag"]
    response = admin.patch(f"/api/v1/staff/{clinician.pk}/", {"is_active": False}, format="json", HTTP_IF_MATCH=version)
    assert response.status_code == 200, response.content
    return tokens["access_token"]


def user_deactivated_through_the_orm(demo):
    tokens = password_token()
    warm(tokens["access_token"])
    clinician = User.objects.get(pk=demo["clinician"].pk)
    clinician.is_active = False
    clinician.save()
    return tokens["access_token"]


def application_deleted(demo):
    tokens = password_token()
    warm(tokens["access_token"])
    OAuthApplication.objects.get(client_id="demo-cli").delete()
    return tokens["access_token"]


def tokens_deleted_in_bulk(demo):
    tokens = password_token()
    warm(tokens["access_token"])
    AccessToken.objects.filter(user=demo["clinician"]).delete()
    return tokens["access_token"]


def user_deleted(demo):
    token = issue_token(UserFactory(role=Role.CLINICIAN), ["clinical:read"])
    warm(token)
    AccessToken.objects.get(token_checksum=checksum(token)).user.delete()
    return token


def expired_while_cached(demo):
    token = issue_token(demo["clinician"], ["clinical:read"], expires_in=1)
    warm(token)
    time.sleep(1.1)  # the token's own expiry, checked on every hit
    return token


@pytest.mark.parametrize(
    "make_token",
    [
        revoked_at_the_endpoint,
        refresh_token_revoked_at_the_endpoint,
        rotated_away,
        family_revoked_by_a_replay,
        staff_deactivated_by_the_admin,
        user_deactivated_through_the_orm,
        application_deleted,
        tokens_deleted_in_bulk,
        user_deleted,
        expired_while_cached,
    ],
)
def test_a_cached_token_is_refused_on_the_next_request_after_each_revoking_path(demo, listening, make_token):
    token = make_token(demo)
    assert_refused(token)
    assert checksum(token) not in cache._entries


def test_a_changed_role_is_seen_on_the_next_request(demo, listening):
    tokens = password_token()
    warm(tokens["access_token"])
    admin = with_bearer(issue_token(demo["admin"], ["admin"]))
    clinician = demo["clinician"]
    version = admin.get(f"/api/v1/staff/{clinician.pk}/")["ETag"]
    assert (
        admin.patch(
            f"/api/v1/staff/{clinician.pk}/", {"display_name": "Renamed"}, format="json", HTTP_IF_MATCH=version
        ).status_code
        == 200
    )

    assert with_bearer(tokens["access_token"]).get(ME).json()["display_name"] == "Renamed"


# ---------------------------------------------------------------- what a warm cache saves, and when it is not used


def token_queries(token) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert with_bearer(token).get(ME).status_code == 200
    return [q["sql"] for q in captured.captured_queries if "oauth2_provider_accesstoken" in q["sql"]]


def test_a_request_on_a_warm_cache_runs_no_token_query(demo, listening):
    token = issue_token(demo["clinician"], ["clinical:read"])
    assert len(token_queries(token)) == 1  # the first request fills the cache
    assert token_queries(token) == []
    assert token_queries(token) == []


def test_the_cache_can_be_switched_off(demo, listening, settings):
    settings.TOKEN_CACHE_SECONDS = 0
    token = issue_token(demo["clinician"], ["clinical:read"])
    assert len(token_queries(token)) == 1
    assert len(token_queries(token)) == 1


def test_without_its_listener_the_cache_is_not_used(demo, listening, monkeypatch):
    token = issue_token(demo["clinician"], ["clinical:read"])
    warm(token)
    cache.stop()
    monkeypatch.setattr(cache, "_ensure_listener", lambda: None)  # keep it down for this test
    assert not cache.trusted

    assert len(token_queries(token)) == 1
    assert len(token_queries(token)) == 1  # nothing was stored
    assert checksum(token) not in cache._entries


def test_a_lost_listener_connection_empties_the_cache_until_it_is_back(demo, listening):
    token = issue_token(demo["clinician"], ["clinical:read"])
    warm(token)
    generation = cache._generation
    pid = cache._connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until(lambda: cache._generation > generation, 5, "the listener to notice")
    assert checksum(token) not in cache._entries
    wait_until(lambda: cache.trusted and cache._connection.info.backend_pid != pid, 10, "the listener to reconnect")
    warm(token)


# ---------------------------------------------------------------- committed changes that send no signal


@pytest.mark.django_db(transaction=True)
def test_a_deactivation_by_queryset_update_reaches_the_cache_through_its_notification(listening):
    clinician = UserFactory(role=Role.CLINICIAN)
    token = issue_token(clinician, ["clinical:read"])
    warm(token)
    User.objects.filter(pk=clinician.pk).update(is_active=False)  # no signal: only the trigger's NOTIFY tells

    wait_until(lambda: checksum(token) not in cache._entries, NOTIFY_WAIT, "the notification")
    assert_refused(token)


@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_in_raw_sql_reaches_the_cache_through_its_notification(listening):
    token = issue_token(UserFactory(role=Role.CLINICIAN), ["clinical:read"])
    warm(token)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM oauth2_provider_accesstoken WHERE token_checksum = %s", [checksum(token)])

    wait_until(lambda: checksum(token) not in cache._entries, NOTIFY_WAIT, "the notification")
    assert_refused(token)


# ---------------------------------------------------------------- on every worker: two servers


def http(base, path, *, token=None, data=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = urllib.parse.urlencode(data).encode() if data else None
    request = urllib.request.Request(base + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_servers(transactional_db):
    """Two gunicorn servers of one worker each over the test database: two processes, two caches."""
    db = connection_params()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['user']}@/{db['dbname']}?host={db['host']}"
        + (f"&port={db['port']}" if db.get("port") else ""),
        "PYTHONUNBUFFERED": "1",
    }
    servers, bases = [], []
    try:
        for _ in range(2):
            port = free_port()
            command = gunicorn_command(bind=f"127.0.0.1:{port}", workers=1)
            servers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
            bases.append(f"http://127.0.0.1:{port}")
            wait_until_serving(servers[-1], bases[-1] + "/api/v1/health/live/", "a gunicorn server")
        yield bases
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def connection_params() -> dict:
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k not in ("context", "cursor_factory", "prepare_threshold")}


def silently(sql, params):
    """Change a row with every trigger off (so no notification, no signal): what only a cache still holds."""
    with psycopg.connect(**connection_params(), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql, params)


def test_a_token_revoked_through_one_server_is_refused_by_the_other(two_servers):
    a, b = two_servers
    clinician = UserFactory(role=Role.CLINICIAN)
    application = OAuthApplication.objects.create(
        name="app", client_id="two-servers", client_type="public", authorization_grant_type="password"
    )
    token = issue_token(clinician, ["clinical:read"], application=application)

    def served_from_both_caches():
        """Give the token its scope back (a change that notifies: both caches drop it), let both servers read it
        (and cache it, once their listeners listen), take the scope away again behind their backs: a fresh lookup
        of the row would now answer 403, so a 200 comes from the cache."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE oauth2_provider_accesstoken SET scope = 'clinical:read' WHERE token_checksum = %s", [sum_]
            )
        time.sleep(0.2)
        for base in (a, b):
            assert http(base, "/api/v1/cases/", token=token)[0] == 200
        silently("UPDATE oauth2_provider_accesstoken SET scope = '' WHERE token_checksum = %s", [sum_])
        return all(http(base, "/api/v1/cases/", token=token)[0] == 200 for base in (a, b))

    sum_ = checksum(token)
    wait_until(served_from_both_caches, 20, "the token to be cached by both servers")

    status, _ = http(a, "/o/revoke_token/", data={"token": token, "client_id": "two-servers"})
    assert status == 200
    assert http(a, ME, token=token)[0] == 401  # the server that revoked: at once
    # The other: as soon as its listener has processed the notification, delivered at the revoke's commit.
    waited = wait_until(lambda: http(b, ME, token=token)[0] == 401, NOTIFY_WAIT, "the other server to refuse")
    print(f"the other server refused the revoked token after {waited * 1000:.0f} ms")


def test_a_deactivation_by_hand_is_refused_by_every_server(two_servers):
    clinician = UserFactory(role=Role.CLINICIAN)
    token = issue_token(clinician, ["clinical:read"])
    for base in two_servers:
        assert http(base, ME, token=token)[0] == 200
        assert http(base, ME, token=token)[0] == 200

    User.objects.filter(pk=clinician.pk).update(is_active=False)

    for base in two_servers:
        wait_until(lambda base=base: http(base, ME, token=token)[0] == 401, NOTIFY_WAIT, "every server to refuse")
