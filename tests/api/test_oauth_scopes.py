"""What a token may hold, and what the authorization server says about itself, through the real endpoints.

A token gets the requested scopes its user's role may hold (settings.OAUTH_ROLE_SCOPES; the README's scope
table): at the token endpoint (password grant), on the consent page (authorization code) and on refresh. None of
them: `invalid_scope`. The token response's `scope` says what was granted (RFC 6749 §5.1).
"""

import base64

import pytest
from django.conf import settings
from django.test import Client

from clinical.models import OAuthApplication
from clinical.services.demo import DEMO_PASSWORD, DEMO_SPA_REDIRECT
from tests.api.oauth import TOKEN_URL, allow, bearer, exchange, password_token, pkce_pair, redirect_query
from tests.factories import ApplicationFactory

EVERY_SCOPE = "admin clinical:read clinical:write homework reports fhir:export"
ROLE_SCOPES = {
    "admin@demo.test": {"admin", "fhir:export"},
    "clinician@demo.test": {"clinical:read", "clinical:write", "reports"},
    "supervisor@demo.test": {"clinical:read", "clinical:write", "reports"},
    "alex@demo.test": {"homework"},
}


def test_the_role_table_is_the_settings_table():
    assert {role: set(scopes) for role, scopes in settings.OAUTH_ROLE_SCOPES.items()} == {
        "admin": ROLE_SCOPES["admin@demo.test"],
        "clinician": ROLE_SCOPES["clinician@demo.test"],
        "supervisor": ROLE_SCOPES["supervisor@demo.test"],
        "client": ROLE_SCOPES["alex@demo.test"],
    }


@pytest.mark.parametrize("username", list(ROLE_SCOPES))
def test_password_grant_grants_only_what_the_role_may_hold(demo, username):
    response = password_token(Client(), username, scope=EVERY_SCOPE)

    assert response.status_code == 200, response.content
    granted = set(response.json()["scope"].split())
    assert granted == ROLE_SCOPES[username]
    introspected = Client().get("/api/v1/me/", **bearer(response.json()["access_token"]))
    assert introspected.status_code == 200


def test_the_bulk_export_scope_is_granted_only_when_asked_for_by_name(demo):
    form = {"grant_type": "password", "username": "admin@demo.test", "password": DEMO_PASSWORD, "client_id": "demo-cli"}
    assert Client().post(TOKEN_URL, form).json()["scope"] == "admin"  # no scope asked for: the role's default
    assert password_token(Client(), "admin@demo.test", scope="fhir:export").json()["scope"] == "fhir:export"


def test_a_client_asking_for_staff_scopes_gets_what_it_may_hold(demo):
    """The issue's case: alex asked for `admin clinical:read homework` and got all three."""
    response = password_token(Client(), "alex@demo.test", scope="admin clinical:read homework")

    assert response.json()["scope"] == "homework"


def test_the_order_asked_is_kept(demo):
    response = password_token(Client(), "clinician@demo.test", scope="reports clinical:read")
    assert response.json()["scope"] == "reports clinical:read"


@pytest.mark.parametrize(
    ("username", "scope"),
    [("alex@demo.test", "admin clinical:read clinical:write reports"), ("admin@demo.test", "clinical:read homework")],
)
def test_nothing_the_role_may_hold_is_invalid_scope(demo, username, scope):
    response = password_token(Client(), username, scope=scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("clinician@demo.test", "clinical:read"),
        ("admin@demo.test", "admin"),
        ("alex@demo.test", "homework"),
    ],
)
def test_no_scope_asked_gets_the_roles_default(demo, username, expected):
    response = Client().post(
        TOKEN_URL,
        {"grant_type": "password", "username": username, "password": DEMO_PASSWORD, "client_id": "demo-cli"},
    )

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == expected


def test_unknown_scopes_are_still_invalid(demo):
    response = password_token(Client(), "clinician@demo.test", scope="clinical:read superpowers")
    assert response.json()["error"] == "invalid_scope"


# --- authorization code: the consent page ----------------------------------------------------------------------


def consent_page(browser, username, scope, challenge):
    browser.post("/accounts/login/", {"username": username, "password": DEMO_PASSWORD})
    return browser.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": "demo-spa",
            "redirect_uri": DEMO_SPA_REDIRECT,
            "scope": scope,
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )


def test_the_consent_page_shows_and_grants_only_what_the_role_may_hold(demo):
    browser = Client()
    verifier, challenge = pkce_pair()

    page = consent_page(browser, "alex@demo.test", "homework clinical:read admin", challenge)

    assert page.status_code == 200
    assert page.context["scopes"] == ["homework"]
    text = page.content.decode()
    assert settings.OAUTH_SCOPES["homework"] in text
    assert settings.OAUTH_SCOPES["admin"] not in text
    assert settings.OAUTH_SCOPES["clinical:read"] not in text
    tokens = exchange(redirect_query(allow(browser, page)), verifier).json()
    assert tokens["scope"] == "homework"


def test_a_tampered_consent_form_grants_no_more(demo):
    """The form's hidden `scope` field is the browser's to change: the server narrows again when allowing."""
    browser = Client()
    verifier, challenge = pkce_pair()
    page = consent_page(browser, "alex@demo.test", "homework", challenge)
    form = page.context["form"]
    hidden = {name: form[name].value() for name in form.fields if form[name].value() is not None}

    approved = browser.post("/o/authorize/", {**hidden, "scope": "homework admin reports", "allow": "Authorize"})

    assert exchange(redirect_query(approved), verifier).json()["scope"] == "homework"


def test_consent_for_nothing_the_role_may_hold_sends_the_client_invalid_scope(demo):
    browser = Client()
    _verifier, challenge = pkce_pair()

    page = consent_page(browser, "alex@demo.test", "admin reports", challenge)

    query = redirect_query(page)
    assert query["error"] == "invalid_scope"
    assert query["state"] == "st"
    assert "code" not in query


# --- refresh ----------------------------------------------------------------------------------------------------


def test_a_refresh_keeps_only_what_the_role_may_hold(demo):
    """A token issued before this rule (or before a role changed) holds more: its refresh narrows it."""
    tokens = password_token(Client(), "clinician@demo.test", scope="clinical:read reports").json()
    demo["clinician"].role = "admin"
    demo["clinician"].save(update_fields=["role"])

    refused = Client().post(
        TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-cli"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"

    demo["clinician"].role = "supervisor"
    demo["clinician"].save(update_fields=["role"])
    refreshed = Client().post(
        TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-cli"}
    )
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["scope"] == "clinical:read reports"


def test_a_refresh_of_a_token_holding_too_much_narrows_it(demo):
    from oauth2_provider.models import AccessToken

    tokens = password_token(Client(), "alex@demo.test", scope="homework").json()
    # As the token endpoint issued it before this rule: the token, `admin clinical:read homework`.
    AccessToken.objects.filter(user=demo["alex"]).update(scope="admin clinical:read homework")

    refreshed = Client().post(
        TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-cli"}
    )

    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["scope"] == "homework"


# --- the metadata tells the truth ----------------------------------------------------------------------------------


@pytest.fixture
def metadata(db):
    return Client().get("/.well-known/oauth-authorization-server").json()


def test_metadata_lists_exactly_the_grants_that_work(demo, metadata):
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "password", "refresh_token"}
    assert metadata["response_types_supported"] == ["code"]

    # Each listed grant works (authorization_code: tests/api/test_oauth.py, end to end).
    password = password_token(Client(), "clinician@demo.test")
    assert password.status_code == 200
    refreshed = Client().post(
        TOKEN_URL,
        {"grant_type": "refresh_token", "refresh_token": password.json()["refresh_token"], "client_id": "demo-cli"},
    )
    assert refreshed.status_code == 200


@pytest.mark.parametrize("grant", ["client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "implicit"])
def test_grants_not_listed_do_not_work_even_for_an_application_set_up_for_them(db, grant):
    app = ApplicationFactory(
        client_type=OAuthApplication.CLIENT_CONFIDENTIAL,
        client_id=f"app-{grant[-8:]}",
        client_secret="a-secret-value",
        authorization_grant_type={"client_credentials": "client-credentials"}.get(grant, "authorization-code"),
    )
    basic = base64.b64encode(f"{app.client_id}:a-secret-value".encode()).decode()

    response = Client().post(
        TOKEN_URL, {"grant_type": grant, "scope": "clinical:read"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unauthorized_client", "unsupported_grant_type", "invalid_request")
    assert "access_token" not in response.json()


def test_metadata_lists_the_client_authentication_that_works(demo, metadata):
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_basic",
        "client_secret_post",
    }
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]

    # none: the demo apps are public clients and name themselves with client_id alone.
    assert OAuthApplication.objects.get(client_id="demo-cli").client_type == OAuthApplication.CLIENT_PUBLIC
    assert password_token(Client(), "clinician@demo.test").status_code == 200
    # client_secret_basic and client_secret_post: a confidential first-party application.
    ApplicationFactory(
        client_type=OAuthApplication.CLIENT_CONFIDENTIAL,
        client_id="confidential-cli",
        client_secret="a-secret-value",
        authorization_grant_type=OAuthApplication.GRANT_PASSWORD,
        first_party=True,
    )
    form = {"grant_type": "password", "username": "clinician@demo.test", "password": DEMO_PASSWORD}
    basic = base64.b64encode(b"confidential-cli:a-secret-value").decode()
    assert Client().post(TOKEN_URL, form, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    posted = {**form, "client_id": "confidential-cli", "client_secret": "a-secret-value"}
    assert Client().post(TOKEN_URL, posted).status_code == 200
    wrong = {**form, "client_id": "confidential-cli", "client_secret": "wrong"}
    assert Client().post(TOKEN_URL, wrong).status_code == 401


def test_the_contract_declares_the_password_flow_beside_the_authorization_code_flow():
    import yaml

    from tools.schema import SCHEMA_FILE

    flows = yaml.safe_load(SCHEMA_FILE.read_text())["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == "/o/authorize/"
    assert flows["authorizationCode"]["tokenUrl"] == "/o/token/"
    assert flows["password"]["tokenUrl"] == "/o/token/"
    assert set(flows["password"]["scopes"]) == set(settings.OAUTH_SCOPES)
