"""Schema-scoped schemathesis hooks for the contract fuzz: realistic headers, so that generated bodies reach
validation, and the one narrow allowance for schema-valid requests that the API rightly refuses."""

import json
import re
import uuid

from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

from api.idempotency import HEADER as IDEMPOTENCY_KEY
from api.idempotency import KEY_PATTERN

VALID_KEY = re.compile(KEY_PATTERN)


def _declares_if_match(operation) -> bool:
    return any(parameter.name.lower() == "if-match" for parameter in operation.headers)


def map_case(context, case):
    """A valid Idempotency-Key becomes a fresh UUID, as a client makes one per logical request: the fuzzer draws
    the same few keys for different bodies, and the API rightly answers 422 (key reused for another request)
    without reading the body. Invalid keys are left alone (negative data). In the coverage phase, whose values
    are fixed, If-Match becomes `*` ("whatever is current"), so the bodies of changes are validated at all."""
    headers = case.headers
    if not headers:
        return case
    key = headers.get(IDEMPOTENCY_KEY)
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    meta = case.meta
    if meta is not None and meta.phase.name == "coverage" and "If-Match" in headers:
        headers["If-Match"] = "*"
    return case


def flatmap_case(context, case):
    """In the fuzzing phase, half the cases of an operation taking If-Match send `*`: a random string is never a
    current ETag, so otherwise every change would stop at 412 before its body is read. Schemathesis re-reads
    which parts of a case are valid after a hook changes it, so a negative case stays labelled correctly."""
    if not _declares_if_match(case.operation):
        return st.just(case)

    def choose(star: bool):
        if star:
            case.headers = {**case.headers, "If-Match": "*"}
        return case

    return st.booleans().map(choose)


# positive_data_acceptance expects every schema-valid request to succeed. These rules make a schema-valid value
# invalid and no JSON Schema can state them; a 400 is the right answer. By error code:
CODES_BEYOND_THE_SCHEMA = {
    "invalid_cursor": "a cursor is valid only if this API issued it",
    "does_not_exist": "a referenced record must exist and be within the caller's reach",
    # Django's password validators (AUTH_PASSWORD_VALIDATORS); the length rule is in the schema (minLength).
    "password_entirely_numeric": "not only digits",
    "password_too_common": "not on the list of common passwords",
    "password_too_similar": "not like the account's e-mail or name",
    # Dates checked against today: a date of birth, a session date, a completion time are not in the future; every
    # date lies from 1900-01-01 to five years from today (each date's description says so; OpenAPI 3.0 has no
    # bounds for dates).
    "future_date": "not after today",
    "date_out_of_range": "from 1900-01-01 to five years from today",
    # PostgreSQL text cannot hold NUL; the API refuses it with 400 (tests/api/test_errors.py). The fuzzer keeps
    # sending NUL everywhere, so a place that does not refuse it cleanly still fails (500).
    "null_characters_not_allowed": "no NUL character in text",
}
# By operation and field (the field's first part: `response_fields.0` is `response_fields`):
FIELDS_BEYOND_THE_SCHEMA = {
    ("POST /api/v1/invitations/accept/", "token"): "only an issued invitation, unused and unexpired",
    ("POST /api/v1/assessments/", "schedule"): "a client names the schedule they answer",
    ("POST /api/v1/assessments/", "case"): "a clinician names client and case",
    # Not an enum in the contract: measures are published data (instruments/), a practice adds its own.
    ("POST /api/v1/assessments/", "instrument"): "a published measure's code",
    ("POST /api/v1/assessment-schedules/", "instrument"): "a published measure's code",
    # A measure's definition holds together (clinical.instruments.definition_problems): unique item keys and option
    # values, bands covering the range of the total, a cut-off on the direction's side and inside the range,
    # reliable change as points or sd and reliability, subscales and risk rules naming items of the measure.
    **{
        (operation, field): "a measure's definition holds together"
        for operation in ("POST /api/v1/instruments/", "POST /api/v1/instruments/{code}/versions/")
        for field in ("items", "subscales", "bands", "caseness", "reliable_change", "risk_rules")
    },
    ("POST /api/v1/instruments/{code}/versions/", "code"): "a new version keeps the measure's code (the path's)",
    ("POST /api/v1/cases/", "client"): "an individual case names a client and no couple",
    ("POST /api/v1/cases/", "couple"): "a couple case names a couple and no client",
    ("POST /api/v1/exercises/", "response_fields"): "each kind of response field takes its own settings",
    ("PATCH /api/v1/exercises/{id}/", "response_fields"): "each kind of response field takes its own settings",
    ("GET /api/v1/reports/outcomes/", "from"): "`from` does not come after `to`",
    ("GET /api/v1/reports/outcomes.csv", "from"): "`from` does not come after `to`",
    ("POST /api/v1/submissions/", "completed_at"): "within the homework's dates",
    ("POST /api/v1/submissions/", "responses"): "the answers the exercise version's response fields ask for",
    ("POST /api/v1/submissions/{id}/amend/", "completed_at"): "within the homework's dates",
    ("POST /api/v1/submissions/{id}/amend/", "responses"): "the answers the exercise version's response fields ask for",
    ("POST /api/v1/sessions/{id}/transition/", "reason"): "a cancellation or no-show says why (not blank)",
    ("POST /api/v1/webhooks/", "url"): "a host that resolves, to a public address (no SSRF)",
    ("PATCH /api/v1/webhooks/{id}/", "url"): "a host that resolves, to a public address (no SSRF)",
    ("POST /api/v1/staff/", "email"): "unique among accounts",
    # Not an enum in the contract: the names come from the server's tz database, which changes with its version.
    ("PATCH /api/v1/me/notification-preferences/", "time_zone"): "an IANA time zone name the server knows",
    ("PATCH /api/v1/me/notification-preferences/", "quiet_hours_start"): "both ends of quiet hours, or neither",
    ("PATCH /api/v1/me/notification-preferences/", "quiet_hours_end"): "both ends of quiet hours, or neither",
    ("PATCH /api/v1/staff/{id}/", "email"): "unique among accounts",
    # A consent: only a release of records names a party and a purpose (and it names both); the document read is
    # one of the consent's kind; a verbal consent names its witness; a consent is not given in the future.
    **{
        (operation, field): "a consent's terms fit its kind and method"
        for operation in ("POST /api/v1/consents/", "POST /api/v1/me/consents/")
        for field in ("released_to", "release_purpose", "document")
    },
    ("POST /api/v1/consents/", "witness"): "a verbal consent names its witness",
    ("POST /api/v1/consents/", "given_at"): "not in the future",
    # A two-factor code is one the caller's authenticator app shows now (or an unused recovery code of theirs).
    **{
        (f"POST /api/v1/me/mfa/{step}/", "code"): "a current code of the caller's own authenticator app"
        for step in ("confirm", "recovery-codes", "remove")
    },
}


def _beyond_the_schema(label: str, error: dict) -> bool:
    field = (error.get("field") or "").split(".")[0]
    return error.get("code") in CODES_BEYOND_THE_SCHEMA or (label, field) in FIELDS_BEYOND_THE_SCHEMA


def _conditional_precondition(case, response) -> bool:
    """428 for a request without Idempotency-Key to an operation where the schema makes the key optional and
    documents 428: POST /assessments/ requires it of client apps only, and a schema cannot say who calls."""
    optional = any(p.name == IDEMPOTENCY_KEY and not p.is_required for p in case.operation.headers)
    return (
        response.status_code == 428
        and optional
        and IDEMPOTENCY_KEY not in (case.headers or {})
        and "428" in case.operation.definition.raw.get("responses", {})
    )


def filter_failure(context, failure, case, response):
    """Drop a positive_data_acceptance failure only when every error its 400 names is one of the rules above (or
    it is the role-dependent 428); any other refusal of schema-valid data, and every other check's failure,
    stays a failure."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    if _conditional_precondition(case, response):
        return False
    if response.status_code != 400:
        return True
    try:
        errors = json.loads(response.content)["errors"]
    except (ValueError, KeyError, TypeError):
        return True
    return not errors or not all(_beyond_the_schema(case.operation.label, error) for error in errors)


ALL = [map_case, flatmap_case, filter_failure]
