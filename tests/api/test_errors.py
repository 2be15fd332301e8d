"""Every error under /api/ is RFC 9457 problem+json with a stable code; never HTML, never a half-write."""

import json

import pytest
from django.test import Client

from api.errors import PROBLEM_TYPES
from clinical.models import User
from tests.helpers import assert_problem


def test_400_malformed_json(admin_api):
    response = admin_api.post("/api/v1/staff/", data="{not json", content_type="application/json")

    body = assert_problem(response, 400, "malformed_body")
    assert body["type"] == "/api/problems/malformed"
    # Found by the contract fuzzer: every 400 is a ValidationProblem, so it lists its problems too.
    assert body["errors"] == [{"field": None, "code": "malformed_body", "message": body["detail"]}]


def test_400_validation_lists_every_field(admin_api):
    response = admin_api.post("/api/v1/staff/", {"email": "nope", "role": "wizard"})

    body = assert_problem(response, 400, "invalid")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("email", "invalid"),
        ("display_name", "required"),
        ("role", "invalid_choice"),
    }


def test_400_null_characters_are_refused(admin_api):
    response = admin_api.post("/api/v1/staff/", {"email": "a@example.test", "display_name": "A\x00B"})

    assert_problem(response, 400)
    assert not User.objects.filter(email="a@example.test").exists()


def test_401_without_token(anonymous):
    body = assert_problem(anonymous.get("/api/v1/staff/"), 401, "not_authenticated")
    assert body["instance"] == "/api/v1/staff/"


def test_401_with_unknown_token(anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")
    response = anonymous.get("/api/v1/me/")

    assert_problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'  # RFC 6750 §3


def test_403_wrong_scope(call_as, admin_user):
    assert_problem(call_as(admin_user, ["reports"]).get("/api/v1/staff/"), 403, "insufficient_scope")


def test_403_read_token_cannot_write(call_as, admin_user, supervisor, other_clinician):
    # Admins read supervisions with clinical:read, but only an `admin` token may change them.
    api = call_as(admin_user, ["clinical:read"])
    assert api.get("/api/v1/supervisions/").status_code == 200
    response = api.post(
        "/api/v1/supervisions/", {"supervisor": str(supervisor.id), "supervisee": str(other_clinician.id)}
    )
    assert_problem(response, 403, "insufficient_scope")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here/",
        "/api/v1/staff/00000000-0000-0000-0000-000000000000/",
        "/api/v1/staff/not-a-uuid/",
        "/api/nothing/",
        "/api/problems/no-such-problem",
    ],
)
def test_404_is_problem_json(admin_api, path):
    assert_problem(admin_api.get(path), 404, "not_found")


def test_405_names_the_allowed_methods(admin_api, clinician):
    response = admin_api.delete(f"/api/v1/staff/{clinician.id}/")

    assert_problem(response, 405, "method_not_allowed")
    assert "PATCH" in response["Allow"]
    assert User.objects.filter(pk=clinician.pk).exists()


def test_406_when_only_html_is_acceptable(admin_api):
    assert_problem(admin_api.get("/api/v1/me/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


def test_409_conflict_has_a_specific_code(admin_api, clinician):
    supervisor = User.objects.get(supervisions_given__supervisee=clinician)
    response = admin_api.patch(f"/api/v1/staff/{supervisor.id}/", {"role": "clinician"}, HTTP_IF_MATCH='"1"')

    body = assert_problem(response, 409, "supervisor_has_supervisees")
    assert body["type"] == "/api/problems/conflict"


def test_412_and_428(admin_api, clinician):
    assert_problem(admin_api.patch(f"/api/v1/staff/{clinician.id}/", {}), 428, "precondition_required")
    assert_problem(admin_api.patch(f"/api/v1/staff/{clinician.id}/", {}, HTTP_IF_MATCH='"7"'), 412, "stale_version")


def test_413_over_256_kib_reads_nothing(admin_api):
    body = json.dumps({"email": "big@example.test", "display_name": "x" * (256 * 1024)})

    response = admin_api.post("/api/v1/staff/", data=body, content_type="application/json")

    problem = assert_problem(response, 413, "payload_too_large")
    assert problem["max_bytes"] == 256 * 1024
    assert not User.objects.filter(email="big@example.test").exists()


def test_413_applies_before_authentication(anonymous):
    response = anonymous.post("/api/v1/staff/", data="x" * (300 * 1024), content_type="application/json")
    assert_problem(response, 413)


def test_415_for_form_data(admin_api):
    response = admin_api.post("/api/v1/staff/", data="email=a%40b.test", content_type="text/plain")

    assert_problem(response, 415, "unsupported_media_type")


def test_422_idempotency_key_reused(admin_api):
    admin_api.post("/api/v1/staff/", {"email": "a@example.test", "display_name": "A"}, HTTP_IDEMPOTENCY_KEY="k1")
    response = admin_api.post(
        "/api/v1/staff/", {"email": "b@example.test", "display_name": "B"}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert_problem(response, 422, "idempotency_key_reused")


def test_429_from_the_token_endpoint(db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token_ip": "1/min", "token_user": "1/min"},
    }
    browser = Client()
    browser.post("/o/token/", {"grant_type": "password", "username": "x", "password": "y", "client_id": "z"})
    response = browser.post("/o/token/", {"grant_type": "password", "username": "x", "password": "y"})

    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


@pytest.mark.urls("tests.api.crash_urls")
def test_500_from_an_api_view_hides_the_detail(db, caplog):
    response = Client().get("/api/v1/broken/")

    body = assert_problem(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert body["detail"] == "An unexpected error occurred; nothing was changed."
    assert "secret internal detail" in caplog.text  # but it is logged for the team


@pytest.mark.urls("tests.api.crash_urls")
def test_500_outside_drf_is_rewritten_too(db):
    response = Client(raise_request_exception=False).get("/api/broken-django/")

    assert_problem(response, 500, "server_error")
    assert "secret" not in response.content.decode()


def test_no_html_error_pages_outside_the_api_either(db):
    """A headless API: an unknown path anywhere is a problem too (the sign-in and consent pages keep their own
    error pages for the person reading them: tests/api/test_edges.py)."""
    assert_problem(Client().get("/not-api/"), 404, "not_found")


def test_problem_types_are_described(db):
    catalogue = Client().get("/api/problems/").json()["problem_types"]
    assert {p["status"] for p in catalogue} >= {
        400,
        401,
        403,
        404,
        405,
        406,
        409,
        412,
        413,
        415,
        422,
        428,
        429,
        500,
        503,
    }

    for slug, problem in PROBLEM_TYPES.items():
        described = Client().get(f"/api/problems/{slug}").json()
        assert described["status"] == problem.status
        assert described["description"]
