"""What the README says about statuses, limits and scopes is what the API does (where that is cheap to check)."""

import re
from pathlib import Path

from django.conf import settings

from clinical.models import Role
from tests.factories import UserFactory

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_scope_table_is_the_one_the_token_endpoint_applies():
    rows = re.findall(r"^\| `([a-z:]+)` \| [^|]+ \| ([a-z, ]+) \|$", README, flags=re.MULTILINE)
    said = {scope: {role.strip() for role in roles.split(",")} for scope, roles in rows}
    applied = {}
    for role, scopes in settings.OAUTH_ROLE_SCOPES.items():
        for scope in scopes:
            applied.setdefault(scope, set()).add(role)
    assert said == applied


def test_the_limits_it_states_are_the_settings():
    assert "up to 256 KiB" in README
    assert settings.API_MAX_BODY_BYTES == 256 * 1024
    assert f"at most {settings.API_MAX_JSON_DEPTH} levels" in README
    assert settings.API_MAX_URL_BYTES == 8 * 1024
    assert "(path and query) up to 8 KiB" in README
    assert settings.API_MAX_HEADER_FIELD_BYTES == 8 * 1024
    assert settings.API_MAX_HEADER_BYTES == 32 * 1024
    assert f"a header field up to 8 KiB, all of them up to 32 KiB and {settings.API_MAX_HEADER_FIELDS} fields" in README


def test_out_of_reach_is_404_and_a_forbidden_operation_is_403_as_it_says(call_as, db):
    assert "never 403" not in README
    assert "`role_not_allowed`" in README
    assert "`insufficient_scope`" in README
    client_app = call_as(UserFactory(role=Role.CLIENT), ["homework"])
    clinician = call_as(UserFactory(role=Role.CLINICIAN), ["clinical:read"])
    someone_elses = call_as(UserFactory(role=Role.CLINICIAN), ["clinical:read", "clinical:write"]).post(
        "/api/v1/clients/", {"given_name": "Not", "family_name": "Yours"}
    )

    queue = clinician.get("/api/v1/notes/awaiting-cosign/")
    assert (queue.status_code, queue.json()["code"]) == (403, "role_not_allowed")
    staff = client_app.get("/api/v1/staff/")
    assert (staff.status_code, staff.json()["code"]) == (403, "insufficient_scope")
    assert clinician.get(f"/api/v1/clients/{someone_elses.json()['id']}/").status_code == 404
