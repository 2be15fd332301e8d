"""OAuth 2 through its real endpoints: authorization code + PKCE, password grant, refresh, revocation,
introspection, scopes, throttling."""

import base64
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from clinical.models import OAuthApplication
from clinical.services.demo import DEMO_PASSWORD, DEMO_SPA_REDIRECT
from tests.api.oauth import (
    TOKEN_URL,
    allow,
    bearer,
    exchange,
    password_sign_in,
    password_token,
    pkce_pair,
    redirect_query,
)
from tests.factories import ApplicationFactory


def authorize(browser, challenge, *, scope="clinical:read clinical:write", state="s-123"):
    """Sign in on the login page and approve the demo SPA; returns the redirect's query parameters."""
    login = password_sign_in(browser, "clinician@demo.test", challenge, scope=scope, state=state)
    consent = browser.get(login["Location"])
    assert consent.status_code == 200
    assert b"Allow Demo single-page app?" in consent.content
    return redirect_query(allow(browser, consent))


def test_authorization_code_with_pkce_end_to_end(demo):
    browser = Client()
    verifier, challenge = pkce_pair()

    query = authorize(browser, challenge)
    assert query["state"] == "s-123"
    assert query["iss"]  # RFC 9207: the authorization server names itself

    exchanged = exchange(query, verifier)
    assert exchanged.status_code == 200, exchanged.content
    tokens = exchanged.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == {"clinical:read", "clinical:write"}
    assert tokens["refresh_token"]

    me = Client().get("/api/v1/me/", **bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "clinician@demo.test"


@pytest.mark.parametrize(
    ("verifier", "errors"),
    [({}, {"invalid_request", "invalid_grant"}), ({"code_verifier": "another-" + "v" * 43}, {"invalid_grant"})],
    ids=["missing", "wrong"],
)
def test_code_exchange_needs_the_right_verifier(demo, verifier, errors):
    _verifier, challenge = pkce_pair()
    query = authorize(Client(), challenge)

    exchanged = Client().post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": DEMO_SPA_REDIRECT,
            "client_id": "demo-spa",
            **verifier,
        },
    )
    assert exchanged.status_code == 400
    assert exchanged.json()["error"] in errors


def test_authorization_without_pkce_is_refused(demo):
    browser = Client()
    browser.force_login(demo["clinician"])
    response = browser.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "demo-spa",
            "redirect_uri": DEMO_SPA_REDIRECT,
            "scope": "clinical:read",
            "state": "x",
        },
    )
    assert response.status_code == 302
    assert parse_qs(urlparse(response["Location"]).query)["error"] == ["invalid_request"]


def test_plain_pkce_method_is_refused(demo):
    browser = Client()
    browser.force_login(demo["clinician"])
    consent = browser.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "demo-spa",
            "redirect_uri": DEMO_SPA_REDIRECT,
            "scope": "clinical:read",
            "code_challenge": "a" * 43,
            "code_challenge_method": "plain",
        },
    )
    response = allow(browser, consent)

    query = parse_qs(urlparse(response["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


def test_password_grant_works_for_the_first_party_cli(demo):
    response = password_token(Client(), "clinician@demo.test", scope="clinical:read clinical:write")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] == 3600
    assert Client().get("/api/v1/me/", **bearer(body["access_token"])).json()["role"] == "clinician"


def test_password_grant_refused_for_the_authorization_code_app(demo):
    response = password_token(Client(), "clinician@demo.test", client_id="demo-spa")

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"


def test_password_grant_refused_for_a_third_party_password_app(demo):
    ApplicationFactory(
        client_id="third-party", authorization_grant_type=OAuthApplication.GRANT_PASSWORD, first_party=False
    )

    response = password_token(Client(), "clinician@demo.test", client_id="third-party")

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"


def test_wrong_password_gets_invalid_grant(demo):
    response = password_token(Client(), "clinician@demo.test", password="not-the-password")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_reuse_revokes_the_family(demo):
    first = password_token(Client(), "clinician@demo.test").json()

    def refresh(token):
        return Client().post(
            TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": token, "client_id": "demo-cli"}
        )

    second = refresh(first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert Client().get("/api/v1/me/", **bearer(first["access_token"])).status_code == 401
    assert Client().get("/api/v1/me/", **bearer(second["access_token"])).status_code == 200

    # Someone replays the old refresh token (stolen?): refused, and the whole family is revoked.
    replay = refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert Client().get("/api/v1/me/", **bearer(second["access_token"])).status_code == 401
    assert refresh(second["refresh_token"]).status_code == 400


def test_revoked_access_token_answers_401(demo):
    tokens = password_token(Client(), "clinician@demo.test").json()

    revoked = Client().post("/o/revoke_token/", {"token": tokens["access_token"], "client_id": "demo-cli"})
    assert revoked.status_code == 200

    response = Client().get("/api/v1/me/", **bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_token"


def test_revoked_refresh_token_cannot_refresh(demo):
    tokens = password_token(Client(), "clinician@demo.test").json()

    Client().post(
        "/o/revoke_token/",
        {"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": "demo-cli"},
    )
    response = Client().post(
        TOKEN_URL,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-cli"},
    )
    assert response.status_code == 400


def test_introspection_for_a_resource_server(demo):
    server = ApplicationFactory(
        client_type=OAuthApplication.CLIENT_CONFIDENTIAL,
        client_id="resource-server",
        client_secret="rs-secret-value",
        authorization_grant_type="client-credentials",
    )
    assert server.pk
    tokens = password_token(Client(), "clinician@demo.test", scope="clinical:read").json()
    basic = base64.b64encode(b"resource-server:rs-secret-value").decode()

    active = Client().post("/o/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert active.status_code == 200
    assert active.json()["active"] is True
    assert active.json()["scope"] == "clinical:read"
    assert active.json()["username"] == "clinician@demo.test"

    Client().post("/o/revoke_token/", {"token": tokens["access_token"], "client_id": "demo-cli"})
    inactive = Client().post("/o/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert inactive.json() == {"active": False}


def test_introspection_needs_client_credentials(demo):
    tokens = password_token(Client(), "clinician@demo.test").json()

    response = Client().post("/o/introspect/", {"token": tokens["access_token"]})
    assert response.status_code in (401, 403)


def test_expired_token_answers_401(call_as, clinician, anonymous):
    from tests.factories import issue_token

    token = issue_token(clinician, ["clinical:read"], expires_in=-1)
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_token_endpoint_is_throttled_per_address(demo, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token_ip": "3/min", "token_user": "100/min"},
    }
    browser = Client()
    statuses = [password_token(browser, f"nobody{i}@demo.test").status_code for i in range(3)]
    assert statuses == [400, 400, 400]

    throttled = password_token(browser, "clinician@demo.test")
    assert throttled.status_code == 429
    assert throttled["Content-Type"] == "application/problem+json"
    assert int(throttled["Retry-After"]) >= 1
    assert throttled.json()["code"] == "throttled"

    # Another address is not affected.
    other = password_token(browser, "clinician@demo.test", REMOTE_ADDR="10.1.2.3")
    assert other.status_code == 200


def test_password_attempts_are_throttled_per_account(demo, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token_ip": "100/min", "token_user": "2/min"},
    }
    for address in ("10.0.0.1", "10.0.0.2"):
        wrong = password_token(Client(), "Clinician@demo.test", password="guess", REMOTE_ADDR=address)
        assert wrong.status_code == 400

    # A third guess from a third address: the account is what is counted.
    assert password_token(Client(), "clinician@demo.test", REMOTE_ADDR="10.0.0.3").status_code == 429
    # Other accounts still sign in.
    assert password_token(Client(), "supervisor@demo.test", REMOTE_ADDR="10.0.0.3").status_code == 200


def test_the_sign_in_page_counts_passwords_with_the_token_endpoint(demo, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token_user": "2/min"},
    }
    wrong = password_token(Client(), "clinician@demo.test", password="guess", REMOTE_ADDR="10.0.0.1")
    assert wrong.status_code == 400
    page = Client().post("/accounts/login/", {"username": "Clinician@demo.test", "password": "guess"})
    assert page.status_code == 200  # the form again, with its error

    throttled = Client().post("/accounts/login/", {"username": "clinician@demo.test", "password": DEMO_PASSWORD})

    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 61
    assert b"Too many sign-in attempts" in throttled.content
    assert "_auth_user_id" not in throttled.wsgi_request.session
    # Another account signs in.
    assert (
        Client().post("/accounts/login/", {"username": "supervisor@demo.test", "password": DEMO_PASSWORD}).status_code
        == 302
    )


def test_authorization_server_metadata_is_published(db):
    response = Client().get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    assert body["token_endpoint"].endswith("/o/token/")
    assert "S256" in body["code_challenge_methods_supported"]
    assert {"clinical:read", "clinical:write", "homework", "reports", "admin"} <= set(body["scopes_supported"])


def test_sign_in_popup_pages_keep_their_opener(demo):
    """Swagger UI (and any browser client) reads the code back through window.opener."""
    browser = Client()
    for path in ("/accounts/login/", "/api/docs/oauth2-redirect.html?code=x&state=y"):
        response = browser.get(path)
        assert response.status_code == 200
        assert response["Cross-Origin-Opener-Policy"] == "unsafe-none"
    assert b"swagger-ui-dist/oauth2-redirect.js" in browser.get("/api/docs/oauth2-redirect.html").content
    browser.force_login(demo["clinician"])
    consent = browser.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "demo-spa",
            "redirect_uri": DEMO_SPA_REDIRECT,
            "code_challenge": "a" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert consent["Cross-Origin-Opener-Policy"] == "unsafe-none"
    # Everything else keeps Django's same-origin policy.
    assert Client().get("/api/v1/health/")["Cross-Origin-Opener-Policy"] == "same-origin"


def test_swagger_ui_redirect_is_registered_for_the_demo_spa(demo):
    app = OAuthApplication.objects.get(client_id="demo-spa")
    assert app.redirect_uri_allowed("http://127.0.0.1:8000/api/docs/oauth2-redirect.html")
    assert app.redirect_uri_allowed("http://localhost:8000/api/docs/oauth2-redirect.html")
