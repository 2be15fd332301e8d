"""Token abuse on clinical endpoints, and cross-origin access (CORS) from browser apps.

The access matrix (test_access_matrix.py) covers no token, a token without the operation's scope, another
clinician's records and mass assignment on every operation; test_oauth.py the token endpoint itself (PKCE,
rotation, reuse of a refresh token, throttling). Here: a token that was valid and no longer is, or is sent
where tokens are not accepted, gets 401 `invalid_token` on clinical reads and writes, and changes nothing.
"""

import pytest
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from clinical.models import Client, User
from tests.api.oauth import TOKEN_URL, tokens_for
from tests.factories import issue_token

API = "/api/v1/"
PROBLEM = "application/problem+json"


def password_token(username, scope="clinical:read clinical:write"):
    return tokens_for(username, scope)


def refresh(token):
    return BrowserClient().post(
        TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-cli"}
    )


def with_bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def assert_refused(response, code="invalid_token"):
    assert response.status_code == 401, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")
    if code == "invalid_token":  # RFC 6750 §3: a token was sent and failed
        assert 'error="invalid_token"' in response["WWW-Authenticate"]


def try_clinical_calls(client) -> list:
    """A clinical list, a record, and a write; returns the answers."""
    someone = Client.objects.order_by("id").first()
    return [
        client.get(f"{API}cases/"),
        client.get(f"{API}clients/{someone.id}/"),
        client.post(
            f"{API}clients/",
            {"given_name": "Token", "family_name": "Abuse"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="token-abuse",
        ),
    ]


def revoked(demo):
    tokens = password_token("clinician@demo.test")
    answer = BrowserClient().post("/o/revoke_token/", {"token": tokens["access_token"], "client_id": "demo-cli"})
    assert answer.status_code == 200
    return tokens["access_token"]


def expired(demo):
    return issue_token(demo["clinician"], ["clinical:read", "clinical:write"], expires_in=-1)


def rotated_away(demo):
    """The access token of a refresh that was rotated: the refresh answer replaces it."""
    first = password_token("clinician@demo.test")
    assert refresh(first["refresh_token"]).status_code == 200
    return first["access_token"]


def family_revoked(demo):
    """A stolen refresh token is replayed after its owner refreshed: the owner's current tokens die with it."""
    first = password_token("clinician@demo.test")
    second = refresh(first["refresh_token"]).json()
    replay = refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert refresh(second["refresh_token"]).status_code == 400
    return second["access_token"]


def deactivated(demo):
    tokens = password_token("clinician@demo.test")
    User.objects.filter(pk=demo["clinician"].pk).update(is_active=False)
    return tokens["access_token"]


def unknown(demo):
    return "not-a-token-anyone-was-given"


@pytest.mark.parametrize("make_token", [revoked, expired, rotated_away, family_revoked, deactivated, unknown])
def test_a_token_that_is_no_longer_valid_gets_401_on_clinical_calls(demo, make_token):
    token = make_token(demo)
    clients_before = Client.objects.count()

    for response in try_clinical_calls(with_bearer(token)):
        assert_refused(response)
    assert Client.objects.count() == clients_before


def test_the_same_calls_succeed_with_a_valid_token(demo):
    """What the refusals above are measured against."""
    statuses = [
        r.status_code for r in try_clinical_calls(with_bearer(password_token("clinician@demo.test")["access_token"]))
    ]
    assert statuses == [200, 200, 201]


@pytest.mark.parametrize("where", ["query", "form"])
def test_tokens_are_taken_from_the_authorization_header_only(demo, where):
    """RFC 9700: no access tokens in URLs (they end up in logs) or form bodies."""
    token = password_token("clinician@demo.test")["access_token"]
    client = APIClient()
    if where == "query":
        response = client.get(f"{API}cases/?access_token={token}")
    else:
        response = client.post(
            f"{API}clients/",
            f"access_token={token}&given_name=Form",
            content_type="application/x-www-form-urlencoded",
            HTTP_IDEMPOTENCY_KEY="form-token",
        )
    assert_refused(response, code="not_authenticated")


def test_a_session_cookie_is_not_an_api_credential(demo):
    """Signed in on the consent pages (a browser session) is not a way into the API: no CSRF-able API."""
    browser = BrowserClient()
    browser.force_login(demo["clinician"])
    assert_refused(browser.get(f"{API}cases/"), code="not_authenticated")


# ---------------------------------------------------------------- CORS: an allowlist from the environment

APP = "https://app.practice.example"


@pytest.fixture
def allowed_app(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]


def preflight(path, origin, method="POST", headers="authorization, content-type, idempotency-key, if-match"):
    return APIClient().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def test_by_default_no_other_origin_is_allowed(db, settings, call_as, clinician):
    assert settings.CORS_ALLOWED_ORIGINS == []
    assert not getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False)

    answer = preflight(f"{API}submissions/", APP)
    read = call_as(clinician).get(f"{API}cases/", HTTP_ORIGIN=APP)

    assert "Access-Control-Allow-Origin" not in answer
    assert read.status_code == 200
    assert "Access-Control-Allow-Origin" not in read


@pytest.mark.parametrize("path", [f"{API}submissions/", f"{API}notes/00000000-0000-0000-0000-000000000000/", TOKEN_URL])
def test_a_listed_origin_may_call_the_api_and_the_token_endpoint(db, allowed_app, path):
    answer = preflight(path, APP, method="PATCH" if "/notes/" in path else "POST")

    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == APP
    assert {"authorization", "content-type", "idempotency-key", "if-match"} <= {
        h.strip() for h in answer["Access-Control-Allow-Headers"].split(",")
    }
    assert "Access-Control-Allow-Credentials" not in answer  # bearer tokens, never cookies


def test_a_listed_origin_reads_the_headers_the_contract_uses(db, allowed_app, call_as, clinician):
    read = call_as(clinician).get(f"{API}cases/", HTTP_ORIGIN=APP)

    assert read.status_code == 200
    assert read["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip().lower() for h in read["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "location", "retry-after", "idempotent-replayed", "www-authenticate"} <= exposed


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.practice.example", APP + ".evil.example"])
def test_an_origin_not_listed_gets_no_cors_headers(db, allowed_app, call_as, clinician, origin):
    answer = preflight(f"{API}submissions/", origin)
    read = call_as(clinician).get(f"{API}cases/", HTTP_ORIGIN=origin)

    assert "Access-Control-Allow-Origin" not in answer
    assert "Access-Control-Allow-Origin" not in read


def test_the_sign_in_pages_are_not_shared_cross_origin(db, allowed_app):
    """Sign-in and consent are navigations of the browser itself; no script on another origin reads them."""
    for path in ("/accounts/login/", "/o/authorize/"):
        assert "Access-Control-Allow-Origin" not in preflight(path, APP)
        assert "Access-Control-Allow-Origin" not in BrowserClient().get(path, HTTP_ORIGIN=APP)
