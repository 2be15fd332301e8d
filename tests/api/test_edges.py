"""The edges of the HTTP surface: bodies nested too deep, unknown paths, a missing trailing slash, methods an
endpoint does not take, request lines and header fields that are too large. Each answers problem+json (or
RFC 6749 JSON from an OAuth endpoint), never HTML, never a 500, never a redirect that drops the body.

414 and 431 through a real gunicorn are in tests/test_running.py; here they go through Django's test client.
"""

import json

import pytest
from django.test import Client

from clinical.models import Client as CareClient
from clinical.models import Role
from tests.factories import UserFactory
from tests.helpers import assert_problem

LIMIT = 64  # documented: README "Conventions", api/openapi-description.md


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.fixture
def clinician_api(call_as, db):
    return call_as(UserFactory(role=Role.CLINICIAN), ["clinical:read", "clinical:write"])


def client_body(depth: int) -> str:
    """A client whose `pronouns` value makes the whole body `depth` levels deep (the object itself is one)."""
    return '{"given_name": "Deep", "family_name": "Body", "pronouns": ' + nested(depth - 1) + "}"


@pytest.mark.parametrize("key", [None, "deep-1"], ids=["plain", "idempotency-key"])
@pytest.mark.parametrize("depth", [LIMIT + 1, 1_000, 100_000])
def test_a_body_nested_deeper_than_the_limit_is_400_before_any_parser(clinician_api, depth, key):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}

    response = clinician_api.post(
        "/api/v1/clients/", data=client_body(depth), content_type="application/json", **headers
    )

    problem = assert_problem(response, 400, "nesting_too_deep")
    assert problem["max_depth"] == LIMIT
    assert problem["type"] == "/api/problems/malformed"
    assert not CareClient.objects.filter(given_name="Deep").exists()


def test_the_limit_itself_is_allowed(clinician_api):
    """64 levels reach the view (which refuses the value, not the nesting)."""
    response = clinician_api.post("/api/v1/clients/", data=client_body(LIMIT), content_type="application/json")

    problem = assert_problem(response, 400, "invalid")
    assert [e["field"] for e in problem["errors"]] == ["pronouns"]


def test_brackets_inside_strings_do_not_count(clinician_api):
    """A client may call themselves "[[[[…": only the structure's depth counts, and escaped quotes do not end a
    string."""
    name = '\\"' + "[{" * 45  # 90 brackets, more than the fast path lets through unscanned
    body = json.dumps({"given_name": "Bracket", "family_name": "x"})[:-1] + f', "preferred_name": "{name}"' + "}"

    response = clinician_api.post("/api/v1/clients/", data=body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert CareClient.objects.get(given_name="Bracket").preferred_name == '"' + "[{" * 45


def test_many_shallow_objects_are_fine(clinician_api):
    """More than 64 brackets in all, none deeper than 2: the scan, not the fast path, must let it through."""
    body = json.dumps({"given_name": "Wide", "family_name": "x", "extra": [{"a": [1]} for _ in range(500)]})

    response = clinician_api.post("/api/v1/clients/", data=body, content_type="application/json")

    # It reaches the view, which may take or refuse the unknown field, but not for its nesting.
    assert response.status_code in (201, 400), response.content
    assert response.json().get("code") != "nesting_too_deep"


def test_a_deep_body_under_another_content_type_is_refused_too(clinician_api):
    """The idempotency fingerprint reads any body as JSON, whatever its declared type."""
    response = clinician_api.post(
        "/api/v1/clients/", data=nested(5_000), content_type="text/plain", HTTP_IDEMPOTENCY_KEY="deep-text"
    )
    assert_problem(response, 400, "nesting_too_deep")


def test_a_deep_body_is_refused_before_authentication(anonymous):
    response = anonymous.post("/api/v1/clients/", data=nested(5_000), content_type="application/json")
    assert_problem(response, 400, "nesting_too_deep")


# --- paths and methods ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nothing/", "/api/nothing", "/o/nothing/", "/nothing", "/static/nope.css"])
def test_unknown_paths_are_problem_json_everywhere(anonymous, path):
    assert_problem(anonymous.get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["get", "post", "patch"])
def test_a_missing_trailing_slash_is_a_404_naming_the_path_with_it(clinician_api, method):
    response = getattr(clinician_api, method)("/api/v1/clients", {"given_name": "Slash", "family_name": "Less"})

    problem = assert_problem(response, 404, "not_found")
    assert "/api/v1/clients/" in problem["detail"]
    assert problem["did_you_mean"] == "/api/v1/clients/"
    assert not CareClient.objects.filter(given_name="Slash").exists()


def test_a_missing_slash_on_an_oauth_endpoint_names_the_path_too(anonymous):
    problem = assert_problem(anonymous.post("/o/token", {"grant_type": "password"}), 404, "not_found")
    assert problem["did_you_mean"] == "/o/token/"


def test_no_slash_hint_where_the_slashed_path_does_not_exist_either(anonymous):
    problem = assert_problem(anonymous.get("/api/v1/nothing"), 404, "not_found")
    assert "did_you_mean" not in problem


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/o/token/", "POST"),
        ("get", "/o/revoke_token/", "POST"),
        ("put", "/o/token/", "POST"),
        ("delete", "/api/v1/health/", "GET"),
        ("post", "/.well-known/oauth-authorization-server", "GET"),
    ],
)
def test_405_is_problem_json_with_allow(anonymous, method, path, allowed):
    response = getattr(anonymous, method)(path)

    assert_problem(response, 405, "method_not_allowed")
    assert allowed in response["Allow"]


def test_oauth_errors_keep_their_rfc_6749_shape(db):
    response = Client().post("/o/token/", {"grant_type": "password", "client_id": "nobody"})

    assert response.status_code in (400, 401)
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] in ("invalid_request", "invalid_client")


def test_introspection_without_credentials_is_problem_json(anonymous):
    assert_problem(anonymous.post("/o/introspect/", {"token": "x"}), 403)


def test_the_authorization_page_stays_a_page_for_the_person_at_the_browser(db):
    """/o/authorize/ is where a person signs in and consents. When the request names no valid client, RFC 6749
    §4.1.2.1 says: tell the person, do not redirect. They read that in their browser, so it stays HTML."""
    browser = Client()
    browser.force_login(UserFactory(role=Role.CLINICIAN))

    response = browser.get("/o/authorize/", {"response_type": "code", "client_id": "no-such-app"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"cannot be authorised" in response.content


# --- request line and header fields ---------------------------------------------------------------------------


def test_a_request_target_over_8_kib_is_414(anonymous):
    response = anonymous.get("/api/v1/health/", {"q": "a" * 9_000})

    problem = assert_problem(response, 414, "uri_too_long")
    assert problem["max_bytes"] == 8192


def test_a_header_field_over_8_kib_is_431(anonymous):
    response = anonymous.get("/api/v1/health/", HTTP_X_NOTE="a" * 10_000)

    problem = assert_problem(response, 431, "header_fields_too_large")
    assert "X-Note" in problem["detail"]


def test_all_header_fields_over_32_kib_are_431(anonymous):
    headers = {f"HTTP_X_PART_{i}": "a" * 7_000 for i in range(5)}
    assert_problem(anonymous.get("/api/v1/health/", **headers), 431, "header_fields_too_large")


def test_requests_within_the_limits_pass(clinician_api):
    response = clinician_api.get("/api/v1/clients/", {"search": "a" * 7_000}, HTTP_X_NOTE="a" * 8_000)
    assert response.status_code == 200
    assert response.json()["results"] == []
