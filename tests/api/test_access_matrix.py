"""The access matrix: every operation of the contract, for every role, aimed at another clinician's records.

Clinician B (`other_clinician`, unsupervised now; supervised by another supervisor in the past) holds a full
set of records with distinctive content, homework included: an assignment on B's couple case, a submission
from one of B's clients (shared with the partner), its amended revision with B's review, the invitations B
sent, and an exercise B wrote; and outcomes: assessments of both of B's clients (baselines and follow-ups,
one a self-report through the app, one a PHQ-9 whose item 9 raised a safety alert), a self-report schedule,
and GAS ratings. Clinician A, A's supervisor S, the practice admin and a client of A's couple each call
every operation of the committed `openapi.yaml` on B's records, with B's records as list filters and as
foreign keys of writes. Where the role may use the operation the answer is 404 (or 400 naming the
field, for a foreign key); where the role may never use it, 403 `role_not_allowed`. No value of B's records
appears in any answer; the same request with ids that never existed answers exactly the same; B's records
stay as they were, nothing is created, and no audit event says that anyone but B touched them.

The exercise library is the one shared place: it holds no personal data, so every role that uses it reads
B's exercise (and sees B as its author), but only B changes it; nobody changes a catalog exercise. The
standard measures (instruments/) are reference data, the same for everyone who uses them; the admin publishes
them (a practice's own measure, a new version of one), and staff and the admin read their versions.

The reports name no record: A's and S's reports answer with their own rows, never B's name, id or figures
(B's figures are checked by growing B's caseload: A's and S's reports stay byte for byte the same), and
`?clinician=<B>` answers 404, as for anybody who does not exist.

The operations are read from the contract, so a new endpoint joins the matrix by itself: the test fails
until SPECS says which foreign object stands in for its path and what body it sends. The contract is in turn
held to the URL configuration: every route and method there is an operation of the contract, or one of the
public routes listed with the reason it takes no token. Without a token every method of every other route is
a 401; a token lacking the operation's scope a 403. Every write is also sent with the server-owned fields its
answer shows (read from the contract), forged: they are ignored or refused, never stored.
"""

import base64
import binascii
import copy
import csv
import dataclasses
import functools
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pyotp
import pytest
import yaml
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.test import override_settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from api.privacy import render_release
from api.token_cache import cache as token_cache
from clinical import instruments
from clinical.models import (
    BUILTIN_INSTRUMENTS,
    Assessment,
    AssessmentSchedule,
    AuditEvent,
    CalendarFeed,
    Case,
    Client,
    ClientInvitation,
    ConjointHold,
    Consent,
    ConsentDocument,
    Couple,
    CoupleMember,
    Device,
    ErasureRequest,
    GoalAttainmentRating,
    GoalDomain,
    HomeworkAssignment,
    HomeworkSubmission,
    Instrument,
    NoteAddendum,
    NoteStatus,
    NotificationPreferences,
    ProgressNote,
    RecordRelease,
    RecoveryCode,
    RecoveryCodeSet,
    RelationshipType,
    Role,
    SafetyAlert,
    SafetyScreen,
    Session,
    SessionRating,
    SubjectType,
    Supervision,
    TreatmentGoal,
    User,
)
from clinical.models.mfa import recovery_code_digest
from clinical.services.alliance import rating_submit
from clinical.services.consents import release_create
from clinical.services.erasure import erasure_request_create
from clinical.services.homework import assignment_create, submission_create, submission_review
from clinical.services.instruments import builtin_publish, instrument_create, instrument_publish
from clinical.services.invitations import invitation_accept, invitation_create
from clinical.services.measures import assessment_record, schedule_create
from clinical.services.mfa import mfa_enrol_confirm, mfa_enrol_start
from clinical.services.reminders import device_register, token_digest
from clinical.services.sessions import session_create, session_transition
from events.models import Event, WebhookDelivery, WebhookSubscription
from exercises.models import Exercise, ExerciseVersion
from exercises.services import catalog_entries, exercise_create, exercise_publish, exercise_revise
from kernel.audit import audit_append
from tests.factories import (
    GAS_LEVELS,
    AddendumFactory,
    CaseFactory,
    ClientFactory,
    CoupleFactory,
    GASRatingFactory,
    GoalFactory,
    NoteFactory,
    SupervisionFactory,
    UserFactory,
    issue_token,
)
from tests.helpers import ALL_SCOPES, Caller, earlier_today
from tools import schema

API = "/api/v1/"
# Webhook receivers: B's (never shown to anyone but B and the admin), and one the walk may subscribe (allowed below).
B_RELEASE_PARTY = "Harrowgate & Pell, solicitors"
B_WEBHOOK_URL = "https://hooks.b-practice.example/matrix-b"
B_DEVICE_TOKEN = "b-client-push-token-7f3a9c"
B_TIME_ZONE = "Pacific/Chatham"
B_SESSION_LOCATION = "https://video.b-practice.example/room-matrix-b"
# B's calendar feed: its live secret (the path to B's schedule), and two that no longer open anything.
B_CALENDAR_SECRET = "b-live-calendar-secret-Qm8xZ2VvcmdpYQ"
B_REPLACED_CALENDAR_SECRET = "b-replaced-calendar-secret-VGhlb2Rvc2lh"
B_REVOKED_CALENDAR_SECRET = "b-revoked-calendar-secret-WmFuemliYXI"
A_WEBHOOK_URL = "http://127.0.0.1:9/matrix-a"
# B signs in with an authenticator app (its secret, hex as stored and base32 as shown) and has one recovery code left.
B_TOTP_KEY = "6d61747269782d622d746f74702d6b65792d3230"
B_TOTP_SECRET = base64.b32encode(bytes.fromhex(B_TOTP_KEY)).decode()
B_RECOVERY_CODE = "mtrx-bbbb-reco-very"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM = "application/problem+json"
ROLES = ("clinician", "supervisor", "admin", "client")
SCOPES = ("clinical:read", "clinical:write", "homework", "reports", "admin")
# B made a request with this key before the walk; every POST of the walk reuses it. Keys belong to one user:
# if they did not, another caller would get B's stored answer (the whole note) replayed.
SHARED_IDEMPOTENCY_KEY = "matrix-shared-idempotency-key"
# B's own assignment and B's client's correction were sent with these (a key belongs to one user and path).
B_ASSIGNMENT_KEY = "matrix-b-assignment-key"
B_AMEND_KEY = "matrix-b-amend-key"
# B's recorded assessment, B's self-report schedule, and B's client's self-report.
B_ASSESSMENT_KEY = "matrix-b-assessment-key"
B_SCHEDULE_KEY = "matrix-b-schedule-key"
B_SELF_REPORT_KEY = "matrix-b-self-report-key"

# ---------------------------------------------------------------- the contract


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    security: tuple[tuple[str, ...] | None, ...]  # alternatives; None: no authentication at all
    uuid_filters: tuple[str, ...]
    is_list: bool  # cursor-paginated
    lists_rows: bool  # answers `results`, paginated or not

    def __str__(self):
        return f"{self.method.upper()} {self.path}"

    @property
    def targets(self) -> bool:
        """The path names a record ({id}, {code}, {name})."""
        return bool(PATH_PARAMETER.search(self.path))

    @property
    def key(self):
        return (self.method.upper(), self.path)

    @property
    def resource(self) -> str:
        return self.path.removeprefix(API).split("/")[0]

    @property
    def public(self) -> bool:
        return None in self.security

    def accepts_scopes(self, scopes: set[str]) -> bool:
        return self.public or any(set(required) <= scopes for required in self.security)


def _security(op: dict) -> tuple:
    out = []
    for requirement in op.get("security", []):
        out.append(tuple(requirement["oauth2"]) if requirement else None)
    return tuple(out)


PATH_PARAMETER = re.compile(r"\{\w+\}")


def _lists_rows(document: dict, op: dict) -> bool:
    """The JSON answer is an object with `results` (a list of rows, paginated or not)."""
    schema_ = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    while "$ref" in schema_:
        schema_ = document["components"]["schemas"][schema_["$ref"].rsplit("/", 1)[-1]]
    return "results" in schema_.get("properties", {})


def takes_ids(parameter: dict) -> bool:
    """A query parameter the contract types as a uuid, and that takes ids (see test_uuid_filters_take_ids)."""
    return parameter["schema"].get("format") == "uuid" and "enum" not in parameter["schema"]


def contract_operations() -> list[Operation]:
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    operations = []
    for path, item in document["paths"].items():
        if not path.startswith(API):
            continue
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            query = [p for p in op.get("parameters", []) if p.get("in") == "query"]
            operations.append(
                Operation(
                    method=method,
                    path=path,
                    security=_security(op),
                    uuid_filters=tuple(p["name"] for p in query if takes_ids(p)),
                    is_list=method == "get" and any(p["name"] == "cursor" for p in query),
                    lists_rows=method == "get" and _lists_rows(document, op),
                )
            )
    return operations


OPERATIONS = contract_operations()

# ---------------------------------------------------------------- who may use what (DESIGN.md, "Who may see what")

PUBLIC = "public"  # no token needed (health)
OPEN = "open"  # no token needed, a write refused by its own rules (accepting an invitation): Variant.anyone
SELF = "self"  # answers about the caller only (me/)
FORBIDDEN = "forbidden"  # the role may never use the operation: 403 role_not_allowed
SCOPED = "scoped"  # the role may use it, on what is within its reach: B's records are 404
MANAGES = "manages"  # the admin legitimately reaches B's account, supervisions and audit trail
LIBRARY = "library"  # the shared exercise library: B's exercise is read by all who use it, changed by B only
REFERENCE = "reference"  # data shipped with the API, the same for everyone who uses it (the standard measures)
PUBLISHES = "publishes"  # the admin publishes reference data (a measure, a version of one): no one's record
OWN = "own"  # the caller's own settings, one record per caller (a client's reminder preferences)
REPORT = "report"  # aggregates over the caller's own caseload and their supervisees': never B's row or figures

CLINICAL = {
    "consents",
    "safety-screens",
    "conjoint-holds",
    "releases",
    "clients",
    "couples",
    "cases",
    "goals",
    "notes",
    "sessions",
    "session-ratings",
    "assignments",
    "assessment-schedules",
    "alerts",
}
STAFF = ("clinician", "supervisor")
CLIENT_APP = (
    f"{API}me/goals/",
    f"{API}me/assignments/",
    f"{API}me/assessments-due/",
    f"{API}me/devices/",
    f"{API}me/consents/",
    f"{API}me/sessions/",
    f"{API}me/session-ratings/",
)


def access(role: str, op: Operation) -> str | None:
    if op.resource == "health":
        return PUBLIC
    if op.resource == "invitations":
        return OPEN
    if op.path == f"{API}me/":
        return SELF
    if op.path == f"{API}me/notification-preferences/":
        return OWN if role == "client" else FORBIDDEN  # the caller's own, nobody else's
    if op.path == f"{API}me/calendar-feed/":
        return OWN if role in STAFF else FORBIDDEN  # a clinician's own feed of the sessions they hold
    if op.path.startswith(f"{API}me/mfa/"):
        return OWN if role != "client" else FORBIDDEN  # staff's and the admin's own second factor for signing in
    if op.resource == "calendar":
        # the feed a calendar app reads with the secret in its address: no token, and B's old addresses open nothing
        return OPEN
    if op.path == f"{API}me/export/":
        return OWN if role == "client" else FORBIDDEN  # the client's own record, nobody else's
    if op.path.startswith(CLIENT_APP):
        return SCOPED if role == "client" else FORBIDDEN
    if op.resource in CLINICAL:
        if op.path.endswith("/awaiting-cosign/"):
            return SCOPED if role == "supervisor" else FORBIDDEN
        return SCOPED if role in STAFF else FORBIDDEN
    if op.resource == "submissions":
        # clients send and correct their own; the case's clinician reviews; both read (the admin never)
        if (op.path == f"{API}submissions/" and op.method == "post") or op.path.endswith("/amend/"):
            return SCOPED if role == "client" else FORBIDDEN
        if op.path.endswith("/review/"):
            return SCOPED if role in STAFF else FORBIDDEN
        return SCOPED if role != "admin" else FORBIDDEN
    if op.resource == "exercises":
        # DESIGN.md, "Who may see what": staff and clients use the library; staff write exercises
        if role == "admin" or (role == "client" and op.method != "get"):
            return FORBIDDEN
        return LIBRARY
    if op.resource == "instruments":
        # everyone who uses the measures reads them; staff and the admin their versions; the admin publishes them
        if op.method != "get":
            return PUBLISHES if role == "admin" else FORBIDDEN
        if "/versions/" in op.path:
            return FORBIDDEN if role == "client" else REFERENCE
        return REFERENCE
    if op.resource == "consent-documents":
        # the texts clients consent to: read by everyone who uses the API, published by the admin
        if op.method != "get":
            return PUBLISHES if role == "admin" else FORBIDDEN
        return REFERENCE
    if op.resource == "event-types":
        # the events integrators subscribe to: staff and the admin (who subscribes for the practice)
        return FORBIDDEN if role == "client" else REFERENCE
    if op.resource == "assessments":
        # staff record and read them on the cases they reach; a client self-reports and reads their own
        return FORBIDDEN if role == "admin" else SCOPED
    if op.resource == "reports":
        return REPORT if role in STAFF else FORBIDDEN
    if op.resource in ("staff", "audit-events", "erasure-requests"):
        return MANAGES if role == "admin" else FORBIDDEN
    if op.resource == "webhooks":
        # staff subscribe to their own caseload's events; the admin sees every subscription, changes its own
        if role == "admin":
            return MANAGES
        return SCOPED if role in STAFF else FORBIDDEN
    if op.resource == "supervisions":
        if role == "admin":
            return MANAGES
        return SCOPED if role in STAFF and op.method == "get" else FORBIDDEN
    return None  # a resource this matrix does not know yet


# What of B's the admin legitimately sees where they manage: B's account, and in the audit trail the ids of
# the records it names (B's exercise among them: writing one is audited). Never clinical text.
MANAGES_ALLOWS = {
    "staff": {"account", "account_id"},
    "supervisions": {"account", "account_id"},
    "audit-events": {"account", "account_id", "clinical_id", "library"},
    "webhooks": {"account", "account_id"},
    "erasure-requests": {"account", "account_id", "clinical_id"},  # the erased client's id; counts, never contents
}
# What of B's every user of the library sees: B's exercise, and B's account id as its author.
LIBRARY_ALLOWS = {"library", "account_id"}


def allowed_to_see(kind: str | None, op: Operation) -> set[str]:
    if kind == MANAGES:
        return MANAGES_ALLOWS[op.resource]
    if kind == LIBRARY:
        return LIBRARY_ALLOWS
    return set()


# ---------------------------------------------------------------- the foreign object of each operation

# {id} in a path stands for this record of B's, unless a variant names another ({code}: an instrument).
# A second parameter of a path names something within that record (`PARAMETER_TARGETS`).
PATH_TARGETS = {
    "staff": "b_user",
    "supervisions": "b_supervision",
    "audit-events": "b_audit_event",
    "clients": "b_client",
    "couples": "b_couple",
    "cases": "b_case",
    "goals": "b_goal",
    "notes": "b_note",
    "sessions": "b_session",
    "session-ratings": "b_session_rating",
    "exercises": "b_exercise",
    "assignments": "b_assignment",
    "submissions": "b_submission",
    "instruments": "instrument_code",
    "event-types": "event_type_name",
    "assessments": "b_assessment",
    "assessment-schedules": "b_schedule",
    "alerts": "b_alert",
    "webhooks": "b_webhook",
    "consents": "b_consent",
    "consent-documents": "consent_document",
    "safety-screens": "b_screen",
    "conjoint-holds": "b_hold",
    "erasure-requests": "b_erasure_request",
    "releases": "b_release",
    "me": "b_device",  # me/devices/{id}/
    "calendar": "b_calendar_secret",  # calendar/{token}.ics: the address B's feed had before B replaced it
}
PARAMETER_TARGETS = {"{number}": "instrument_version_number"}  # instruments/{code}/versions/{number}/


def fill_path(path: str, target, ids: dict) -> str:
    """The path with its record's parameter replaced by `target`, and any other by its PARAMETER_TARGETS value."""
    return PATH_PARAMETER.sub(
        lambda m: str(ids[PARAMETER_TARGETS[m.group()]] if m.group() in PARAMETER_TARGETS else target), path
    )


# A list filter naming one of B's records (404 for a scoped caller: the record is not within reach) or B (or
# B's client) as a person (a plain filter: an empty list, the same as for anybody who does not exist).
# The reports' `?clinician=` names a caseload to report on, a record of sorts: B's is out of reach, 404.
RECORD_FILTERS = {
    "case": "b_case",
    "client": "b_client",
    "couple": "b_couple",
    "assignment": "b_assignment",
    "clinician": "b_user",
    "session": "b_session",
}
PERSON_FILTERS = {
    "author": "b_user",
    "actor": "b_user",
    "supervisee": "b_user",
    "supervisor": "b_supervisor",
    "assignee": "b_client",
}
ID_FILTERS = {**RECORD_FILTERS, "object": "b_note"}
# Record filters that are plain on one list: `?client=` on submissions matches the rows the caller already
# sees (a client's own and their partner's shared ones), so an id out of reach is an empty list, not 404;
# so does `?client=` on assessments (a client reads their own there, a clinician those of the cases they see).
PLAIN_FILTERS_ON = {(f"{API}submissions/", "client"), (f"{API}assessments/", "client")}


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None
    field: str | None = None  # a validation error must name this field
    empty: bool = False  # a list answer without rows
    nonempty: bool = False  # a list answer with rows (the caller's own: the endpoint really answers)
    media_type: str = "application/json"  # of a successful answer


@dataclass(frozen=True)
class Variant:
    name: str = ""
    path: str | None = None  # scene key for {id}; default PATH_TARGETS[resource]
    query: dict = dataclasses.field(default_factory=dict)  # parameter → scene key
    params: dict = dataclasses.field(default_factory=dict)  # parameter → value, sent as it is
    accept: str | None = None  # the Accept header
    body: Callable[[dict], dict] | None = None
    field: str | None = None  # a write naming a foreign record: the 400 names this field
    admin: Outcome | None = None  # the admin's answer where they manage (writes must say)
    creates: type | None = None  # a scoped caller's write that creates one row of its own
    owner: str = "primary_clinician_id"  # the created row's attribute naming the caller
    also_creates: tuple[type, ...] = ()  # rows that come with it (an exercise's first version)
    reach: bool = False  # names B's record where only the caller's own are looked up: 404, as for {id}
    shared: Outcome | None = None  # the answer on the shared library (writes must say)
    anyone: Outcome | None = None  # the answer of a public operation, token or not
    own: Outcome | None = None  # the answer on the caller's own record where it is not 200 (201 made, 204 gone)
    idempotency_key: str = SHARED_IDEMPOTENCY_KEY


def spec(*variants: Variant) -> tuple[Variant, ...]:
    """How an operation is walked: one request per variant; by default one, on B's record, with no body."""
    return variants or (Variant(),)


def _note_body(ids, **extra):
    return {
        "session_date": str(date.today() - timedelta(days=1)),
        "format": "soap",
        "sections": {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"},
        **extra,
    }


def _rating_body(**extra):
    return {"heard": 1, "goals": 1, "approach": 1, "overall": 1, **extra}


def _stored_session(case, starts, *, status="scheduled", location=""):
    """A joint session of the case with all its clients, stored as it is (no service, no audit event)."""
    session = Session.objects.create(
        case=case,
        clinician=case.clinician,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        modality="video",
        status=status,
        location=location,
    )
    session.attendees.set([member.client for member in case.couple.members.all()])
    return session


def _session_body(**extra):
    """A session tomorrow; the case (and who attends) as the variant names them."""
    starts = timezone.now().replace(microsecond=0) + timedelta(days=1)
    return {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=50)).isoformat(),
        "modality": "video",
        **extra,
    }


NEUTRAL_EXERCISE = {
    "title": "Evening walk",
    "summary": "A short walk together after dinner.",
    "steps": ["Walk for twenty minutes.", "Say one thing you noticed."],
    "domains": ["communication"],
    "audience": "couple",
    "suggested_frequency": "weekly",
    "estimated_minutes": 20,
    "response_fields": [{"key": "noticed", "label": "What did you notice?", "type": "text"}],
}
NEUTRAL_RESPONSES = {"closeness": 5, "went_well": "A quiet walk"}  # the catalog's weekly check-in
REFUSED_TOKEN = Outcome(400, "invalid", field="token")


def _assignment_body(ids, **extra):
    """A's own homework (A's case, A's couple, the catalog's weekly check-in), with one field replaced."""
    return {
        "case": ids["a_case"],
        "exercise": ids["catalog_exercise"],
        "assignees": [ids["a_client"], ids["a_partner"]],
        **extra,
    }


def _b_assignment_body(ids):
    """B's very request that assigned the check-in on B's couple case."""
    return {
        "case": ids["b_case"],
        "exercise": ids["catalog_exercise"],
        "assignees": [ids["b_client"], ids["b_partner"]],
        "mode": "joint",
        "goals": [ids["b_goal"]],
        "instructions": B_INSTRUCTIONS,
        "start_date": ids["homework_start"],
    }


def _b_submission_body(ids):
    """B's client's very submission."""
    return {
        "assignment": ids["b_assignment"],
        "completed_at": ids["completed_at"],
        "responses": B_RESPONSES,
        "shared_with_partner": True,
    }


def _assessment_body(ids, **extra):
    """A's own PHQ-9 of A's client on A's case, recorded by a clinician, with one field replaced."""
    return {
        "client": ids["a_client"],
        "case": ids["a_case"],
        "instrument": "phq9",
        "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0],
        "administered_at": ids["administered_at"],
        **extra,
    }


def _b_assessment_body(ids):
    """B's very request that recorded B's client's baseline PHQ-9 (item 9 above 0: the safety alert)."""
    return {
        "client": ids["b_client"],
        "case": ids["b_case"],
        "instrument": "phq9",
        "answers": B_PHQ9_BASELINE,
        "administered_at": ids["baseline_at"],
    }


def _self_report_body(ids, answers=None):
    """A CSI-4 self-report against B's client's schedule: by default B's client's very request."""
    return {
        "schedule": ids["b_schedule"],
        "instrument": "csi4",
        "answers": answers or B_CSI4_SELF_REPORT,
        "administered_at": ids["administered_at"],
    }


def _schedule_body(ids, **extra):
    """A's own fortnightly CSI-4 for A's client (who has the app) on A's case, with one field replaced."""
    return {"client": ids["a_client"], "case": ids["a_case"], "instrument": "csi4", "frequency": "fortnightly", **extra}


def _b_schedule_body(ids):
    """B's very request that scheduled B's client's CSI-4."""
    return {"client": ids["b_client"], "case": ids["b_case"], "instrument": "csi4", "frequency": "fortnightly"}


CSV = "text/csv"
JSON = "application/json"


# A practice's own consent document, as its admin would publish it.
NEUTRAL_DOCUMENT = {
    "kind": "recording",
    "title": "Recording of sessions",
    "version": "matrix-1",
    "text": "Sessions may be recorded for supervision.",
}

# A practice's own measure, as its admin would publish it: nothing in it is anyone's record.
NEUTRAL_MEASURE = {
    "code": "weekly_check_in",
    "name": "Weekly check-in",
    "prompt": "This week:",
    "citation": "Written by the practice.",
    "licence": "The practice's own.",
    "items": [
        {"key": "talked", "text": "We talked.", "options": [{"value": 0, "label": "No"}, {"value": 1, "label": "Yes"}]},
        {
            "key": "laughed",
            "text": "We laughed.",
            "options": [{"value": 0, "label": "No"}, {"value": 1, "label": "Yes"}],
        },
    ],
    "bands": [{"low": 0, "high": 1, "label": "apart"}, {"low": 2, "high": 2, "label": "together"}],
    "direction": "higher_is_better",
    "caseness": {"below": 1, "source": "The practice's judgement."},
}


def _phq9_version(**changes):
    """A new version of the PHQ-9, as an admin would send it."""
    return {**instruments.PHQ9.definition, **changes}


def _accept_body(token):
    return {"token": token, "email": "matrix.newcomer@example.test", "password": "violet-harbour-lantern-91"}


SPECS: dict[tuple[str, str], tuple[Variant, ...]] = {
    # practice administration
    ("GET", f"{API}staff/"): spec(),
    ("POST", f"{API}staff/"): spec(
        Variant(
            body=lambda ids: {"email": ids["b_email"], "display_name": "Second account"},
            admin=Outcome(400, "invalid", field="email"),
        )
    ),
    ("GET", f"{API}staff/{{id}}/"): spec(),
    # harmless for the admin, who may change B's account: another account's e-mail is refused
    ("PATCH", f"{API}staff/{{id}}/"): spec(
        Variant(body=lambda ids: {"email": ids["a_email"]}, admin=Outcome(400, "invalid", field="email"))
    ),
    ("POST", f"{API}staff/{{id}}/reassign-caseload/"): spec(
        Variant(body=lambda ids: {"to": ids["b_user"]}, admin=Outcome(400, "invalid", field="to"))
    ),
    # on B's past supervisor, who has no second factor to take: the admin's reset changes nothing (B's own second
    # factor stays untouched by every operation; tests/api/test_mfa.py resets one)
    ("POST", f"{API}staff/{{id}}/mfa-reset/"): spec(Variant(path="b_supervisor", admin=Outcome(200))),
    ("GET", f"{API}supervisions/"): spec(),
    ("POST", f"{API}supervisions/"): spec(
        Variant(
            body=lambda ids: {"supervisor": ids["a_user"], "supervisee": ids["b_user"]},
            admin=Outcome(400, "invalid", field="supervisor"),
        )
    ),
    ("GET", f"{API}supervisions/{{id}}/"): spec(),
    ("POST", f"{API}supervisions/{{id}}/end/"): spec(Variant(admin=Outcome(409, "supervision_ended"))),
    ("GET", f"{API}audit-events/"): spec(),
    ("GET", f"{API}audit-events/{{id}}/"): spec(),
    # erasures: the admin's; B's client still in care and B's former client, erased already, both refused
    ("GET", f"{API}erasure-requests/"): spec(),
    ("POST", f"{API}erasure-requests/"): spec(
        Variant(
            " [B's client, in care]",
            body=lambda ids: {"client": ids["b_client"], "reason": "Asked in writing"},
            admin=Outcome(409, "client_has_open_case"),
        ),
        Variant(
            " [B's former client, erased]",
            body=lambda ids: {"client": ids["b_former_client"], "reason": "Asked in writing"},
            admin=Outcome(409, "client_already_erased"),
        ),
    ),
    ("GET", f"{API}erasure-requests/{{id}}/"): spec(),
    # the caller, and health
    ("GET", f"{API}me/"): spec(),
    ("GET", f"{API}me/goals/"): spec(),
    # reminders: a client's own devices and preferences (B's client's device is 404, B's preferences unreachable)
    ("GET", f"{API}me/devices/"): spec(),
    ("POST", f"{API}me/devices/"): spec(
        Variant(body=lambda ids: {"platform": "ios", "token": "a-neutral-push-token"}, creates=Device, owner="user_id")
    ),
    ("DELETE", f"{API}me/devices/{{id}}/"): spec(Variant(path="b_device")),
    ("GET", f"{API}me/notification-preferences/"): spec(),
    # the right of access: the client's own record; as FHIR, a redirect to the client's own $everything
    ("GET", f"{API}me/export/"): spec(
        Variant(),
        Variant(" ?format=fhir", params={"format": "fhir"}, own=Outcome(303)),
        Variant(" [Accept: application/fhir+json]", accept="application/fhir+json", own=Outcome(303)),
    ),
    ("GET", f"{API}me/consents/"): spec(),
    ("POST", f"{API}me/consents/"): spec(
        Variant(body=lambda ids: {"kind": "electronic_communication"}, creates=Consent, owner="given_by_id")
    ),
    ("POST", f"{API}me/consents/{{id}}/revoke/"): spec(Variant(path="b_consent")),
    # consents: staff read those of the clients they reach; the clinician records and revokes them
    ("GET", f"{API}consents/"): spec(),
    ("POST", f"{API}consents/"): spec(
        Variant(body=lambda ids: {"client": ids["b_client"], "kind": "treatment", "method": "paper"}, field="client")
    ),
    ("GET", f"{API}consents/{{id}}/"): spec(),
    ("POST", f"{API}consents/{{id}}/revoke/"): spec(),
    # the documents: everyone reads them, the admin publishes them
    ("GET", f"{API}consent-documents/"): spec(),
    ("GET", f"{API}consent-documents/{{id}}/"): spec(),
    ("POST", f"{API}consent-documents/"): spec(
        Variant(body=lambda ids: NEUTRAL_DOCUMENT, admin=Outcome(201)),
        Variant(
            " [a version taken]",
            body=lambda ids: {**NEUTRAL_DOCUMENT, "kind": "treatment", "version": "1"},
            admin=Outcome(409, "consent_document_version_taken"),
        ),
    ),
    # couple safety: the screen and the hold are the clinician's and the supervisors' only
    ("GET", f"{API}safety-screens/"): spec(),
    ("POST", f"{API}safety-screens/"): spec(
        Variant(
            " [case]",
            body=lambda ids: {"case": ids["b_case"], "client": ids["a_client"], "result": "negative"},
            field="case",
        ),
        Variant(
            " [client]",
            body=lambda ids: {"case": ids["a_case"], "client": ids["b_client"], "result": "negative"},
            field="client",
        ),
    ),
    ("GET", f"{API}safety-screens/{{id}}/"): spec(),
    ("GET", f"{API}conjoint-holds/"): spec(),
    ("GET", f"{API}conjoint-holds/{{id}}/"): spec(),
    ("POST", f"{API}conjoint-holds/{{id}}/decide/"): spec(
        Variant(body=lambda ids: {"decision": "continue_jointly", "reason": "Safety plan agreed."})
    ),
    # releases of a case's record: the case's clinician makes them, staff of the case read them
    ("GET", f"{API}releases/"): spec(),
    ("POST", f"{API}releases/"): spec(
        Variant(
            body=lambda ids: {"case": ids["b_case"], "released_to": B_RELEASE_PARTY, "purpose": "Referral"},
            field="case",
        )
    ),
    ("GET", f"{API}releases/{{id}}/"): spec(),
    ("GET", f"{API}releases/{{id}}/document/"): spec(),
    ("PATCH", f"{API}me/notification-preferences/"): spec(Variant(body=lambda ids: {"time_zone": "Europe/Vienna"})),
    # the calendar feed: staff turn their own on and off; B's old addresses answer nobody, token or not
    ("GET", f"{API}me/calendar-feed/"): spec(),
    ("POST", f"{API}me/calendar-feed/"): spec(Variant(own=Outcome(201))),
    ("DELETE", f"{API}me/calendar-feed/"): spec(Variant(own=Outcome(204))),
    # the second factor: each staff member's own; B's (enrolled in the scene) is never reached, B's code opens nothing
    ("GET", f"{API}me/mfa/"): spec(),
    ("POST", f"{API}me/mfa/"): spec(Variant(own=Outcome(201))),
    ("POST", f"{API}me/mfa/confirm/"): spec(
        Variant(body=lambda ids: {"code": "123456"}, own=Outcome(409, "mfa_not_pending"))
    ),
    ("POST", f"{API}me/mfa/recovery-codes/"): spec(
        Variant(body=lambda ids: {"code": ids["b_recovery_code"]}, own=Outcome(409, "mfa_not_enrolled"))
    ),
    ("POST", f"{API}me/mfa/remove/"): spec(
        Variant(body=lambda ids: {"code": ids["b_recovery_code"]}, own=Outcome(409, "mfa_not_enrolled"))
    ),
    ("GET", f"{API}calendar/{{token}}.ics"): spec(
        Variant(" [B's replaced address]", anyone=Outcome(404, "not_found")),
        Variant(" [B's revoked address]", path="b_revoked_calendar_secret", anyone=Outcome(404, "not_found")),
    ),
    ("GET", f"{API}health/"): spec(),
    ("GET", f"{API}health/live/"): spec(),
    # clients and couples
    ("GET", f"{API}clients/"): spec(Variant(), Variant(" ?search=B's name", query={"search": "b_family_name"})),
    # names nothing of B's; creates a client of the caller's own
    ("POST", f"{API}clients/"): spec(
        Variant(body=lambda ids: {"given_name": "Neutral", "family_name": "Newcomer"}, creates=Client)
    ),
    ("GET", f"{API}clients/{{id}}/"): spec(),
    ("PATCH", f"{API}clients/{{id}}/"): spec(Variant(body=lambda ids: {"given_name": "Hijacked"})),
    ("GET", f"{API}couples/"): spec(),
    ("POST", f"{API}couples/"): spec(
        Variant(
            " [partners]",
            body=lambda ids: {"partners": [ids["a_free_client"], ids["b_client"]], "relationship_type": "dating"},
            field="partners.1",
        )
    ),
    ("GET", f"{API}couples/{{id}}/"): spec(),
    ("PATCH", f"{API}couples/{{id}}/"): spec(Variant(body=lambda ids: {"status": "ended"})),
    # cases
    ("GET", f"{API}cases/"): spec(),
    ("POST", f"{API}cases/"): spec(
        Variant(
            " [client]", body=lambda ids: {"subject_type": "individual", "client": ids["b_client"]}, field="client"
        ),
        Variant(" [couple]", body=lambda ids: {"subject_type": "couple", "couple": ids["b_couple"]}, field="couple"),
    ),
    ("GET", f"{API}cases/{{id}}/"): spec(),
    ("PATCH", f"{API}cases/{{id}}/"): spec(Variant(body=lambda ids: {"presenting_concerns": ["other"]})),
    ("POST", f"{API}cases/{{id}}/pause/"): spec(),
    ("POST", f"{API}cases/{{id}}/resume/"): spec(),
    ("POST", f"{API}cases/{{id}}/close/"): spec(Variant(body=lambda ids: {"closing_reason": "Moved away"})),
    ("POST", f"{API}cases/{{id}}/confidentiality/"): spec(
        Variant(body=lambda ids: {"policy": "separate_records", "reason": "Both asked for it."})
    ),
    # goals
    ("GET", f"{API}goals/"): spec(),
    ("POST", f"{API}goals/"): spec(
        Variant(
            " [case]",
            body=lambda ids: {"case": ids["b_case"], "domain": "communication", "title": "Weekly check-in"},
            field="case",
        )
    ),
    ("GET", f"{API}goals/{{id}}/"): spec(),
    ("PATCH", f"{API}goals/{{id}}/"): spec(Variant(body=lambda ids: {"title": "Hijacked"})),
    ("GET", f"{API}goals/{{id}}/gas-ratings/"): spec(),
    ("POST", f"{API}goals/{{id}}/gas-ratings/"): spec(Variant(body=lambda ids: {"score": 2})),
    ("POST", f"{API}goals/{{id}}/transition/"): spec(Variant(body=lambda ids: {"to": "on_hold"})),
    # notes
    ("GET", f"{API}notes/"): spec(),
    ("POST", f"{API}notes/"): spec(
        Variant(" [case]", body=lambda ids: _note_body(ids, case=ids["b_case"]), field="case"),
        Variant(
            " [goals_addressed]",
            body=lambda ids: _note_body(ids, case=ids["a_case"], goals_addressed=[ids["b_goal"]]),
            field="goals_addressed.0",
        ),
    ),
    ("GET", f"{API}notes/{{id}}/"): spec(),
    ("PATCH", f"{API}notes/{{id}}/"): spec(
        Variant(body=lambda ids: {"sections": {"plan": "Hijacked"}}),
        # A's own draft, naming B's goal
        Variant(
            " [own draft, goals_addressed]",
            path="a_draft_note",
            body=lambda ids: {"goals_addressed": [ids["b_goal"]]},
            field="goals_addressed.0",
        ),
    ),
    ("POST", f"{API}notes/{{id}}/addenda/"): spec(
        Variant(body=lambda ids: {"text": "A later thought"}),
        # B's very request (same path, body and Idempotency-Key): never B's stored answer replayed
        Variant(" [B's own request again]", body=lambda ids: {"text": B_ADDENDUM}),
    ),
    ("POST", f"{API}notes/{{id}}/cosign/"): spec(),
    ("POST", f"{API}notes/{{id}}/entered-in-error/"): spec(Variant(body=lambda ids: {"reason": "Wrong client"})),
    ("POST", f"{API}notes/{{id}}/sign/"): spec(),
    ("GET", f"{API}notes/awaiting-cosign/"): spec(),
    ("GET", f"{API}notes/missing/"): spec(),
    # sessions
    ("GET", f"{API}sessions/"): spec(),
    ("POST", f"{API}sessions/"): spec(
        Variant(" [case]", body=lambda ids: _session_body(case=ids["b_case"]), field="case"),
        Variant(
            " [attendees]",
            body=lambda ids: _session_body(case=ids["a_case"], attendees=[ids["b_client"]]),
            field="attendees.0",
        ),
        Variant(
            " [partner]",
            body=lambda ids: _session_body(case=ids["a_case"], kind="individual", partner=ids["b_partner"]),
            field="partner",
        ),
    ),
    ("GET", f"{API}sessions/{{id}}/"): spec(),
    ("PATCH", f"{API}sessions/{{id}}/"): spec(Variant(body=lambda ids: {"modality": "phone"})),
    ("POST", f"{API}sessions/{{id}}/transition/"): spec(
        Variant(body=lambda ids: {"to": "cancelled", "reason": "Hijacked"})
    ),
    ("GET", f"{API}session-ratings/"): spec(),
    ("GET", f"{API}session-ratings/{{id}}/"): spec(),
    ("GET", f"{API}cases/{{id}}/alliance/"): spec(),
    ("GET", f"{API}me/sessions/"): spec(),
    ("GET", f"{API}me/session-ratings/"): spec(),
    ("POST", f"{API}me/session-ratings/"): spec(
        Variant(" [session]", body=lambda ids: _rating_body(session=ids["b_session"]), field="session"),
    ),
    ("GET", f"{API}me/session-ratings/{{id}}/"): spec(Variant(path="b_session_rating")),
    ("PATCH", f"{API}me/session-ratings/{{id}}/"): spec(
        Variant(path="b_session_rating", body=lambda ids: {"overall": 0})
    ),
    # the exercise library: shared, no personal data; only an exercise's author changes it
    ("GET", f"{API}exercises/"): spec(),
    ("POST", f"{API}exercises/"): spec(
        Variant(
            body=lambda ids: NEUTRAL_EXERCISE,
            creates=Exercise,
            owner="author_id",
            also_creates=(ExerciseVersion,),
        )
    ),
    ("GET", f"{API}exercises/{{id}}/"): spec(),
    ("PATCH", f"{API}exercises/{{id}}/"): spec(
        Variant(body=lambda ids: {"title": "Hijacked"}, shared=Outcome(403, "not_exercise_author")),
        Variant(
            " [catalog exercise]",
            path="catalog_exercise",
            body=lambda ids: {"title": "Hijacked"},
            shared=Outcome(403, "not_exercise_author"),
        ),
    ),
    ("GET", f"{API}exercises/{{id}}/versions/"): spec(),
    # homework assignments
    ("GET", f"{API}assignments/"): spec(),
    ("POST", f"{API}assignments/"): spec(
        Variant(" [case]", body=lambda ids: _assignment_body(ids, case=ids["b_case"]), field="case"),
        Variant(
            " [assignees]",
            body=lambda ids: _assignment_body(ids, assignees=[ids["a_client"], ids["b_client"]]),
            field="assignees.1",
        ),
        Variant(" [goals]", body=lambda ids: _assignment_body(ids, goals=[ids["b_goal"]]), field="goals.0"),
        # B's very request (same body and Idempotency-Key): never B's stored answer replayed
        Variant(" [B's own request again]", body=_b_assignment_body, field="case", idempotency_key=B_ASSIGNMENT_KEY),
    ),
    ("GET", f"{API}assignments/{{id}}/"): spec(),
    ("PATCH", f"{API}assignments/{{id}}/"): spec(
        Variant(body=lambda ids: {"instructions": "Hijacked"}),
        # A's own homework, naming B's goal
        Variant(
            " [own assignment, goals]",
            path="a_assignment",
            body=lambda ids: {"goals": [ids["b_goal"]]},
            field="goals.0",
        ),
    ),
    ("POST", f"{API}assignments/{{id}}/cancel/"): spec(),
    ("GET", f"{API}me/assignments/"): spec(),
    # submissions: "POST by an assignee only (others: 404)"
    ("GET", f"{API}submissions/"): spec(),
    ("POST", f"{API}submissions/"): spec(
        Variant(
            " [assignment]",
            body=lambda ids: {
                "assignment": ids["b_assignment"],
                "completed_at": ids["completed_at"],
                "responses": NEUTRAL_RESPONSES,
            },
            reach=True,
        ),
        # B's client's very request (same body, same key): never their stored answer replayed
        Variant(" [B's client's own request again]", body=_b_submission_body, reach=True),
    ),
    ("GET", f"{API}submissions/{{id}}/"): spec(
        Variant(), Variant(" [the revision it amended]", path="b_first_submission")
    ),
    ("POST", f"{API}submissions/{{id}}/amend/"): spec(
        Variant(body=lambda ids: {"responses": NEUTRAL_RESPONSES}),
        Variant(
            " [B's client's own request again]",
            path="b_first_submission",
            body=lambda ids: {"responses": B_AMENDED_RESPONSES},
            idempotency_key=B_AMEND_KEY,
        ),
    ),
    ("POST", f"{API}submissions/{{id}}/review/"): spec(Variant(body=lambda ids: {"feedback": "Well done"})),
    # the client app's login
    ("POST", f"{API}clients/{{id}}/invite/"): spec(
        Variant(), Variant(" [B's client with an open invitation]", path="b_partner")
    ),
    # the standard measures: reference data, no record of anyone's
    ("GET", f"{API}instruments/"): spec(),
    ("GET", f"{API}instruments/{{code}}/"): spec(),
    ("GET", f"{API}instruments/{{code}}/versions/"): spec(),
    ("GET", f"{API}instruments/{{code}}/versions/{{number}}/"): spec(),
    # the admin publishes measures: a practice's own, a new version of one (the PHQ-9's, here)
    ("POST", f"{API}instruments/"): spec(
        Variant(body=lambda ids: NEUTRAL_MEASURE, admin=Outcome(201)),
        Variant(
            " [a built-in measure's code]",
            body=lambda ids: {**NEUTRAL_MEASURE, "code": "phq9"},
            admin=Outcome(409, "instrument_code_taken"),
        ),
        Variant(
            " [bands with a gap]",
            body=lambda ids: {**NEUTRAL_MEASURE, "bands": [NEUTRAL_MEASURE["bands"][1]]},
            admin=Outcome(400, "invalid", field="bands"),
        ),
    ),
    ("POST", f"{API}instruments/{{code}}/versions/"): spec(
        Variant(
            body=lambda ids: _phq9_version(prompt="Over the last two weeks, how often have you been bothered by:"),
            admin=Outcome(201),
        ),
        Variant(" [unchanged]", body=lambda ids: _phq9_version(), admin=Outcome(409, "definition_unchanged")),
        Variant(
            " [another measure's code]",
            body=lambda ids: _phq9_version(code="gad7"),
            admin=Outcome(400, "invalid", field="code"),
        ),
    ),
    ("GET", f"{API}event-types/"): spec(),
    ("GET", f"{API}event-types/{{name}}/"): spec(),
    # assessments: staff record them on the cases they hold; a client self-reports against their schedule
    ("GET", f"{API}assessments/"): spec(),
    ("POST", f"{API}assessments/"): spec(
        Variant(" [case]", body=lambda ids: _assessment_body(ids, case=ids["b_case"]), field="case"),
        Variant(" [client]", body=lambda ids: _assessment_body(ids, client=ids["b_client"]), field="client"),
        Variant(" [schedule]", body=lambda ids: _self_report_body(ids, answers=[2, 2, 2, 2]), field="schedule"),
        # B's very request (same body and Idempotency-Key): never B's stored answer replayed
        Variant(" [B's own request again]", body=_b_assessment_body, field="case", idempotency_key=B_ASSESSMENT_KEY),
        # B's client's very self-report (same body and key)
        Variant(
            " [B's client's own request again]",
            body=_self_report_body,
            field="schedule",
            idempotency_key=B_SELF_REPORT_KEY,
        ),
    ),
    ("GET", f"{API}assessments/{{id}}/"): spec(Variant(), Variant(" [B's client's self-report]", path="b_self_report")),
    ("GET", f"{API}assessment-schedules/"): spec(),
    ("POST", f"{API}assessment-schedules/"): spec(
        Variant(" [case]", body=lambda ids: _schedule_body(ids, case=ids["b_case"]), field="case"),
        Variant(" [client]", body=lambda ids: _schedule_body(ids, client=ids["b_client"]), field="client"),
        Variant(" [B's own request again]", body=_b_schedule_body, field="case", idempotency_key=B_SCHEDULE_KEY),
    ),
    ("GET", f"{API}assessment-schedules/{{id}}/"): spec(),
    ("POST", f"{API}assessment-schedules/{{id}}/cancel/"): spec(),
    ("GET", f"{API}me/assessments-due/"): spec(),
    # safety alerts: B's client's PHQ-9 raised one, unacknowledged
    ("GET", f"{API}alerts/"): spec(),
    ("GET", f"{API}alerts/{{id}}/"): spec(),
    ("POST", f"{API}alerts/{{id}}/acknowledge/"): spec(),
    # a case's outcomes, as JSON and as a chart (never a PNG of B's case)
    ("GET", f"{API}cases/{{id}}/outcomes/"): spec(),
    ("GET", f"{API}cases/{{id}}/outcomes/chart.png"): spec(
        Variant(),
        Variant(" [Accept: image/png]", accept="image/png"),
        Variant(" [Accept: application/octet-stream]", accept="application/octet-stream"),
    ),
    # reports: the caller's rows only, as JSON or CSV
    ("GET", f"{API}reports/caseload/"): spec(Variant()),
    ("GET", f"{API}reports/caseload.csv"): spec(
        Variant(),
        Variant(" [Accept: text/csv]", accept=CSV),
        Variant(" ?clinician=B's", query={"clinician": "b_user"}, reach=True),
    ),
    ("GET", f"{API}reports/outcomes/"): spec(
        Variant(),
        Variant(" ?domain=B's goal's", params={"domain": GoalDomain.TRUST_REBUILDING}),
        Variant(" ?clinician=A", query={"clinician": "a_user"}),
    ),
    ("GET", f"{API}reports/outcomes.csv"): spec(
        Variant(),
        Variant(" [Accept: text/csv]", accept=CSV),
        Variant(" ?domain=B's goal's", params={"domain": GoalDomain.TRUST_REBUILDING}),
        Variant(" ?clinician=B's", query={"clinician": "b_user"}, reach=True),
    ),
    # webhooks: a staff member's own; the admin reads B's, and changes only its own
    ("GET", f"{API}webhooks/"): spec(),
    ("POST", f"{API}webhooks/"): spec(
        Variant(
            body=lambda ids: {"url": A_WEBHOOK_URL, "event_types": ["case.opened"]},
            creates=WebhookSubscription,
            owner="owner_id",
            admin=Outcome(201),
        )
    ),
    ("GET", f"{API}webhooks/{{id}}/"): spec(),
    ("PATCH", f"{API}webhooks/{{id}}/"): spec(
        Variant(body=lambda ids: {"description": "Hijacked"}, admin=Outcome(403, "not_allowed"))
    ),
    ("POST", f"{API}webhooks/{{id}}/rotate-secret/"): spec(Variant(admin=Outcome(403, "not_allowed"))),
    ("POST", f"{API}webhooks/{{id}}/ping/"): spec(Variant(admin=Outcome(403, "not_allowed"))),
    ("GET", f"{API}webhooks/{{id}}/deliveries/"): spec(),
    ("POST", f"{API}webhooks/{{id}}/redeliver/"): spec(
        Variant(body=lambda ids: {"delivery": ids["b_delivery"]}, admin=Outcome(403, "not_allowed")),
    ),
    # public: a refused token says nothing about whose it was, or whether it ever existed
    ("POST", f"{API}invitations/accept/"): spec(
        Variant(" [unknown token]", body=lambda ids: _accept_body("matrix-no-such-token"), anyone=REFUSED_TOKEN),
        Variant(" [B's client's used token]", body=lambda ids: _accept_body(ids["b_used_token"]), anyone=REFUSED_TOKEN),
        Variant(" [B's replaced token]", body=lambda ids: _accept_body(ids["b_replaced_token"]), anyone=REFUSED_TOKEN),
    ),
}


def variants_of(op: Operation) -> list[Variant | None]:
    """The spec's variants plus one per uuid filter of the contract; None where the matrix has no mapping."""
    found = SPECS.get(op.key)
    if found is None:
        return [None]
    variants = list(found)
    for name in op.uuid_filters:
        target = ID_FILTERS.get(name) or PERSON_FILTERS.get(name)
        reach = name in RECORD_FILTERS and (op.path, name) not in PLAIN_FILTERS_ON
        variants.append(Variant(f" ?{name}=B's", query={name: target}, reach=reach) if target else None)
    return variants


def _variant_id(variant):
    return " [NO MAPPING]" if variant is None else variant.name


MATRIX = [
    pytest.param(role, op, variant, id=f"{role}: {op}{_variant_id(variant)}")
    for op in OPERATIONS
    for variant in variants_of(op)
    for role in ROLES
]
BASE = [pytest.param(op, variants_of(op)[0], id=str(op)) for op in OPERATIONS]

# ---------------------------------------------------------------- the scene

B_SCREEN_NOTES = "Seen alone: describes fear during arguments at home."
B_CLIENT = {
    "given_name": "Zephyrine",
    "family_name": "Quillfeather",
    "preferred_name": "Zephie Q",
    "email": "zephyrine.quillfeather@example.test",
    "phone": "+44 20 7946 0991",
}
B_PARTNER = {
    "given_name": "Ignatius",
    "family_name": "Marrowbone",
    "preferred_name": "Natty Marrow",
    "email": "ignatius.marrowbone@example.test",
    "phone": "+44 20 7946 0552",
}
B_FORMER_CLIENT = {"given_name": "Octavian", "family_name": "Brindlecombe", "email": "octavian.b@example.test"}
B_GOAL = {
    "title": "Rebuild trust after the Lisbon letters",
    "description": "Talk through the Lisbon letters in a weekly undistracted hour",
}
B_GAS = {
    "-2": "Halvorsen minus two: letters never mentioned",
    "-1": "Halvorsen minus one: letters mentioned in anger",
    "0": "Halvorsen zero: one calm talk a month",
    "1": "Halvorsen plus one: weekly calm talk",
    "2": "Halvorsen plus two: talks without prompting",
}
B_SECTIONS = {
    "subjective": "Partners recalled the Tromsoe cabin weekend",
    "objective": "Tearful when the Tromsoe cabin came up",
    "assessment": "Trust repair under way around the cabin promise",
    "plan": "Repeat the Tromsoe appreciation ritual",
}
B_ADDENDUM = "Addendum about the Kerguelen phone call"
B_ACCOUNT = {"email": "bartholomew.quincewright@example.test", "display_name": "Bartholomew Quincewright"}
B_PAST_SUPERVISOR = {"email": "seraphina.oakenvale@example.test", "display_name": "Seraphina Oakenvale"}
B_EXERCISE = {
    "title": "The Wintergreen lantern evening",
    "summary": "An evening by the Wintergreen lantern, telling each other one old story",
    "steps": ["Light the Wintergreen lantern and put the phones in the Kittiwake drawer"],
    "domains": ["emotional_intimacy"],
    "audience": "couple",
    "suggested_frequency": "once",
    "estimated_minutes": 40,
    "response_fields": [
        {"key": "story", "label": "Which Wintergreen lantern story did you hear?", "type": "long_text"},
    ],
}
B_EXERCISE_SUMMARY = "Revised: a Wintergreen lantern evening with two old stories each"
B_INSTRUCTIONS = "Do the check-in after the Valparaiso ferry on Sunday evenings"
# the catalog's weekly check-in: closeness (scale), went_well, felt_distant, wish_for_next_week
B_RESPONSES = {
    "closeness": 7,
    "went_well": "We spoke about the Oberammergau clock without shouting",
    "felt_distant": "Distant when the Oberammergau clock stopped at midnight",
    "wish_for_next_week": "More Oberammergau breakfasts",
}
B_AMENDED_RESPONSES = {"closeness": 8, "went_well": "Corrected: the Oberammergau clock talk lasted an hour"}
B_FEEDBACK = "Lovely work on the Oberammergau clock talk; keep the Valparaiso ferry slot"
B_CLIENT_LOGIN = {"email": "zq.phone-app@example.test", "password": "orchid-tramline-skyward-47"}
A_RESPONSES = {"did_it": True, "presence": 4, "distractions": ["Tiredness"]}  # the catalog's phone-free time
# B's clients' measures: baseline eight weeks ago, follow-up last week, and B's client's CSI-4 self-report now.
B_PHQ9_BASELINE = [3, 3, 2, 3, 2, 2, 3, 2, 2]  # 22, severe; item 9 answered 2: a safety alert
B_SERIES = {
    # (client, instrument): (baseline answers, follow-up answers); b_client's PHQ-9 baseline goes through the API
    ("b_client", "phq9"): (None, [1, 1, 0, 1, 1, 0, 1, 0, 0]),
    ("b_client", "csi4"): ([2, 2, 2, 1], None),
    ("b_partner", "phq9"): ([2, 2, 2, 2, 1, 1, 1, 1, 0], [2, 2, 2, 2, 2, 2, 2, 1, 0]),
    ("b_partner", "csi4"): ([1, 2, 2, 2], [3, 3, 3, 3]),
    ("b_partner", "gad7"): ([3, 3, 3, 2, 2, 2, 2], [1, 1, 1, 0, 0, 0, 0]),
}
B_CSI4_SELF_REPORT = [4, 4, 4, 4]
A_PHQ9 = [1, 1, 1, 1, 1, 1, 1, 1, 1]  # A's client's item 9 above 0 too: A has an alert of their own


@dataclass
class Scene:
    users: dict[str, User]  # role → the caller
    call_as: Callable
    ids: dict[str, str]  # scene key → the id (or value) a request sends
    foreign: dict[str, tuple[str, str]]  # label → (category, value) of B's that must not leak
    b_rows: list[tuple[type, object]]
    b_user: User
    b_clients: list
    b_couple: Couple
    b_case: Case
    b_goal: TreatmentGoal
    b_note: ProgressNote
    b_exercise: Exercise
    b_assignment: HomeworkAssignment
    b_assessments: list
    own: dict = dataclasses.field(default_factory=dict)
    callers: dict = dataclasses.field(default_factory=dict)

    def caller(self, role):
        """The role's API client, with a token holding every scope."""
        if role not in self.callers:
            self.callers[role] = self.call_as(self.users[role])
        return self.callers[role]

    def twin_ids(self) -> dict[str, str]:
        """The same ids, with every one of B's replaced by one that never existed."""
        ids = dict(self.ids)
        for key in ids:
            if key == "b_audit_event":
                ids[key] = str(AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() + 10**6)
            elif key == "b_email":
                ids[key] = f"nobody-{uuid.uuid4().hex[:12]}@example.test"
            elif key == "b_family_name":
                ids[key] = f"Nobody{uuid.uuid4().hex[:10]}"
            elif key.startswith("b_"):
                ids[key] = str(uuid.uuid4())
        return ids


@functools.cache
def _catalog_entries() -> dict[str, dict]:
    return {entry["slug"]: entry for entry in catalog_entries()}


def catalog_exercises(*slugs) -> dict[str, Exercise]:
    """These exercises of the curated catalog, published as `load_exercises` publishes them (the whole
    catalog would double the time of every test here)."""
    published = {}
    for slug in slugs:
        content = {k: v for k, v in _catalog_entries()[slug].items() if k != "slug"}
        published[slug], _ = exercise_publish(slug=slug, content=content)
    return published


@pytest.fixture(autouse=True)
def _a_webhook_receiver_may_be_named(settings):
    # The walk subscribes the callers' own receiver, on this machine: allowed as for development.
    settings.WEBHOOK_ALLOWED_TARGETS = ["127.0.0.1:9"]


@pytest.fixture(scope="module")
def _scene_built(django_db_setup, django_db_blocker):
    """The scene, built once per module (and xdist worker) in a transaction that is never committed. Each test runs
    in a savepoint of it (pytest-django's `db` nests its atomic block), rolled back when the test ends, so every test
    starts from the scene as built, at a fraction of the cost of building it for each of the matrix's tests."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(WEBHOOK_ALLOWED_TARGETS=["127.0.0.1:9"]):
                cache.clear()  # throttle counts (in the database cache) of a test committed before
                token_cache.clear()
                if Instrument.objects.filter(code__in=BUILTIN_INSTRUMENTS, current__isnull=False).count() < len(
                    BUILTIN_INSTRUMENTS
                ):
                    builtin_publish()  # as tests/conftest.py's _builtin_measures, after a transactional test's flush
                # the users tests/conftest.py's fixtures make for one test
                supervisor = UserFactory(role=Role.SUPERVISOR)
                clinician = UserFactory(role=Role.CLINICIAN)
                SupervisionFactory(supervisor=supervisor, supervisee=clinician)
                built = build_scene(
                    call_as=lambda user, scopes=ALL_SCOPES: Caller(user, issue_token(user, scopes)),
                    clinician=clinician,
                    supervisor=supervisor,
                    other_clinician=UserFactory(role=Role.CLINICIAN),
                    admin_user=UserFactory(role=Role.ADMIN, email="admin@example.test"),
                    client_user=UserFactory(role=Role.CLIENT),
                )
        except BaseException as error:
            transaction.set_rollback(True)
            outer.__exit__(type(error), error, error.__traceback__)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def scene(_scene_built, db):
    """The scene as built (a copy: what a test does to its objects stays with that test, as its rows do)."""
    return copy.deepcopy(_scene_built)


def build_scene(call_as, clinician, supervisor, other_clinician, admin_user, client_user):
    now = timezone.now()
    catalog = catalog_exercises("phone-free-time", "weekly-relationship-check-in")
    # A (supervised by S) and their couple; one partner uses the app as `client_user`.
    c_client = ClientFactory(primary_clinician=clinician, user=client_user)
    a_partner = ClientFactory(primary_clinician=clinician)
    a_couple = CoupleFactory(partners=[c_client, a_partner])
    a_case = CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=a_couple)
    a_goal = GoalFactory(case=a_case, gas_levels=GAS_LEVELS)
    a_draft = NoteFactory(case=a_case)
    NoteFactory(case=a_case, status=NoteStatus.SIGNED, signed_at=now, cosign_required=True)
    a_free_client = ClientFactory(primary_clinician=clinician)
    # A's couple has homework, and A's client has done it once; A wrote an exercise of their own.
    phone_free = catalog["phone-free-time"]
    a_assignment = assignment_create(
        actor=clinician, case=a_case, exercise=phone_free, assignees=[c_client, a_partner], goals=[a_goal]
    )
    submission_create(actor=client_user, assignment=a_assignment, completed_at=now, responses=A_RESPONSES)
    a_exercise = exercise_create(actor=clinician, **NEUTRAL_EXERCISE)
    # A's outcomes: a PHQ-9 of A's client (with an alert), and a CSI-4 A's client is asked to self-report.
    assessment_record(
        actor=clinician,
        client=c_client,
        case=a_case,
        instrument="phq9",
        answers=A_PHQ9,
        administered_at=now - timedelta(days=3),
    )
    schedule_create(actor=clinician, client=c_client, case=a_case, instrument="csi4", frequency="once")

    # B: supervised in the past by another supervisor, now on their own, with a full caseload.
    b = other_clinician
    User.objects.filter(pk=b.pk).update(**B_ACCOUNT)
    b.refresh_from_db()
    past_supervisor = UserFactory(role=Role.SUPERVISOR, **B_PAST_SUPERVISOR)
    b_supervision = SupervisionFactory(
        supervisor=past_supervisor, supervisee=b, started_on=date(2024, 1, 8), ended_on=date(2025, 6, 30)
    )
    b_client = ClientFactory(primary_clinician=b, date_of_birth=date(1987, 3, 9), **B_CLIENT)
    b_partner = ClientFactory(primary_clinician=b, date_of_birth=date(1985, 11, 2), **B_PARTNER)
    b_couple = CoupleFactory(
        partners=[b_client, b_partner], relationship_type=RelationshipType.PARTNERED, together_since=date(2011, 5, 14)
    )
    b_case = CaseFactory(
        clinician=b, subject_type=SubjectType.COUPLE, couple=b_couple, presenting_concerns=["infidelity", "trust"]
    )
    b_goal = GoalFactory(case=b_case, domain=GoalDomain.TRUST_REBUILDING, gas_levels=B_GAS, **B_GOAL)
    b_rating = GASRatingFactory(goal=b_goal, score=1, rated_by=b, rated_on=timezone.localdate() - timedelta(days=2))
    b_note = NoteFactory(case=b_case, status=NoteStatus.SIGNED, signed_at=now, sections=B_SECTIONS)
    b_note.goals_addressed.add(b_goal)
    # B adds the addendum through the API, with the key every POST of the walk will reuse.
    response = call_as(b).post(
        f"{API}notes/{b_note.id}/addenda/", {"text": B_ADDENDUM}, HTTP_IDEMPOTENCY_KEY=SHARED_IDEMPOTENCY_KEY
    )
    assert response.status_code == 201, response.content
    b_addendum = NoteAddendum.objects.get(note=b_note)
    b_event = AuditEvent.objects.get(actor=b, action="addendum")
    b_note.refresh_from_db()

    # B's homework: an exercise of B's own (two versions); the catalog's check-in given jointly to both
    # partners; an invitation one partner accepted (their login), and two for the other partner (the first
    # replaced, the second open); the partner's shared submission and its correction (through the API, with
    # Idempotency-Keys the walk reuses), and B's review of the correction.
    b_api = call_as(b)
    b_exercise = exercise_create(actor=b, **B_EXERCISE)
    b_first_summary = b_exercise.current.summary
    b_exercise = exercise_revise(actor=b, exercise=b_exercise, expected_version=None, summary=B_EXERCISE_SUMMARY)
    check_in = catalog["weekly-relationship-check-in"]
    homework = {
        "b_case": str(b_case.id),
        "b_client": str(b_client.id),
        "b_partner": str(b_partner.id),
        "b_goal": str(b_goal.id),
        "catalog_exercise": str(check_in.id),
        "homework_start": str(timezone.localdate() - timedelta(days=7)),
        "completed_at": (now - timedelta(hours=1)).isoformat(),
    }
    response = b_api.post(
        f"{API}assignments/", _b_assignment_body(homework), format="json", HTTP_IDEMPOTENCY_KEY=B_ASSIGNMENT_KEY
    )
    assert response.status_code == 201, response.content
    b_assignment = HomeworkAssignment.objects.get(pk=response.json()["id"])
    homework["b_assignment"] = str(b_assignment.id)

    _, used_token = invitation_create(actor=b, client=b_client)
    b_client_user = invitation_accept(token=used_token, **B_CLIENT_LOGIN)
    _, replaced_token = invitation_create(actor=b, client=b_partner)
    _, open_token = invitation_create(actor=b, client=b_partner)

    b_client_api = call_as(b_client_user)
    response = b_client_api.post(
        f"{API}submissions/",
        _b_submission_body(homework),
        format="json",
        HTTP_IDEMPOTENCY_KEY=SHARED_IDEMPOTENCY_KEY,
    )
    assert response.status_code == 201, response.content
    b_first_submission = response.json()["id"]
    response = b_client_api.post(
        f"{API}submissions/{b_first_submission}/amend/",
        {"responses": B_AMENDED_RESPONSES},
        format="json",
        HTTP_IDEMPOTENCY_KEY=B_AMEND_KEY,
    )
    assert response.status_code == 201, response.content
    b_submission = response.json()["id"]
    submission_review(actor=b, submission=HomeworkSubmission.objects.get(pk=b_submission), feedback=B_FEEDBACK)
    b_clients = [b_client, b_partner]
    b_invitations = list(ClientInvitation.objects.filter(client__in=b_clients).values_list("pk", flat=True))
    assert len(b_invitations) == 3

    # B's outcomes: B records B's client's baseline PHQ-9 through the API (item 9 above 0: B's safety alert),
    # and the other baselines and follow-ups of both clients; schedules a fortnightly CSI-4 for B's client
    # (who has the app), who self-reports it; and rates B's goal once more, earlier.
    homework["administered_at"] = earlier_today(hours=1).isoformat()  # B's client's schedule starts today
    homework["baseline_at"] = (now - timedelta(weeks=8)).isoformat()
    response = b_api.post(
        f"{API}assessments/", _b_assessment_body(homework), format="json", HTTP_IDEMPOTENCY_KEY=B_ASSESSMENT_KEY
    )
    assert response.status_code == 201, response.content
    b_assessment = response.json()["id"]
    for (who, instrument), (baseline, follow_up) in B_SERIES.items():
        for answers, at in ((baseline, now - timedelta(weeks=8)), (follow_up, now - timedelta(weeks=1))):
            if answers:
                assessment_record(
                    actor=b,
                    client=b_client if who == "b_client" else b_partner,
                    case=b_case,
                    instrument=instrument,
                    answers=answers,
                    administered_at=at,
                )
    response = b_api.post(
        f"{API}assessment-schedules/", _b_schedule_body(homework), format="json", HTTP_IDEMPOTENCY_KEY=B_SCHEDULE_KEY
    )
    assert response.status_code == 201, response.content
    homework["b_schedule"] = response.json()["id"]
    response = b_client_api.post(
        f"{API}assessments/",
        _self_report_body(homework),
        format="json",
        HTTP_IDEMPOTENCY_KEY=B_SELF_REPORT_KEY,
    )
    assert response.status_code == 201, response.content
    b_self_report = response.json()["id"]
    b_alert = SafetyAlert.objects.get(case=b_case)
    assert str(b_alert.assessment_id) == b_assessment
    assert b_alert.acknowledged_at is None
    b_assessments = list(Assessment.objects.filter(case=b_case).order_by("administered_at", "created_at"))
    assert len(b_assessments) == 10
    assert {str(a.pk) for a in b_assessments if a.is_baseline} >= {b_assessment}
    b_earlier_rating = GASRatingFactory(
        goal=b_goal, score=-1, rated_by=b, rated_on=timezone.localdate() - timedelta(weeks=6)
    )
    # B's client's phone, registered through the API, and their reminder preferences; A's client's own phone.
    response = b_client_api.post(f"{API}me/devices/", {"platform": "android", "token": B_DEVICE_TOKEN}, format="json")
    assert response.status_code == 201, response.content
    b_device = Device.objects.get(pk=response.json()["id"])
    b_preferences = NotificationPreferences.objects.create(user=b_client_user, time_zone=B_TIME_ZONE)
    Device.objects.create(  # not through the service: its audit event would crowd the audit-events page
        user=client_user, platform="ios", token="a-client-own-phone", token_digest=token_digest("a-client-own-phone")
    )
    # B's session with the couple next week, somewhere only B's clients should know of.
    # Sessions (not through the services: their audit events would crowd the audit-events page). B's next week's,
    # somewhere only B's clients should know of; B's last week's, attended and rated by B's client. A's couple's:
    # next week's (the app lists it), and one attended five days ago with no note yet (notes/missing/), which A's
    # client rated.
    b_session = _stored_session(b_case, now + timedelta(days=7), location=B_SESSION_LOCATION)
    b_past_session = _stored_session(b_case, now - timedelta(days=6), status="attended")
    b_session_rating = SessionRating.objects.create(
        session=b_past_session, client=b_client, heard=9, goals=8, approach=9, overall=9
    )
    # B's calendar feed: turned off once, replaced once, live now (stored as it is: no audit events to crowd).
    b_feeds = [
        CalendarFeed.objects.create(user=b, token_hash=token_digest(secret), revoked_at=revoked)
        for secret, revoked in (
            (B_REVOKED_CALENDAR_SECRET, now - timedelta(days=2)),
            (B_REPLACED_CALENDAR_SECRET, now - timedelta(days=1)),
            (B_CALENDAR_SECRET, None),
        )
    ]
    # B's second factor (stored as it is: no audit events to crowd).
    b_app = TOTPDevice.objects.create(user=b, name="authenticator app", key=B_TOTP_KEY, confirmed=True)
    b_recovery = RecoveryCodeSet.objects.create(user=b, name="recovery codes")
    RecoveryCode.objects.create(device=b_recovery, digest=recovery_code_digest(B_RECOVERY_CODE))
    _stored_session(a_case, now + timedelta(days=7, hours=2))
    a_past_session = _stored_session(a_case, now - timedelta(days=5, hours=2), status="attended")
    SessionRating.objects.create(session=a_past_session, client=c_client, heard=6, goals=6, approach=6, overall=6)
    # B's client's consent to electronic communication; A's client's, revoked (so that the walk may give it anew).
    b_consent = _consent(client=b_client, kind="electronic_communication", given_by=b_client_user)
    _consent(client=c_client, kind="electronic_communication", given_by=client_user, revoked_at=now)
    # B's screen of B's client, positive: B's case is held.
    b_screen = SafetyScreen.objects.create(
        case=b_case, client=b_client, result="positive", notes=B_SCREEN_NOTES, recorded_by=b
    )
    b_hold = ConjointHold.objects.create(case=b_case, screen=b_screen)
    # B's release of B's case's record to a named party (stored as it is: its audit events would crowd the page).
    b_release = RecordRelease.objects.create(
        case=b_case,
        released_to=B_RELEASE_PARTY,
        purpose="Referral",
        policy="limited_secrets",
        released_by=b,
        document=json.dumps({"released_to": B_RELEASE_PARTY, "notes": B_SECTIONS}),
        digest="0" * 64,
        contents={"case": [str(b_case.pk)], "note": [str(b_note.pk)]},
    )
    RecordRelease.objects.create(  # A's own, to list
        case=a_case,
        released_to="A's referral",
        purpose="Referral",
        policy="limited_secrets",
        released_by=clinician,
        document="{}",
        digest="0" * 64,
        contents={"case": [str(a_case.pk)]},
    )
    # A's own, to list: a screen of A's client, and the hold it placed, decided (joint work on A's case goes on).
    a_screen = SafetyScreen.objects.create(case=a_case, client=c_client, result="positive", recorded_by=clinician)
    ConjointHold.objects.create(
        case=a_case, screen=a_screen, status="continue_jointly", reason="Safety plan agreed.", decided_at=now
    )
    # B's former client, whose case B closed, erased by an admin of the practice (not the walk's): stored as it is
    # (the service's audit event would crowd the audit-events page).
    b_former_client = ClientFactory(primary_clinician=b, **B_FORMER_CLIENT)
    CaseFactory(clinician=b, client=b_former_client, status="closed", closed_on=date(2025, 3, 1), closing_reason="Done")
    b_erasure = ErasureRequest.objects.create(
        client=b_former_client,
        requested_by=UserFactory(role=Role.ADMIN),
        reason="B's former client asked in writing",
        retained_until=date(2032, 3, 1),
        outcome=[],
    )
    # B's webhook subscription and a delivery of an event about B's case; A's own, to list.
    b_webhook = WebhookSubscription.objects.create(
        owner=b, url=B_WEBHOOK_URL, event_types=["case.opened"], secrets=[{"secret": "whsec_b", "expires_at": None}]
    )
    b_case_event = Event.objects.filter(case_id=b_case.pk).first()
    b_delivery = WebhookDelivery.objects.create(subscription=b_webhook, event=b_case_event, type=b_case_event.type)
    a_webhook, _ = (
        WebhookSubscription.objects.create(owner=owner, url=A_WEBHOOK_URL, event_types=["case.opened"], secrets=[])
        for owner in (clinician, supervisor)
    )

    users = {"clinician": clinician, "supervisor": supervisor, "admin": admin_user, "client": client_user}
    ids = {
        "b_user": b.id,
        "b_email": b.email,
        "b_family_name": B_CLIENT["family_name"],
        "b_supervisor": past_supervisor.id,
        "b_supervision": b_supervision.id,
        "b_client": b_client.id,
        "b_partner": b_partner.id,
        "b_couple": b_couple.id,
        "b_case": b_case.id,
        "b_goal": b_goal.id,
        "b_rating": b_rating.id,
        "b_note": b_note.id,
        "b_addendum": b_addendum.id,
        "b_audit_event": b_event.id,
        **homework,
        "b_exercise": b_exercise.id,
        "b_submission": b_submission,
        "b_first_submission": b_first_submission,
        "b_used_token": used_token,
        "b_replaced_token": replaced_token,
        "a_user": clinician.id,
        "a_email": clinician.email,
        "a_case": a_case.id,
        "a_goal": a_goal.id,
        "a_draft_note": a_draft.id,
        "a_free_client": a_free_client.id,
        "a_client": c_client.id,
        "a_partner": a_partner.id,
        "a_assignment": a_assignment.id,
        "a_exercise": a_exercise.id,
        "instrument_code": "phq9",
        "instrument_version_number": 1,
        "event_type_name": "case.opened",
        "b_assessment": b_assessment,
        "b_self_report": b_self_report,
        "b_alert": b_alert.id,
        "b_webhook": b_webhook.id,
        "b_delivery": b_delivery.id,
        "a_webhook": a_webhook.id,
        "b_device": b_device.id,
        "b_calendar_secret": B_REPLACED_CALENDAR_SECRET,
        "b_revoked_calendar_secret": B_REVOKED_CALENDAR_SECRET,
        "b_consent": b_consent.id,
        "b_screen": b_screen.id,
        "b_hold": b_hold.id,
        "b_release": b_release.id,
        "consent_document": ConsentDocument.objects.get(kind="treatment", version="1").id,
        "b_session": b_session.id,
        "b_past_session": b_past_session.id,
        "b_session_rating": b_session_rating.id,
        "b_recovery_code": B_RECOVERY_CODE,
        "b_former_client": b_former_client.id,
        "b_erasure_request": b_erasure.id,
    }
    foreign = {
        "B's account id": ("account_id", b.id),
        "B's e-mail": ("account", b.email),
        "B's name": ("account", b.display_name),
        "B's past supervisor id": ("account", past_supervisor.id),
        "B's past supervisor e-mail": ("account", past_supervisor.email),
        "B's past supervisor name": ("account", past_supervisor.display_name),
        "B's supervision id": ("account", b_supervision.id),
        **{
            f"B's {label} id": ("clinical_id", obj.id)
            for label, obj in [
                ("client", b_client),
                ("partner", b_partner),
                ("couple", b_couple),
                ("case", b_case),
                ("goal", b_goal),
                ("GAS rating", b_rating),
                ("note", b_note),
                ("addendum", b_addendum),
                ("assignment", b_assignment),
            ]
        },
        "B's first submission id": ("clinical_id", b_first_submission),
        "B's corrected submission id": ("clinical_id", b_submission),
        **{f"B's client {k}": ("clinical_text", v) for k, v in B_CLIENT.items()},
        **{f"B's partner {k}": ("clinical_text", v) for k, v in B_PARTNER.items()},
        **{f"B's goal {k}": ("clinical_text", v) for k, v in B_GOAL.items()},
        **{f"B's GAS level {k}": ("clinical_text", v) for k, v in B_GAS.items()},
        **{f"B's note {k}": ("clinical_text", v) for k, v in B_SECTIONS.items()},
        "B's addendum": ("clinical_text", B_ADDENDUM),
        "B's homework instructions": ("clinical_text", B_INSTRUCTIONS),
        **{f"B's client's answer {k}": ("clinical_text", v) for k, v in B_RESPONSES.items() if isinstance(v, str)},
        **{
            f"B's client's corrected answer {k}": ("clinical_text", v)
            for k, v in B_AMENDED_RESPONSES.items()
            if isinstance(v, str)
        },
        "B's review": ("clinical_text", B_FEEDBACK),
        "B's client's login id": ("account", b_client_user.id),
        "B's client's login e-mail": ("account", b_client_user.email),
        "B's used invitation token": ("secret", used_token),
        "B's replaced invitation token": ("secret", replaced_token),
        "B's open invitation token": ("secret", open_token),
        **{
            f"B's {a.instrument} assessment of {'client' if a.client_id == b_client.id else 'partner'} "
            f"at {a.administered_at:%Y-%m-%d %H:%M} id": ("clinical_id", a.id)
            for a in b_assessments
        },
        "B's self-report schedule id": ("clinical_id", homework["b_schedule"]),
        "B's safety alert id": ("clinical_id", b_alert.id),
        "B's earlier GAS rating id": ("clinical_id", b_earlier_rating.id),
        # the library is shared: these are not secret, but nothing outside exercises/ may show them
        "B's exercise id": ("library", b_exercise.id),
        "B's exercise title": ("library", B_EXERCISE["title"]),
        "B's exercise first summary": ("library", b_first_summary),
        "B's exercise summary": ("library", B_EXERCISE_SUMMARY),
        "B's exercise step": ("library", B_EXERCISE["steps"][0]),
        "B's exercise question": ("library", B_EXERCISE["response_fields"][0]["label"]),
        # a webhook is practice administration: the admin sees every subscription, nobody else B's
        "B's webhook id": ("account", b_webhook.id),
        "B's webhook URL": ("account", B_WEBHOOK_URL),
        "B's webhook delivery id": ("account", b_delivery.id),
        # a client's phones and preferences are theirs alone
        "B's client's device id": ("account", b_device.id),
        "B's client's push token": ("secret", B_DEVICE_TOKEN),
        "B's client's time zone": ("account", B_TIME_ZONE),
        "B's client's consent id": ("clinical_id", b_consent.id),
        "B's safety screen id": ("clinical_id", b_screen.id),
        "B's safety screen notes": ("clinical_text", B_SCREEN_NOTES),
        "B's conjoint hold id": ("clinical_id", b_hold.id),
        "B's release id": ("clinical_id", b_release.id),
        "B's release party": ("clinical_text", B_RELEASE_PARTY),
        "B's session id": ("clinical_id", b_session.id),
        "B's session location": ("clinical_text", B_SESSION_LOCATION),
        "B's attended session id": ("clinical_id", b_past_session.id),
        "B's client's session rating id": ("clinical_id", b_session_rating.id),
        "B's erased former client id": ("clinical_id", b_former_client.id),
        "B's former client's erasure id": ("clinical_id", b_erasure.id),
        "B's calendar feed secret": ("secret", B_CALENDAR_SECRET),
        **{f"B's calendar feed id {n}": ("account", feed.id) for n, feed in enumerate(b_feeds)},
        "B's authenticator key": ("secret", B_TOTP_KEY),
        "B's authenticator secret": ("secret", B_TOTP_SECRET),
    }
    b_rows = [
        (User, b.pk),
        (User, past_supervisor.pk),
        (Supervision, b_supervision.pk),
        (Client, b_client.pk),
        (Client, b_partner.pk),
        (Couple, b_couple.pk),
        (Case, b_case.pk),
        (TreatmentGoal, b_goal.pk),
        (GoalAttainmentRating, b_rating.pk),
        (ProgressNote, b_note.pk),
        (NoteAddendum, b_addendum.pk),
        (User, b_client_user.pk),
        (Exercise, b_exercise.pk),
        (Exercise, check_in.pk),  # the catalog exercise the walk tries to change
        (HomeworkAssignment, b_assignment.pk),
        (HomeworkSubmission, b_first_submission),
        (HomeworkSubmission, b_submission),
        *((ClientInvitation, pk) for pk in b_invitations),
        *((Assessment, a.pk) for a in b_assessments),
        (AssessmentSchedule, homework["b_schedule"]),
        (SafetyAlert, b_alert.pk),
        (GoalAttainmentRating, b_earlier_rating.pk),
        (WebhookSubscription, b_webhook.pk),
        (WebhookDelivery, b_delivery.pk),
        (Device, b_device.pk),
        (NotificationPreferences, b_preferences.pk),
        (Consent, b_consent.pk),
        (SafetyScreen, b_screen.pk),
        (ConjointHold, b_hold.pk),
        (RecordRelease, b_release.pk),
        (Session, b_session.pk),
        (Session, b_past_session.pk),
        (SessionRating, b_session_rating.pk),
        (Client, b_former_client.pk),
        (ErasureRequest, b_erasure.pk),
        *((CalendarFeed, feed.pk) for feed in b_feeds),
        (TOTPDevice, b_app.pk),  # its back-off count and last code too: nobody's wrong code counts against B
        (RecoveryCodeSet, b_recovery.pk),
    ]
    return Scene(
        users=users,
        call_as=call_as,
        ids={k: str(v) for k, v in ids.items()},
        foreign={k: (category, str(v)) for k, (category, v) in foreign.items()},
        b_rows=b_rows,
        b_user=b,
        b_clients=b_clients,
        b_couple=b_couple,
        b_case=b_case,
        b_goal=b_goal,
        b_note=b_note,
        b_exercise=b_exercise,
        b_assignment=b_assignment,
        b_assessments=b_assessments,
        own={
            "a_case": a_case,
            "a_goal": a_goal,
            "a_draft_note": a_draft,
            "a_client": c_client,
            "a_partner": a_partner,
            "a_assignment": a_assignment,
            "a_exercise": a_exercise,
            "phone_free": phone_free,
            "a_webhook": a_webhook,
        },
    )


# ---------------------------------------------------------------- calling and checking


@dataclass
class Sent:
    method: str
    path: str
    url: str
    body: dict | None

    @property
    def text(self) -> str:
        """What the caller sent besides the path: values echoed from here are not a leak."""
        return (self.url.removeprefix(self.path) + json.dumps(self.body or {})).lower()


def send(caller, op: Operation, variant: Variant, ids: dict) -> tuple[Sent, object]:
    path = op.path
    if op.targets:
        path = fill_path(path, ids[variant.path or PATH_TARGETS[op.resource]], ids)
    query = {**{p: ids[key] for p, key in variant.query.items()}, **variant.params}
    url = path + ("?" + urlencode(query) if query else "")
    headers = {}
    if variant.accept:
        headers["HTTP_ACCEPT"] = variant.accept
    body = None
    if op.method in ("post", "patch", "put"):
        body = variant.body(ids) if variant.body else {}
    if op.method == "patch":
        headers["HTTP_IF_MATCH"] = "*"
    if op.method == "post":
        headers["HTTP_IDEMPOTENCY_KEY"] = variant.idempotency_key
    if body is None:
        response = getattr(caller, op.method)(url, **headers)
    else:
        response = getattr(caller, op.method)(url, body, format="json", **headers)
    return Sent(op.method, path, url, body), response


CURSOR = re.compile(r"cursor=([A-Za-z0-9_\-%]+)")


def visible_text(response, sent: Sent) -> str:
    """Everything the answer shows: body (without `instance` when it is the requested path), headers, and
    the decoded cursors of pagination links."""
    text = response.content.decode(errors="replace")  # a PNG too: any text in it
    if response.get("Content-Type", "").startswith(PROBLEM):
        problem = json.loads(text)
        if problem.get("instance") == sent.path:
            del problem["instance"]
        text = json.dumps(problem)
    for raw in CURSOR.findall(text):
        raw = unquote(raw)
        try:
            text += base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            text += raw
    text += json.dumps({k: v for k, v in response.items() if k != "X-Request-ID"})
    return text.lower()


def leaks(scene: Scene, response, sent: Sent, allowed: set[str]) -> list[str]:
    shown = visible_text(response, sent)
    echoed = sent.text
    return [
        f"{label} ({value!r}) appears in the answer"
        for label, (category, value) in scene.foreign.items()
        if category not in allowed and value.lower() in shown and value.lower() not in echoed
    ]


def is_json(response) -> bool:
    return response.get("Content-Type", "").startswith(("application/json", PROBLEM))


def check_outcome(response, outcome: Outcome) -> list[str]:
    content = response.content.decode(errors="replace")[:600]
    if response.status_code != outcome.status:
        return [f"status {response.status_code}, expected {outcome.status}: {content}"]
    failures = []
    body = response.json() if response.content and is_json(response) else None
    if (
        outcome.status < 400
        and response.content
        and not response.get("Content-Type", "").startswith(outcome.media_type)
    ):
        return [f"Content-Type {response.get('Content-Type')}, expected {outcome.media_type}: {content}"]
    if outcome.status >= 400:
        if not response.get("Content-Type", "").startswith(PROBLEM):
            return [f"not problem+json: {response.get('Content-Type')}: {content}"]
        if outcome.code and body.get("code") != outcome.code:
            failures.append(f"code {body.get('code')!r}, expected {outcome.code!r}: {content}")
        if outcome.field and outcome.field not in [e.get("field") for e in body.get("errors", [])]:
            failures.append(f"the error does not name the field {outcome.field!r}: {content}")
    if outcome.empty and body["results"] != []:
        failures.append(f"expected no rows: {content}")
    if outcome.nonempty and not body["results"]:
        failures.append("expected the caller's own rows, got none (is the endpoint answering at all?)")
    return failures


def normalised(response, sent: Sent, ids: dict) -> tuple[int, object]:
    """Status, media type and body with the request's path and ids replaced by placeholders, to compare two
    answers."""
    if is_json(response):
        body = response.json() if response.content else None
        if isinstance(body, dict) and body.get("instance") == sent.path:
            body["instance"] = "<the requested path>"
        text = json.dumps(body)
    else:
        text = response.content.decode(errors="replace")
    for key, value in sorted(ids.items(), key=lambda kv: -len(kv[1])):
        if len(value) >= 6:
            text = text.replace(value, f"<{key}>")
    return response.status_code, response.get("Content-Type"), json.loads(text) if is_json(response) else text


def _figure(row: dict, *path: str):
    """A figure of a report row, from JSON (nested) or CSV (flattened, as text)."""
    if "_".join(path) in row:
        value = row["_".join(path)]
        return int(value) if value not in ("", None) else None
    for key in path:
        row = row[key]
    return row


def report_failures(scene: Scene, role: str, sent: Sent, response) -> list[str]:
    """A report answers the caller's rows (their own; a supervisor's also their supervisee A's), or the one
    `?clinician=` names, and a total row that sums those rows, nothing else."""
    if is_json(response):
        body = response.json()
        rows, total = body["rows"], body.get("total")
    else:
        parsed = list(csv.DictReader(io.StringIO(response.content.decode())))
        rows = [row for row in parsed if row["clinician"]]
        total = next((row for row in parsed if not row["clinician"]), None)
    expected_rows = {str(scene.users[role].id)} | ({scene.ids["a_user"]} if role == "supervisor" else set())
    asked = parse_qs(urlsplit(sent.url).query).get("clinician")
    if asked:
        expected_rows &= set(asked)
    failures = []
    shown = [str(row["clinician"]) for row in rows]
    if sorted(shown) != sorted(expected_rows):
        failures.append(f"report rows for {shown}, expected {sorted(expected_rows)}")
    if total is not None:
        for path in [("cases",), *((("instruments", code, "n_clients")) for code in ("phq9", "gad7", "csi4"))]:
            if _figure(total, *path) != sum(_figure(row, *path) for row in rows):
                failures.append(f"the total's {'.'.join(path)} is not the sum of the rows': {total}")
    return failures


def b_state(scene: Scene) -> dict:
    """B's rows as stored, and how many rows hang on them."""
    state = {f"{model.__name__} {pk}": model.objects.filter(pk=pk).values().first() for model, pk in scene.b_rows}
    goal_links = ProgressNote.goals_addressed.through.objects
    state["counts"] = {
        "couple memberships of B's clients": CoupleMember.objects.filter(client__in=scene.b_clients).count(),
        "cases on B's clients or couple": Case.objects.filter(
            Q(client__in=scene.b_clients) | Q(couple=scene.b_couple)
        ).count(),
        "cases B holds": Case.objects.filter(clinician=scene.b_user).count(),
        "clients of B": Client.objects.filter(primary_clinician=scene.b_user).count(),
        "goals on B's case": TreatmentGoal.objects.filter(case=scene.b_case).count(),
        "ratings of B's goal": GoalAttainmentRating.objects.filter(goal=scene.b_goal).count(),
        "notes on B's case": ProgressNote.objects.filter(case=scene.b_case).count(),
        "notes addressing B's goal": goal_links.filter(treatmentgoal=scene.b_goal).count(),
        "addenda of B's note": NoteAddendum.objects.filter(note=scene.b_note).count(),
        "supervisions of B": Supervision.objects.filter(
            Q(supervisee=scene.b_user) | Q(supervisor=scene.b_user)
        ).count(),
        "homework on B's case": HomeworkAssignment.objects.filter(case=scene.b_case).count(),
        "homework given to B's clients": HomeworkAssignment.assignees.through.objects.filter(
            client__in=scene.b_clients
        ).count(),
        "homework linked to B's goal": HomeworkAssignment.goals.through.objects.filter(
            treatmentgoal=scene.b_goal
        ).count(),
        "submissions on B's case": HomeworkSubmission.objects.filter(assignment__case=scene.b_case).count(),
        "submissions by B's clients": HomeworkSubmission.objects.filter(client__in=scene.b_clients).count(),
        "invitations of B's clients": ClientInvitation.objects.filter(client__in=scene.b_clients).count(),
        "versions of B's exercise": ExerciseVersion.objects.filter(exercise=scene.b_exercise).count(),
        "versions of the catalog exercise": ExerciseVersion.objects.filter(
            exercise_id=scene.ids["catalog_exercise"]
        ).count(),
        "assessments on B's case": Assessment.objects.filter(case=scene.b_case).count(),
        "assessments of B's clients": Assessment.objects.filter(client__in=scene.b_clients).count(),
        "schedules on B's case": AssessmentSchedule.objects.filter(case=scene.b_case).count(),
        "schedules of B's clients": AssessmentSchedule.objects.filter(client__in=scene.b_clients).count(),
        "alerts on B's case": SafetyAlert.objects.filter(case=scene.b_case).count(),
        "alerts about B's clients": SafetyAlert.objects.filter(client__in=scene.b_clients).count(),
        "sessions on B's case": Session.objects.filter(case=scene.b_case).count(),
        "sessions B holds": Session.objects.filter(clinician=scene.b_user).count(),
        "sessions B's clients attend": Session.attendees.through.objects.filter(client__in=scene.b_clients).count(),
        "ratings by B's clients": SessionRating.objects.filter(client__in=scene.b_clients).count(),
        "calendar feeds of B": CalendarFeed.objects.filter(user=scene.b_user).count(),
        "authenticator apps of B": TOTPDevice.objects.filter(user=scene.b_user).count(),
        "recovery codes of B": RecoveryCode.objects.filter(device__user=scene.b_user).count(),
    }
    return state


TOTALS = (User, Supervision, Client, Couple, CoupleMember, Case, TreatmentGoal, GoalAttainmentRating)
TOTALS += (ProgressNote, NoteAddendum, HomeworkAssignment, HomeworkSubmission, ClientInvitation)
TOTALS += (Exercise, ExerciseVersion, Assessment, AssessmentSchedule, SafetyAlert)
TOTALS += (WebhookSubscription, WebhookDelivery, Device, Consent, SafetyScreen, ConjointHold, ErasureRequest)


def totals() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TOTALS}


def audit_naming_b(scene: Scene) -> list[str]:
    b_ids = [
        uuid.UUID(v)
        for label, (category, v) in scene.foreign.items()
        if label.endswith(" id") and category != "library"  # the shared library is not audited
    ]
    events = AuditEvent.objects.filter(actor__in=scene.users.values(), object_ids__overlap=b_ids)
    return [f"audit event {e.action} {e.object_type} by {e.actor_role} names B's record {e.object_ids}" for e in events]


def expected(role: str, op: Operation, variant: Variant) -> Outcome | None:
    kind = access(role, op)
    if kind is None:
        return None
    if kind == FORBIDDEN:
        return Outcome(403, "role_not_allowed")
    if kind == OWN and variant.own:
        return variant.own
    if kind in (PUBLIC, SELF, OWN):
        return Outcome(200)
    if kind == OPEN:
        return variant.anyone
    if kind == MANAGES:
        if variant.admin:
            return variant.admin
        assert op.method == "get", f"{op}: say what the admin's write on B's object answers (Variant.admin)"
        return Outcome(200, nonempty=op.lists_rows)
    if kind == LIBRARY:
        if op.method == "get":
            return Outcome(200, nonempty=op.lists_rows)
        if variant.creates:
            return Outcome(201)
        assert variant.shared, f"{op}: say what a write on B's shared exercise answers (Variant.shared)"
        return variant.shared
    if kind == REFERENCE:
        assert op.method == "get", f"{op}: say who may change reference data"
        return Outcome(200, nonempty=op.lists_rows)
    if kind == PUBLISHES:
        assert variant.admin, f"{op}: say what the admin's publication answers (Variant.admin)"
        return variant.admin
    if kind == REPORT:
        if variant.reach:
            return Outcome(404, "not_found")
        return Outcome(200, media_type=CSV if op.path.endswith(".csv") else JSON)
    if variant.field:
        return Outcome(400, "invalid", field=variant.field)
    if op.targets or variant.reach:
        return Outcome(404, "not_found")
    if variant.query:
        return Outcome(200, empty=True)
    if op.method == "get":
        return Outcome(200, nonempty=op.lists_rows)
    if variant.creates:
        return Outcome(201)
    return None


# ---------------------------------------------------------------- the tests


def test_every_contract_operation_has_a_foreign_object():
    """A new endpoint must say which of B's records it is walked with; a removed one must leave SPECS."""
    in_contract = {op.key for op in OPERATIONS}
    assert len(in_contract) > 40
    assert in_contract - set(SPECS) == set(), "operations without a mapping in SPECS"
    assert set(SPECS) - in_contract == set(), "SPECS names operations the contract no longer has"
    unmapped_filters = {
        (str(op), name) for op in OPERATIONS for name in op.uuid_filters if name not in {**ID_FILTERS, **PERSON_FILTERS}
    }
    assert unmapped_filters == set()
    assert {(op.path, name) for op in OPERATIONS for name in op.uuid_filters} >= PLAIN_FILTERS_ON
    assert {op.resource for op in OPERATIONS if op.targets} <= set(PATH_TARGETS)
    assert all(access(role, op) for op in OPERATIONS for role in ROLES)


def test_the_contract_names_the_scopes_every_operation_needs():
    """Only the public operations and me/ take any token; every other operation declares the scopes it needs
    (a generated client asks for its tokens from this), and the scope test below holds the code to it."""
    vague = [
        f"{op}: {[list(alternative) for alternative in op.security]}"
        for op in OPERATIONS
        if not op.public and access("clinician", op) != SELF and (not op.security or not all(op.security))
    ]
    assert vague == []


def test_uuid_filters_take_ids():
    """A query parameter the contract types as a uuid takes ids. One that takes other words (an enum of
    'true'/'false') misleads every generated client, and this matrix, which walks uuid filters with B's ids."""
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    wrong = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in op.get("parameters", []):
                if parameter.get("in") == "query" and parameter["schema"].get("format") == "uuid":
                    for value in parameter["schema"].get("enum", []):
                        try:
                            uuid.UUID(str(value))
                        except ValueError:
                            wrong.append(f"{method.upper()} {path} ?{parameter['name']}={value}: not a uuid")
    assert wrong == []


@pytest.mark.parametrize(("role", "op", "variant"), MATRIX)
def test_no_role_reaches_another_clinicians_records(scene, role, op, variant):
    assert variant is not None, f"{op}: no foreign object or filter mapping; add it to SPECS / *_FILTERS"
    outcome = expected(role, op, variant)
    assert outcome is not None, f"{role} on {op}{variant.name}: no expected answer; extend access() or the spec"
    kind = access(role, op)
    before, counts_before = b_state(scene), totals()
    caller = scene.caller(role)

    sent, response = send(caller, op, variant, scene.ids)

    failures = check_outcome(response, outcome)
    failures += leaks(scene, response, sent, allowed_to_see(kind, op))
    # the record the path names: its last parameter (an action's path goes on with the action's name)
    named = [i for i, part in enumerate(op.path.split("/")) if "{" in part]
    asked = sent.path.split("/")[named[-1]] if named else ""
    if (
        kind in (MANAGES, LIBRARY, REFERENCE)
        and response.status_code == 200
        and op.targets
        and not op.is_list
        and str(next(response.json()[key] for key in ("id", "number", "code", "name") if key in response.json()))
        != asked
    ):
        failures.append("the answer is not the record asked for")
    if kind == REPORT and response.status_code == 200:
        failures += report_failures(scene, role, sent, response)
    if kind in (SCOPED, FORBIDDEN, OPEN, REPORT):
        # Existence never leaks: the same request with ids that never existed answers exactly the same.
        twin = scene.twin_ids()
        twin_sent, twin_response = send(caller, op, variant, twin)
        if normalised(response, sent, scene.ids) != normalised(twin_response, twin_sent, twin):
            failures.append(
                f"answers differ for B's ids and unknown ids: {response.status_code} {response.content[:300]} "
                f"vs {twin_response.status_code} {twin_response.content[:300]}"
            )

    if b_state(scene) != before:
        failures.append("B's records changed")
    counts_after = totals()
    if outcome.status == response.status_code == 201 and variant.creates:
        created = variant.creates.objects.get(pk=response.json()["id"])
        for model in (variant.creates, *variant.also_creates):
            counts_before[model.__name__] += 1
        if getattr(created, variant.owner) != scene.users[role].pk:
            failures.append(f"the created record's {variant.owner} is not the caller")
    if counts_after != counts_before:
        failures.append(f"rows were created: {counts_before} → {counts_after}")
    failures += audit_naming_b(scene)
    assert not failures, "\n".join([f"{role}: {sent.method.upper()} {sent.url}", *failures])


@pytest.mark.parametrize(("op", "variant"), BASE)
def test_without_a_token_every_operation_is_401(scene, anonymous, op, variant):
    assert variant is not None, f"{op}: no mapping in SPECS"
    before, counts_before = b_state(scene), totals()

    sent, response = send(anonymous, op, variant, scene.ids)

    if op.public:
        failures = check_outcome(response, variant.anyone or Outcome(200))
    else:
        failures = check_outcome(response, Outcome(401, "not_authenticated"))
        if response.status_code == 401 and not response.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append("no WWW-Authenticate: Bearer challenge")
    failures += leaks(scene, response, sent, set())
    if b_state(scene) != before or totals() != counts_before:
        failures.append("something changed")
    assert not failures, "\n".join([sent.url, *failures])


def lacking_scopes(op: Operation) -> list[list[str]]:
    """Tokens that cannot call `op`: `reports` alone (on the reports, every scope but `reports`), and every
    scope there is except those the contract says the operation takes: the missing scope is what refuses it,
    not the lack of all the others."""
    tokens = [[scope for scope in SCOPES if scope != "reports"] if op.resource == "reports" else ["reports"]]
    declared = {scope for alternative in op.security if alternative for scope in alternative}
    if declared:
        tokens.append([scope for scope in SCOPES if scope not in declared])
    return [token for i, token in enumerate(tokens) if token not in tokens[:i]]


@pytest.mark.parametrize(("op", "variant"), BASE)
def test_a_token_without_the_operations_scope_is_403_for_every_role(scene, call_as, op, variant):
    assert variant is not None, f"{op}: no mapping in SPECS"
    before, counts_before = b_state(scene), totals()
    failures = []
    for token, role in [(token, role) for token in lacking_scopes(op) for role in ROLES]:
        caller = call_as(scene.users[role], token)
        sent, response = send(caller, op, variant, scene.ids)
        if op.public or access(role, op) == SELF:
            found = check_outcome(response, variant.anyone or Outcome(200))
        else:
            found = check_outcome(response, Outcome(403, "insufficient_scope"))
            if not found:
                declared = sorted(sorted(scopes) for scopes in op.security)
                required = sorted(sorted(scopes) for scopes in response.json().get("required_scopes", []))
                if required != declared:
                    found.append(f"required_scopes {required}, the contract declares {declared}")
            if op.accepts_scopes(set(token)):
                found.append(f"the contract says a token with {token} may call it")
        found += leaks(scene, response, sent, set())
        failures += [f"{role} with {token}: {message}" for message in found]
    if b_state(scene) != before or totals() != counts_before:
        failures.append("something changed")
    failures += audit_naming_b(scene)
    assert not failures, "\n".join([str(op), *failures])


# ---------------------------------------------------------------- lists: B's rows stay out however many rows


def _signed_note(scene, **kwargs):
    note = NoteFactory(
        case=scene.own["a_case"], status=NoteStatus.SIGNED, signed_at=timezone.now(), cosign_required=True, **kwargs
    )
    note.goals_addressed.add(scene.own["a_goal"])
    AddendumFactory(note=note)
    return note


def _draft_note(scene):
    note = NoteFactory(case=scene.own["a_case"])
    note.goals_addressed.add(scene.own["a_goal"])
    return note


def _exercise_version(scene):
    title = f"Evening walk {uuid.uuid4().hex[:8]}"
    exercise_revise(
        actor=scene.users["clinician"],
        exercise=scene.own["a_exercise"],
        expected_version=None,
        title=title,
    )


def _assignment(scene):
    assignment_create(
        actor=scene.users["clinician"],
        case=scene.own["a_case"],
        exercise=scene.own["phone_free"],
        assignees=[scene.own["a_client"], scene.own["a_partner"]],
    )


def _submission(scene):
    submission_create(
        actor=scene.users["client"],
        assignment=scene.own["a_assignment"],
        completed_at=timezone.now(),
        responses=A_RESPONSES,
    )


def _assessment(scene, answers=(0, 0, 1, 0, 0, 1, 0, 0, 0)):
    assessment_record(
        actor=scene.users["clinician"],
        client=scene.own["a_client"],
        case=scene.own["a_case"],
        instrument="phq9",
        answers=list(answers),
        administered_at=timezone.now() - timedelta(minutes=1),
    )


def _schedule(scene):
    schedule_create(
        actor=scene.users["clinician"],
        client=scene.own["a_client"],
        case=scene.own["a_case"],
        instrument="gad7",
        frequency="weekly",
    )


def _session(s, attended_days_ago=None):
    """One more of A's sessions with A's couple, after the ones before it; or one attended days ago, after the
    ones before it (its note missing)."""
    clinician = s.users["clinician"]
    if attended_days_ago is None:
        latest = Session.objects.filter(clinician=clinician).order_by("-ends_at").first()
        starts = max(latest.ends_at if latest else timezone.now(), timezone.now()) + timedelta(hours=1)
    else:
        past = Session.objects.filter(clinician=clinician, starts_at__lt=timezone.now()).order_by("-ends_at")
        earliest = timezone.now() - timedelta(days=attended_days_ago)
        starts = max(past.first().ends_at if past.exists() else earliest, earliest) + timedelta(minutes=1)
    ends = starts + timedelta(minutes=50)
    session = session_create(actor=clinician, case=s.own["a_case"], starts_at=starts, ends_at=ends, modality="phone")
    if attended_days_ago is not None:
        session = session_transition(actor=clinician, session=session, to="attended")
    return session


def _phq9_released_again(s):
    """One more version of the PHQ-9 (its wording touched), as the definitions file would publish it."""
    instrument_publish(definition=_phq9_version(name=f"PHQ-9 ({uuid.uuid4().hex[:8]})"), builtin=True)


def _release_consents(s, party):
    """Both of A's partners' consent to release their record to `party`."""
    for client in (s.own["a_client"], s.own["a_partner"]):
        _consent(
            client=client,
            kind="release_of_records",
            released_to=party,
            release_purpose="Referral",
            given_by=s.users["clinician"],
        )


def _release(s):
    """One more release of A's case, as A makes one."""
    party = f"Party {uuid.uuid4()}"
    _release_consents(s, party)
    return release_create(
        actor=s.users["clinician"],
        case=s.own["a_case"],
        released_to=party,
        purpose="Referral",
        render=render_release,
    )


def _rated(s):
    """A's client's rating of one more attended session."""
    session = _session(s, attended_days_ago=5)
    return rating_submit(actor=s.users["client"], session=session, heard=6, goals=6, approach=6, overall=6)


# list → (role that reads it, its {id} if any, how to add one row that role sees)
LIST_GROWTH = {
    f"{API}staff/": (
        "admin",
        None,
        lambda s: SupervisionFactory(supervisor=s.users["supervisor"], supervisee=UserFactory(role=Role.CLINICIAN)),
    ),
    f"{API}supervisions/": ("admin", None, lambda s: SupervisionFactory()),
    f"{API}erasure-requests/": (
        "admin",
        None,
        lambda s: erasure_request_create(
            actor=s.users["admin"], client=ClientFactory(primary_clinician=s.users["clinician"]), reason="Asked"
        ),
    ),
    f"{API}audit-events/": (
        "admin",
        None,
        lambda s: audit_append(
            actor=s.users["clinician"], action="read", object_type="goal", object_ids=[uuid.uuid4()]
        ),
    ),
    f"{API}me/goals/": ("client", None, lambda s: GoalFactory(case=s.own["a_case"])),
    f"{API}clients/": ("clinician", None, lambda s: ClientFactory(primary_clinician=s.users["clinician"])),
    f"{API}couples/": ("clinician", None, lambda s: CoupleFactory(partners__clinician=s.users["clinician"])),
    f"{API}cases/": ("supervisor", None, lambda s: CaseFactory(clinician=s.users["clinician"])),
    f"{API}goals/": ("clinician", None, lambda s: GoalFactory(case=s.own["a_case"])),
    f"{API}goals/{{id}}/gas-ratings/": (
        "clinician",
        "a_goal",
        lambda s: GASRatingFactory(goal=s.own["a_goal"], rated_by=s.users["clinician"]),
    ),
    f"{API}notes/": ("clinician", None, _draft_note),
    f"{API}notes/awaiting-cosign/": ("supervisor", None, _signed_note),
    f"{API}exercises/": (
        "clinician",
        None,
        lambda s: exercise_create(actor=s.users["clinician"], **NEUTRAL_EXERCISE),
    ),
    f"{API}exercises/{{id}}/versions/": ("clinician", "a_exercise", _exercise_version),
    f"{API}assignments/": ("supervisor", None, _assignment),
    f"{API}me/assignments/": ("client", None, _assignment),
    f"{API}submissions/": ("client", None, _submission),
    f"{API}assessments/": ("client", None, _assessment),
    f"{API}assessment-schedules/": ("clinician", None, _schedule),
    f"{API}me/assessments-due/": ("client", None, _schedule),
    f"{API}me/consents/": (
        "client",
        None,
        lambda s: _consent(
            client=s.own["a_client"],
            kind="electronic_communication",
            given_by=s.users["client"],
            revoked_at=timezone.now(),
        ),
    ),
    f"{API}consents/": (
        "supervisor",
        None,
        lambda s: _consent(
            client=s.own["a_client"],
            kind="release_of_records",
            released_to=f"Party {uuid.uuid4()}",
            release_purpose="Referral",
            given_by=s.users["clinician"],
        ),
    ),
    f"{API}consent-documents/": (
        "client",
        None,
        lambda s: ConsentDocument.objects.create(
            kind="recording", title="Recording", version=str(uuid.uuid4())[:8], text="Text.", digest="0" * 64
        ),
    ),
    f"{API}safety-screens/": ("supervisor", None, lambda s: _screen(s)),
    f"{API}conjoint-holds/": (
        "supervisor",
        None,
        lambda s: ConjointHold.objects.create(
            case=s.own["a_case"],
            screen=_screen(s, result="positive"),
            status="continue_jointly",
            reason="Safety plan agreed.",
            decided_at=timezone.now(),
        ),
    ),
    f"{API}releases/": ("supervisor", None, lambda s: _release(s)),
    f"{API}sessions/": ("supervisor", None, lambda s: _session(s)),
    f"{API}notes/missing/": ("supervisor", None, lambda s: _session(s, attended_days_ago=5)),
    f"{API}session-ratings/": ("supervisor", None, lambda s: _rated(s)),
    f"{API}me/session-ratings/": ("client", None, lambda s: _rated(s)),
    f"{API}me/sessions/": ("client", None, lambda s: _session(s)),
    f"{API}me/devices/": (
        "client",
        None,
        lambda s: device_register(actor=s.users["client"], platform="web", token=str(uuid.uuid4())),
    ),
    f"{API}alerts/": ("supervisor", None, lambda s: _assessment(s, answers=A_PHQ9)),
    f"{API}instruments/{{code}}/versions/": ("clinician", "instrument_code", _phq9_released_again),
    f"{API}webhooks/": (
        "clinician",
        None,
        lambda s: WebhookSubscription.objects.create(
            owner=s.users["clinician"], url=A_WEBHOOK_URL, event_types=["case.opened"], secrets=[]
        ),
    ),
    f"{API}webhooks/{{id}}/deliveries/": (
        "clinician",
        "a_webhook",
        lambda s: WebhookDelivery.objects.create(subscription=s.own["a_webhook"], type="webhook.ping"),
    ),
}
# Lists of data shipped with the API: nothing to grow.
FIXED_LISTS = {f"{API}instruments/", f"{API}event-types/"}
LISTS = [pytest.param(op, id=str(op)) for op in OPERATIONS if op.lists_rows and op.path not in FIXED_LISTS]


def test_every_list_has_a_growth_recipe():
    """Every answer with `results`, paginated or not (what is due for a client is one short list)."""
    assert {op.path for op in OPERATIONS if op.lists_rows} - FIXED_LISTS == set(LIST_GROWTH)
    assert {op.path for op in OPERATIONS if op.is_list} <= set(LIST_GROWTH)
    assert all(access("clinician", op) == REFERENCE for op in OPERATIONS if op.path in FIXED_LISTS and op.lists_rows)


@pytest.mark.parametrize("op", LISTS)
def test_lists_cost_the_same_for_1_and_20_rows_and_never_show_b(scene, count_queries, op):
    role, path_key, grow = LIST_GROWTH[op.path]
    caller = scene.caller(role)
    variant = Variant(path=path_key)
    allowed = allowed_to_see(access(role, op), op)
    grow(scene)
    sent, first = send(caller, op, variant, scene.ids)
    one = count_queries(lambda: send(caller, op, variant, scene.ids))
    for _ in range(19):
        grow(scene)
    many = count_queries(lambda: send(caller, op, variant, scene.ids))
    _, last = send(caller, op, variant, scene.ids)

    assert first.status_code == last.status_code == 200, last.content
    assert len(last.json()["results"]) == len(first.json()["results"]) + 19
    assert one == many
    assert leaks(scene, first, sent, allowed) == []
    assert leaks(scene, last, sent, allowed) == []


# ---------------------------------------------------------------- reports: B's figures stay out, the chart too

REPORT_URLS = (
    f"{API}reports/caseload/",
    f"{API}reports/caseload.csv",
    f"{API}reports/outcomes/",
    f"{API}reports/outcomes.csv",
    f"{API}reports/outcomes/?domain={GoalDomain.TRUST_REBUILDING}",
)


def _grow_b_caseload(scene):
    """B's caseload grows in every figure the reports count: an open couple case with an achieved goal rated on
    GAS, overdue homework, PHQ-9 and GAD-7 baselines and follow-ups of both partners (one raising an alert), a
    note unsigned for ten days and one awaiting co-signature."""
    b = scene.b_user
    couple = CoupleFactory(partners__clinician=b)
    partners = [member.client for member in CoupleMember.objects.filter(couple=couple).order_by("position")]
    case = CaseFactory(clinician=b, subject_type=SubjectType.COUPLE, couple=couple)
    goal = GoalFactory(
        case=case,
        domain=GoalDomain.TRUST_REBUILDING,
        gas_levels=GAS_LEVELS,
        achievement_status="achieved",
        lifecycle_status="completed",
    )
    GASRatingFactory(goal=goal, score=2, rated_by=b, rated_on=timezone.localdate() - timedelta(days=1))
    today = timezone.localdate()
    assignment_create(
        actor=b,
        case=case,
        exercise=Exercise.objects.get(pk=scene.ids["catalog_exercise"]),
        assignees=partners,
        start_date=today - timedelta(days=21),
        due_date=today - timedelta(days=1),
        frequency="weekly",
        target_count=2,
    )
    now = timezone.now()
    for client in partners:
        for instrument, baseline, follow_up in (("phq9", [3] * 9, [0] * 9), ("gad7", [3] * 7, [0] * 7)):
            for answers, at in ((baseline, now - timedelta(weeks=6)), (follow_up, now - timedelta(days=2))):
                assessment_record(
                    actor=b, client=client, case=case, instrument=instrument, answers=answers, administered_at=at
                )
    NoteFactory(case=case, session_date=today - timedelta(days=10))
    NoteFactory(case=case, status=NoteStatus.SIGNED, signed_at=now, cosign_required=True)


@pytest.mark.parametrize("role", STAFF)
def test_b_figures_never_reach_a_or_s_reports(scene, call_as, role):
    """A's and S's reports stay byte for byte the same however B's caseload changes (while B's own report
    moves in every one of them), and show only their own rows. B's past supervisor reports on themself only."""
    b_supervisor = User.objects.get(pk=scene.ids["b_supervisor"])
    callers = {who: call_as(user, ["reports"]) for who, user in [(role, scene.users[role]), ("B", scene.b_user)]}
    callers["B's past supervisor"] = call_as(b_supervisor, ["reports"])

    def answers():
        return {(who, url): caller.get(url) for who, caller in callers.items() for url in REPORT_URLS}

    def seen(responses):
        return {key: (r.status_code, r["Content-Type"], r.content) for key, r in responses.items()}

    before = answers()
    _grow_b_caseload(scene)
    after = answers()

    assert {key: r.status_code for key, r in {**before, **after}.items()} == dict.fromkeys(before, 200)
    mine = [(role, url) for url in REPORT_URLS]
    assert {k: v for k, v in seen(after).items() if k in mine} == {k: v for k, v in seen(before).items() if k in mine}
    past = [("B's past supervisor", url) for url in REPORT_URLS]
    assert {k: v for k, v in seen(after).items() if k in past} == {k: v for k, v in seen(before).items() if k in past}
    unmoved = [url for url in REPORT_URLS if seen(before)[("B", url)] == seen(after)[("B", url)]]
    assert unmoved == [], "B's growth must show in B's own report, or this test proves nothing"
    failures = []
    for url in REPORT_URLS:
        sent = Sent("get", url.split("?")[0], url, None)
        for response in (before[(role, url)], after[(role, url)]):
            failures += report_failures(scene, role, sent, response)
            failures += leaks(scene, response, sent, set())
        past_rows = after[("B's past supervisor", url)]
        if url.endswith("/caseload/") and [row["clinician"] for row in past_rows.json()["rows"]] != [
            str(b_supervisor.id)
        ]:
            failures.append(f"B's past supervisor's report: {past_rows.content[:300]}")
        if scene.b_user.display_name.lower() in past_rows.content.decode().lower():
            failures.append(f"B's past supervisor sees B in {url}")
    failures += audit_naming_b(scene)
    assert failures == []


@pytest.mark.parametrize("role", STAFF)
def test_the_outcome_chart_is_a_png_of_the_callers_own_case_only(scene, role):
    """The matrix's 404 for B's case means something: the same caller gets a PNG of A's case."""
    caller = scene.caller(role)
    own = caller.get(f"{API}cases/{scene.ids['a_case']}/outcomes/chart.png")
    foreign = caller.get(f"{API}cases/{scene.ids['b_case']}/outcomes/chart.png")

    assert own.status_code == 200, own.content[:300]
    assert own["Content-Type"] == "image/png"
    assert own.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert foreign.status_code == 404
    assert foreign["Content-Type"].startswith(PROBLEM)
    assert foreign.json()["code"] == "not_found"
    assert b"PNG" not in foreign.content
    assert audit_naming_b(scene) == []


# ---------------------------------------------------------------- the URL configuration: no route outside the matrix

ROUTE_PARAMETER = re.compile(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>")
PROBE_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


def _openapi_path(route: str) -> str:
    """A Django route (`path()` converters or a router's regex) in the contract's spelling (`{id}`)."""

    def name(match):
        parameter = match.group(1) or match.group(2)
        return "{id}" if parameter == "pk" else "{" + parameter + "}"

    return "/" + ROUTE_PARAMETER.sub(name, route.replace("^", "").replace("$", ""))


def _route_methods(callback) -> set[str]:
    """The methods a route handles: a viewset's routed actions, a class-based view's handlers (HEAD and
    OPTIONS come with every view and are probed separately); a function view is read-only here."""
    if getattr(callback, "actions", None):  # DRF adds `head` to it once the view has served a request
        return {method.upper() for method in callback.actions if method not in ("head", "options")}
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is None:
        return {"GET"}
    return {m.upper() for m in view.http_method_names if m not in ("head", "options") and hasattr(view, m)}


def url_routes() -> dict[str, set[str]]:
    """Every route of the URL configuration (`config.urls`), as `{path: methods}`."""
    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.callback

    routes: dict[str, set[str]] = {}
    for route, callback in walk(get_resolver().url_patterns, ""):
        routes.setdefault(_openapi_path(route), set()).update(_route_methods(callback))
    return routes


@dataclass(frozen=True)
class PublicRoute:
    methods: frozenset[str]
    why: str
    probe: str  # the path an anonymous caller tries
    status: int  # what they get: anything but 401, on purpose


# Routes outside the contract (it documents /api/v1/ only). Each takes no bearer token, on purpose.
PUBLIC_ROUTES = {
    "/": PublicRoute(frozenset(PROBE_METHODS) - {"HEAD", "OPTIONS"}, "sends a browser to the API docs", "/", 302),
    "/api/problems/": PublicRoute(
        frozenset({"GET"}), "what each problem `type` means (RFC 9457 type URIs)", "/api/problems/", 200
    ),
    "/api/problems/{slug}": PublicRoute(frozenset({"GET"}), "one problem type", "/api/problems/not-found", 200),
    "/api/schema/": PublicRoute(frozenset({"GET"}), "the OpenAPI contract itself", "/api/schema/", 200),
    "/api/docs/": PublicRoute(frozenset({"GET"}), "Swagger UI (sign-in happens inside it)", "/api/docs/", 200),
    "/api/docs/oauth2-redirect.html": PublicRoute(
        frozenset({"GET"}), "where Swagger UI's sign-in popup lands", "/api/docs/oauth2-redirect.html", 200
    ),
    "/api/redoc/": PublicRoute(frozenset({"GET"}), "ReDoc", "/api/redoc/", 200),
    "/api/redoc/redoc.standalone.js": PublicRoute(
        frozenset({"GET"}), "ReDoc's script, with no CDN image", "/api/redoc/redoc.standalone.js", 200
    ),
    "/o/authorize/": PublicRoute(
        frozenset({"GET", "POST", "PUT"}),
        "authorization code + PKCE: a signed-in browser session consents; strangers go to the sign-in page",
        "/o/authorize/",
        302,
    ),
    "/o/token/": PublicRoute(frozenset({"POST"}), "where tokens are obtained (throttled)", "/o/token/", 400),
    "/o/revoke_token/": PublicRoute(
        frozenset({"POST"}), "RFC 7009 revocation; the client identifies itself", "/o/revoke_token/", 400
    ),
    "/o/introspect/": PublicRoute(
        frozenset({"GET", "POST"}),
        "RFC 7662 introspection; the resource server authenticates with client credentials",
        "/o/introspect/",
        403,
    ),
    "/.well-known/oauth-authorization-server": PublicRoute(
        frozenset({"GET"}), "RFC 8414 metadata", "/.well-known/oauth-authorization-server", 200
    ),
    "/.well-known/oauth-authorization-server/{issuer_path}": PublicRoute(
        frozenset({"GET"}), "RFC 8414 metadata", "/.well-known/oauth-authorization-server/other", 200
    ),
    "/.well-known/oauth-protected-resource": PublicRoute(
        frozenset({"GET"}), "RFC 9728 metadata", "/.well-known/oauth-protected-resource", 200
    ),
    "/.well-known/oauth-protected-resource/{resource_path}": PublicRoute(
        frozenset({"GET"}), "RFC 9728 metadata", "/.well-known/oauth-protected-resource/other", 200
    ),
    "/accounts/login/": PublicRoute(
        frozenset({"GET", "POST", "PUT"}), "the sign-in page of the authorization flow", "/accounts/login/", 200
    ),
    "/accounts/logout/": PublicRoute(frozenset({"POST"}), "ends that browser session", "/accounts/logout/", 302),
    "/accounts/mfa/": PublicRoute(
        frozenset({"GET", "POST"}),
        "the sign-in's second step (the authenticator app's code) for a browser session past its password; "
        "strangers go to the sign-in page",
        "/accounts/mfa/",
        302,
    ),
    "/accounts/mfa/enrol/": PublicRoute(
        frozenset({"GET", "POST"}),
        "the sign-in's enrolment of an authenticator app where the practice requires one; strangers go to the "
        "sign-in page",
        "/accounts/mfa/enrol/",
        302,
    ),
}
# The FHIR R4 API (fhir_r4/): not in the contract (its own is the CapabilityStatement), so its access matrix is
# tests/fhir/test_fhir_access.py (every type read and searched, $everything, the export, for every role).
FHIR_ROUTES = {
    "/fhir/r4/metadata": {"GET"},
    "/fhir/r4/{resource_type}": {"GET"},
    "/fhir/r4/{resource_type}/{id}": {"GET"},
    "/fhir/r4/Patient/{id}/\\everything": {"GET"},
    "/fhir/r4/export": {"GET", "POST"},
    "/fhir/r4/export-status/{id}": {"GET", "DELETE"},
    "/fhir/r4/export-file/{id}": {"GET"},
    "/fhir/r4/{rest}": {"GET"},  # any other FHIR path: an OperationOutcome 404
}
# Operations of the contract that take no token, on purpose.
PUBLIC_OPERATIONS = {
    ("GET", f"{API}health/"): "readiness for load balancers and orchestrators; says nothing but ok/unavailable",
    ("GET", f"{API}health/live/"): "liveness, the same",
    ("POST", f"{API}invitations/accept/"): "a new client turns their single-use invitation into a login",
    ("GET", f"{API}calendar/{{token}}.ics"): "a clinician's calendar app reads their feed; the secret in the address "
    "is the key (a calendar app cannot hold an OAuth token)",
}


def test_every_route_of_the_url_configuration_is_in_the_matrix():
    """The matrix walks the contract; this holds the contract to the URL configuration. A route the contract
    does not document (hidden from the schema, or a method it leaves out) fails here until it is documented,
    and so joins every test above; outside /api/v1/ only the public routes listed here may exist."""
    routes = url_routes()
    api_routes = {(method, path) for path, methods in routes.items() if path.startswith(API) for method in methods}
    assert api_routes == {op.key for op in OPERATIONS}
    fhir = {path: methods for path, methods in routes.items() if path.startswith("/fhir/r4/")}
    assert fhir == FHIR_ROUTES
    assert {path: methods for path, methods in routes.items() if not path.startswith((API, "/fhir/r4/"))} == {
        path: set(route.methods) for path, route in PUBLIC_ROUTES.items()
    }


def test_the_public_operations_are_listed_on_purpose():
    assert {op.key: op.public for op in OPERATIONS if op.public} == dict.fromkeys(PUBLIC_OPERATIONS, True)


@pytest.mark.parametrize("path", PUBLIC_ROUTES)
def test_public_routes_answer_without_a_token(anonymous, path):
    route = PUBLIC_ROUTES[path]
    method = "GET" if "GET" in route.methods else "POST"

    response = getattr(anonymous, method.lower())(route.probe)

    assert response.status_code == route.status, response.content[:300]
    assert response.status_code != 401


def _probe_path(path: str) -> str:
    values = {
        "{code}": "phq9",
        "{name}": "case.opened",
        "{number}": "1",
        "{id}": "1" if path.startswith(f"{API}audit-events/") else str(uuid.uuid4()),
    }
    return PATH_PARAMETER.sub(lambda match: values[match.group(0)], path)


PROTECTED_ROUTES = sorted({op.path for op in OPERATIONS if not op.public})


@pytest.mark.parametrize("path", PROTECTED_ROUTES)
def test_without_a_token_every_method_of_every_protected_route_is_401(db, anonymous, path):
    """Whatever the method, documented or not (HEAD, OPTIONS, PUT, DELETE...), no token gets a 401
    problem+json with a Bearer challenge, before any other answer (404, 405, 428...)."""
    url = _probe_path(path)
    failures = []
    for method in PROBE_METHODS:
        response = anonymous.generic(method, url, b"{}", content_type="application/json")
        if response.status_code != 401 or not response.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append(f"{method}: {response.status_code} {response.get('WWW-Authenticate')}")
        elif method != "HEAD" and (
            not response["Content-Type"].startswith(PROBLEM) or response.json()["code"] != "not_authenticated"
        ):
            failures.append(f"{method}: {response['Content-Type']} {response.content[:200]}")
    assert failures == [], url


# ---------------------------------------------------------------- mass assignment: server-owned fields stay so
#
# Every write of the contract, made by a role that may make it on a record of its own, twice on twin records: once
# as documented, once with every field the answer shows but the request body does not take (id, author, clinician,
# status, version, created_at, received_at, reviewed_by, cosigned_by...) sent too, with forged values pointing at
# B's records where they are ids. Each forged field is either ignored (the answer and the stored record, read back,
# are those of the plain twin, and no forged value appears anywhere) or, where MASS_ASSIGNMENT_REJECTED says so,
# refused with a 400 naming it that changes nothing.

FORGED_TEXT = "forged-value"
FORGED_DAY = "2001-02-03"
FORGED_INTEGER = 987
# a forged id names B's record of the same kind; `id` a fresh one
FORGED_ID_TARGETS = {
    "client": "b_client",
    "partners": "b_client",
    "assignees": "b_client",
    "case": "b_case",
    "couple": "b_couple",
    "goal": "b_goal",
    "goals": "b_goal",
    "goals_addressed": "b_goal",
    "assignment": "b_assignment",
    "amends": "b_first_submission",
    "schedule": "b_schedule",
    "assessment": "b_assessment",
    "exercise": "b_exercise",
    "supervisor": "b_supervisor",
}
MASS_ASSIGNMENT_REJECTED: dict[tuple[str, str], set[str]] = {}  # (method, path) → fields refused with 400
# fields that differ between two identical requests by design: a fresh secret, a slug with a random suffix
VOLATILE = {
    ("POST", f"{API}clients/{{id}}/invite/"): {"token"},
    ("POST", f"{API}exercises/"): {"slug"},
    ("PATCH", f"{API}exercises/{{id}}/"): {"slug"},
    ("POST", f"{API}webhooks/"): {"secret"},
    ("POST", f"{API}instruments/{{code}}/versions/"): {"content_hash"},  # of a definition naming the twin's code
    ("POST", f"{API}webhooks/{{id}}/rotate-secret/"): {"secret"},
    ("POST", f"{API}consent-documents/"): {"digest"},  # of the twin's own text (an unchanged text is refused)
    ("POST", f"{API}releases/"): {"digest", "consents", "contents"},  # each twin's own consents, in its document
    ("POST", f"{API}me/calendar-feed/"): {"url"},  # a fresh secret in it
    ("POST", f"{API}me/mfa/"): {"otpauth_uri", "secret", "qr_code"},  # a fresh secret in each
    ("POST", f"{API}me/mfa/confirm/"): {"recovery_codes"},
    ("POST", f"{API}me/mfa/recovery-codes/"): {"recovery_codes"},
    ("PATCH", f"{API}me/notification-preferences/"): {"version"},  # one record per client, written by both twins
}


@functools.cache
def contract_document() -> dict:
    return yaml.safe_load(schema.SCHEMA_FILE.read_text())


def _component(node: dict) -> dict:
    """A schema with $ref, allOf and nullable oneOf/anyOf resolved to the one schema that describes values."""
    components = contract_document()["components"]["schemas"]
    while True:
        if "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in node:
            node = node["allOf"][0]
        elif "oneOf" in node or "anyOf" in node:
            options = [_component(option) for option in node.get("oneOf", node.get("anyOf"))]
            node = next(o for o in options if o.get("enum") != [None] and o.get("type") != "null")
        else:
            return node


def _json_body_schema(node: dict | None) -> dict:
    return _component((node or {}).get("content", {}).get("application/json", {}).get("schema", {}))


def write_fields(op: Operation) -> tuple[set[str], dict]:
    """What the request body takes, and the schema of each field the success answer shows."""
    item = contract_document()["paths"][op.path][op.method]
    takes = set(_json_body_schema(item.get("requestBody")).get("properties", {}))
    success = next(item["responses"][code] for code in sorted(item["responses"]) if code.startswith("2"))
    return takes, _json_body_schema(success).get("properties", {})


def forge(node: dict, current, name: str, ids: dict, markers: list[str]):
    """A value of this schema that is not `current`; ids name B's records. Distinctive text goes to
    `markers`, which must appear nowhere in an answer that ignored it."""
    node = _component(node)
    if "enum" in node:
        others = [value for value in node["enum"] if value not in (None, "", current)]
        return others[0] if others else current  # a one-value enum (a union's tag) has nothing else to forge
    kind, fmt = node.get("type"), node.get("format")
    if kind == "string" and fmt == "uuid":
        value = str(uuid.uuid4()) if name == "id" else ids[FORGED_ID_TARGETS.get(name, "b_user")]
    elif kind == "string" and fmt == "date-time":
        value = f"{FORGED_DAY}T04:05:06+00:00"
    elif kind == "string" and fmt == "date":
        value = FORGED_DAY
    elif kind == "string" and fmt == "email":
        value = f"{FORGED_TEXT}@example.test"
    elif kind == "integer":
        return FORGED_INTEGER + 1 if current == FORGED_INTEGER else FORGED_INTEGER
    elif kind == "number":
        return 0.987
    elif kind == "boolean":
        return not current if isinstance(current, bool) else True
    elif kind == "array":
        first = current[0] if isinstance(current, list) and current else None
        return [forge(node.get("items", {}), first, name, ids, markers)]
    elif kind == "object" or "properties" in node:
        current = current if isinstance(current, dict) else {}
        if "properties" in node:
            return {k: forge(v, current.get(k), k, ids, markers) for k, v in node["properties"].items()}
        values = node.get("additionalProperties") if isinstance(node.get("additionalProperties"), dict) else {}
        return {k: forge(values, v, k, ids, markers) for k, v in (current or {FORGED_TEXT: None}).items()}
    else:
        value = FORGED_TEXT
    markers.append(value[:10] if value.startswith(FORGED_DAY) else value)
    return value


@dataclass
class Write:
    role: str  # who makes it: a role that may, on a record of its own
    target: str | None  # the {id} of the path
    body: dict


def _twin_client(scene, n, **extra):
    return ClientFactory(
        primary_clinician=scene.users["clinician"],
        given_name="Robin",
        family_name=f"Twin{n}",
        email=f"robin.twin{n}@example.test",
        **extra,
    )


def _twin_case(scene, n, **extra):
    return CaseFactory(clinician=scene.users["clinician"], client=_twin_client(scene, n), **extra)


def _twin_couple_case(scene, n):
    couple = CoupleFactory(partners=[_twin_client(scene, n), _twin_client(scene, f"{n}b")])
    return CaseFactory(clinician=scene.users["clinician"], subject_type=SubjectType.COUPLE, couple=couple, client=None)


def _twin_colleague(n, role=Role.CLINICIAN, label="colleague"):
    return UserFactory(role=role, email=f"{label}.twin{n}@example.test", display_name=f"{label} twin{n}")


def _twin_assignment(scene, n, *, on_own_case=False):
    case = scene.own["a_case"] if on_own_case else _twin_couple_case(scene, n)
    clients = [member.client for member in CoupleMember.objects.filter(couple=case.couple).order_by("position")]
    return assignment_create(
        actor=scene.users["clinician"], case=case, exercise=scene.own["phone_free"], assignees=clients
    )


def _twin_submission(scene, n):
    return submission_create(
        actor=scene.users["client"],
        assignment=_twin_assignment(scene, n, on_own_case=True),
        completed_at=earlier_today(hours=1),
        responses=A_RESPONSES,
    )


def _twin_goal(scene, n, **extra):
    return GoalFactory(case=_twin_case(scene, n), title=f"Goal twin{n}", **extra)


def _twin_note(scene, n, **extra):
    return NoteFactory(case=_twin_case(scene, n), **extra)


def _signed(**extra):
    return {"status": NoteStatus.SIGNED, "signed_at": timezone.now(), **extra}


def _twin_reassignment(scene, n):
    leaving = _twin_colleague(n, label="leaving")
    CaseFactory(clinician=leaving, client=ClientFactory(primary_clinician=leaving, email=f"left.twin{n}@example.test"))
    return Write("admin", str(leaving.id), {"to": str(_twin_colleague(n, label="taking").id)})


def _twin_schedule_client(scene, n):
    login = UserFactory(role=Role.CLIENT, email=f"app.twin{n}@example.test", display_name=f"App twin{n}")
    client = _twin_client(scene, n, user=login)
    return client, CaseFactory(clinician=scene.users["clinician"], client=client)


def _twin_schedule(scene, n):
    client, case = _twin_schedule_client(scene, n)
    schedule = schedule_create(
        actor=scene.users["clinician"], client=client, case=case, instrument="gad7", frequency="weekly"
    )
    return Write("clinician", str(schedule.id), {})


def _twin_alert(scene, n):
    case = _twin_case(scene, n)
    assessment_record(
        actor=scene.users["clinician"],
        client=case.client,
        case=case,
        instrument="phq9",
        answers=A_PHQ9,
        administered_at=timezone.now() - timedelta(hours=1),
    )
    return Write("clinician", str(SafetyAlert.objects.get(case=case).id), {})


def _twin_invitation(scene, n):
    _, token = invitation_create(actor=scene.users["clinician"], client=_twin_client(scene, n))
    return Write(
        "anonymous",
        None,
        {"token": token, "email": f"new.twin{n}@example.test", "password": "violet-harbour-lantern-91"},
    )


def _twin_schedule_body(scene, n):
    client, case = _twin_schedule_client(scene, n)
    return Write(
        "clinician",
        None,
        {"client": str(client.id), "case": str(case.id), "instrument": "csi4", "frequency": "fortnightly"},
    )


def _twin_assessment_body(scene, n):
    case = _twin_case(scene, n)
    return Write(
        "clinician",
        None,
        {
            "client": str(case.client_id),
            "case": str(case.id),
            "instrument": "phq9",
            "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0],
            "administered_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        },
    )


def _twin_assignment_body(scene, n):
    case = _twin_couple_case(scene, n)
    clients = [str(m.client_id) for m in CoupleMember.objects.filter(couple=case.couple).order_by("position")]
    return Write(
        "clinician", None, {"case": str(case.id), "exercise": scene.ids["catalog_exercise"], "assignees": clients}
    )


def _twin_webhook(scene, n):
    return WebhookSubscription.objects.create(
        owner=scene.users["clinician"], url=f"{A_WEBHOOK_URL}/twin{n}", event_types=["case.opened"], secrets=[]
    )


def _twin_redelivery(scene, n):
    webhook = _twin_webhook(scene, n)
    delivery = WebhookDelivery.objects.create(subscription=webhook, type="webhook.ping", status="failed", attempts=9)
    return Write("clinician", str(webhook.id), {"delivery": str(delivery.id)})


def _screen(scene, result="negative"):
    """A screen of the client of A's couple case, stored as it is."""
    return SafetyScreen.objects.create(
        case=scene.own["a_case"], client=scene.own["a_client"], result=result, recorded_by=scene.users["clinician"]
    )


def _twin_hold(scene, n):
    """A hold on a couple case of the twin's own, placed by a positive screen."""
    case = _twin_couple_case(scene, n)
    client = case.couple.members.order_by("position").first().client
    return ConjointHold.objects.create(
        case=case,
        screen=SafetyScreen.objects.create(
            case=case, client=client, result="positive", recorded_by=scene.users["clinician"]
        ),
    )


def _consent(**fields):
    """A consent stored as it is, to the document the product ships for its kind."""
    document = ConsentDocument.objects.get(kind=fields["kind"], version="1")
    return Consent.objects.create(document=document, **fields)


def _twin_consent(scene, n):
    """A consent of the client's own in force (the one before it revoked: one in force at a time)."""
    client = scene.own["a_client"]
    Consent.objects.filter(client=client, kind="electronic_communication", revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return _consent(client=client, kind="electronic_communication", given_by=scene.users["client"])


def _twin_session_times(n, days):
    """A twin's own hour, `days` from now (negative: past), so that no two twins' sessions overlap."""
    starts = timezone.now().replace(microsecond=0) + timedelta(days=days, hours=2 * int(n))
    return starts, starts + timedelta(minutes=50)


def _twin_session(scene, n, days=40, attended=False):
    starts, ends = _twin_session_times(n, days)
    session = session_create(
        actor=scene.users["clinician"], case=scene.own["a_case"], starts_at=starts, ends_at=ends, modality="video"
    )
    if attended:
        session = session_transition(actor=scene.users["clinician"], session=session, to="attended")
    return session


def _twin_session_body(scene, n):
    starts, ends = _twin_session_times(n, 50)
    body = {"case": str(_twin_case(scene, n).id), "starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
    return Write("clinician", None, {**body, "modality": "phone", "location": "Room 3"})


def _twin_rating(scene, n):
    session = _twin_session(scene, n, days=-20, attended=True)
    return rating_submit(actor=scene.users["client"], session=session, heard=7, goals=7, approach=7, overall=7)


def _twin_measure(n, **changes):
    return {**NEUTRAL_MEASURE, "code": f"twin{n}_check_in", "name": f"Check-in twin{n}", **changes}


def _twin_measure_version(scene, n):
    """A new version of a measure of the twin's own: its bands relabelled."""
    measure = instrument_create(actor=scene.users["admin"], definition=_twin_measure(n))
    bands = [{**band, "label": f"{band['label']}, relabelled"} for band in NEUTRAL_MEASURE["bands"]]
    return Write("admin", measure.code, _twin_measure(n, bands=bands))


def _twin_enrolment(scene):
    """The clinician's enrolment, started afresh (the twins are the same person): its app's TOTP."""
    clinician = scene.users["clinician"]
    TOTPDevice.objects.filter(user=clinician).delete()
    return pyotp.TOTP(mfa_enrol_start(actor=clinician).secret)


def _twin_enrolled(scene) -> str:
    """The clinician enrolled afresh: one of their recovery codes."""
    totp = _twin_enrolment(scene)
    return mfa_enrol_confirm(actor=scene.users["clinician"], code=totp.now())[0]


def _own(role, make_target, body=None):
    """A write on a fresh record of the caller's own: `make_target(scene, n)` → the record."""
    return lambda scene, n: Write(role, str(make_target(scene, n).id), body or {})


def _twin_release(s, n):
    """A's case's partners' consents to a release to the twin's party; the release's body."""
    _release_consents(s, f"Party twin{n}")
    return Write(
        "clinician", None, {"case": str(s.own["a_case"].id), "released_to": f"Party twin{n}", "purpose": "Referral"}
    )


MASS_ASSIGNMENT = {
    ("POST", f"{API}releases/"): _twin_release,
    ("POST", f"{API}consents/"): lambda s, n: Write(
        "clinician",
        None,
        {
            "client": str(s.own["a_client"].id),
            "kind": "release_of_records",
            "method": "paper",
            "released_to": f"Party twin{n}",
            "release_purpose": "Referral",
        },
    ),
    ("POST", f"{API}consents/{{id}}/revoke/"): _own("clinician", _twin_consent),
    ("POST", f"{API}consent-documents/"): lambda s, n: Write(
        "admin", None, {**NEUTRAL_DOCUMENT, "version": f"twin{n}", "text": f"Recorded for supervision, twin{n}."}
    ),
    ("POST", f"{API}safety-screens/"): lambda s, n: Write(
        "clinician",
        None,
        {"case": str(s.own["a_case"].id), "client": str(s.own["a_client"].id), "result": "negative"},
    ),
    ("POST", f"{API}conjoint-holds/{{id}}/decide/"): _own(
        "clinician", _twin_hold, {"decision": "continue_jointly", "reason": "Safety plan agreed."}
    ),
    ("POST", f"{API}cases/{{id}}/confidentiality/"): _own(
        "clinician", _twin_couple_case, {"policy": "no_secrets", "reason": "Both asked for it."}
    ),
    ("POST", f"{API}me/consents/"): lambda s, n: Write("client", None, {"kind": "electronic_communication"}),
    ("POST", f"{API}erasure-requests/"): lambda s, n: Write(
        "admin", None, {"client": str(_twin_client(s, n).id), "reason": "The client's written request"}
    ),
    ("POST", f"{API}me/consents/{{id}}/revoke/"): _own("client", _twin_consent),
    ("POST", f"{API}sessions/"): _twin_session_body,
    ("PATCH", f"{API}sessions/{{id}}/"): _own("clinician", _twin_session, {"modality": "phone"}),
    ("POST", f"{API}sessions/{{id}}/transition/"): _own(
        "clinician", _twin_session, {"to": "cancelled", "reason": "Moved"}
    ),
    ("POST", f"{API}me/session-ratings/"): lambda s, n: Write(
        "client",
        None,
        {"session": str(_twin_session(s, n, days=-30, attended=True).id), **_rating_body()},
    ),
    ("PATCH", f"{API}me/session-ratings/{{id}}/"): _own("client", _twin_rating, {"overall": 2}),
    ("POST", f"{API}me/devices/"): lambda s, n: Write("client", None, {"platform": "ios", "token": f"twin-token-{n}"}),
    ("PATCH", f"{API}me/notification-preferences/"): lambda s, n: Write("client", None, {"time_zone": "Europe/Vienna"}),
    ("POST", f"{API}me/calendar-feed/"): lambda s, n: Write("clinician", None, {}),
    ("POST", f"{API}me/mfa/"): lambda s, n: Write("clinician", None, {}),
    ("POST", f"{API}me/mfa/confirm/"): lambda s, n: Write("clinician", None, {"code": _twin_enrolment(s).now()}),
    ("POST", f"{API}me/mfa/recovery-codes/"): lambda s, n: Write("clinician", None, {"code": _twin_enrolled(s)}),
    ("POST", f"{API}me/mfa/remove/"): lambda s, n: Write("clinician", None, {"code": _twin_enrolled(s)}),
    ("POST", f"{API}staff/{{id}}/mfa-reset/"): _own("admin", lambda s, n: _twin_colleague(n)),
    ("POST", f"{API}staff/"): lambda s, n: Write(
        "admin", None, {"email": f"staff.twin{n}@example.test", "display_name": f"Staff twin{n}"}
    ),
    ("PATCH", f"{API}staff/{{id}}/"): _own("admin", lambda s, n: _twin_colleague(n), {"display_name": "Renamed"}),
    ("POST", f"{API}staff/{{id}}/reassign-caseload/"): _twin_reassignment,
    ("POST", f"{API}supervisions/"): lambda s, n: Write(
        "admin",
        None,
        {
            "supervisor": str(_twin_colleague(n, Role.SUPERVISOR, "supervisor").id),
            "supervisee": str(_twin_colleague(n).id),
        },
    ),
    ("POST", f"{API}supervisions/{{id}}/end/"): _own(
        "admin",
        lambda s, n: SupervisionFactory(
            supervisor=_twin_colleague(n, Role.SUPERVISOR, "supervisor"), supervisee=_twin_colleague(n)
        ),
    ),
    ("POST", f"{API}clients/"): lambda s, n: Write(
        "clinician", None, {"given_name": "Robin", "family_name": f"Twin{n}"}
    ),
    ("PATCH", f"{API}clients/{{id}}/"): _own("clinician", _twin_client, {"preferred_name": "Rob"}),
    ("POST", f"{API}clients/{{id}}/invite/"): _own("clinician", _twin_client),
    ("POST", f"{API}couples/"): lambda s, n: Write(
        "clinician",
        None,
        {"partners": [str(_twin_client(s, n).id), str(_twin_client(s, f"{n}b").id)], "relationship_type": "dating"},
    ),
    ("PATCH", f"{API}couples/{{id}}/"): _own(
        "clinician",
        lambda s, n: CoupleFactory(partners=[_twin_client(s, n), _twin_client(s, f"{n}b")]),
        {"relationship_type": "dating"},
    ),
    ("POST", f"{API}cases/"): lambda s, n: Write(
        "clinician", None, {"subject_type": "individual", "client": str(_twin_client(s, n).id)}
    ),
    ("PATCH", f"{API}cases/{{id}}/"): _own("clinician", _twin_case, {"presenting_concerns": ["trust"]}),
    ("POST", f"{API}cases/{{id}}/pause/"): _own("clinician", _twin_case),
    ("POST", f"{API}cases/{{id}}/resume/"): _own("clinician", lambda s, n: _twin_case(s, n, status="paused")),
    ("POST", f"{API}cases/{{id}}/close/"): _own("clinician", _twin_case, {"closing_reason": "Moved away"}),
    ("POST", f"{API}goals/"): lambda s, n: Write(
        "clinician", None, {"case": str(_twin_case(s, n).id), "domain": "communication", "title": "Weekly check-in"}
    ),
    ("PATCH", f"{API}goals/{{id}}/"): _own("clinician", _twin_goal, {"title": "Renamed"}),
    ("POST", f"{API}goals/{{id}}/gas-ratings/"): _own(
        "clinician", lambda s, n: _twin_goal(s, n, gas_levels=GAS_LEVELS), {"score": 1}
    ),
    ("POST", f"{API}goals/{{id}}/transition/"): _own("clinician", _twin_goal, {"to": "on_hold"}),
    ("POST", f"{API}notes/"): lambda s, n: Write("clinician", None, _note_body(s.ids, case=str(_twin_case(s, n).id))),
    ("PATCH", f"{API}notes/{{id}}/"): _own("clinician", _twin_note, {"sections": {"plan": "Weekly check-in"}}),
    ("POST", f"{API}notes/{{id}}/addenda/"): _own(
        "clinician", lambda s, n: _twin_note(s, n, **_signed()), {"text": "A later thought"}
    ),
    ("POST", f"{API}notes/{{id}}/cosign/"): _own(
        "supervisor", lambda s, n: _twin_note(s, n, **_signed(cosign_required=True))
    ),
    ("POST", f"{API}notes/{{id}}/entered-in-error/"): _own(
        "clinician", lambda s, n: _twin_note(s, n, **_signed()), {"reason": "Wrong client"}
    ),
    ("POST", f"{API}notes/{{id}}/sign/"): _own("clinician", _twin_note),
    ("POST", f"{API}exercises/"): lambda s, n: Write(
        "clinician", None, {**NEUTRAL_EXERCISE, "title": f"Evening walk twin{n}"}
    ),
    ("PATCH", f"{API}exercises/{{id}}/"): _own(
        "clinician",
        lambda s, n: exercise_create(
            actor=s.users["clinician"], **{**NEUTRAL_EXERCISE, "title": f"Evening walk twin{n}"}
        ),
        {"summary": "A longer walk together after dinner."},
    ),
    ("POST", f"{API}assignments/"): _twin_assignment_body,
    ("PATCH", f"{API}assignments/{{id}}/"): _own("clinician", _twin_assignment, {"instructions": "Twice a week"}),
    ("POST", f"{API}assignments/{{id}}/cancel/"): _own("clinician", _twin_assignment),
    ("POST", f"{API}submissions/"): lambda s, n: Write(
        "client",
        None,
        {
            "assignment": str(_twin_assignment(s, n, on_own_case=True).id),
            "completed_at": earlier_today(hours=1).isoformat(),
            "responses": A_RESPONSES,
        },
    ),
    ("POST", f"{API}submissions/{{id}}/amend/"): _own(
        "client", _twin_submission, {"responses": {**A_RESPONSES, "presence": 5}}
    ),
    ("POST", f"{API}submissions/{{id}}/review/"): _own("clinician", _twin_submission, {"feedback": "Well done"}),
    ("POST", f"{API}assessments/"): _twin_assessment_body,
    ("POST", f"{API}instruments/"): lambda s, n: Write("admin", None, _twin_measure(n)),
    ("POST", f"{API}instruments/{{code}}/versions/"): _twin_measure_version,
    ("POST", f"{API}assessment-schedules/"): _twin_schedule_body,
    ("POST", f"{API}assessment-schedules/{{id}}/cancel/"): _twin_schedule,
    ("POST", f"{API}alerts/{{id}}/acknowledge/"): _twin_alert,
    ("POST", f"{API}invitations/accept/"): _twin_invitation,
    ("POST", f"{API}webhooks/"): lambda s, n: Write(
        "clinician", None, {"url": f"{A_WEBHOOK_URL}/twin{n}", "event_types": ["case.opened"]}
    ),
    ("PATCH", f"{API}webhooks/{{id}}/"): _own("clinician", _twin_webhook, {"description": "Renamed"}),
    ("POST", f"{API}webhooks/{{id}}/rotate-secret/"): _own("clinician", _twin_webhook),
    ("POST", f"{API}webhooks/{{id}}/ping/"): _own("clinician", _twin_webhook),
    ("POST", f"{API}webhooks/{{id}}/redeliver/"): _twin_redelivery,
}
WRITES = [pytest.param(op, id=str(op)) for op in OPERATIONS if op.method in ("post", "put", "patch")]


def test_every_write_has_a_mass_assignment_recipe():
    assert {op.key for op in OPERATIONS if op.method in ("post", "put", "patch")} == set(MASS_ASSIGNMENT)


TWIN = re.compile(r"twin(\d+)", re.IGNORECASE)
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATETIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def canonical(value, ignore=frozenset()):
    """An answer with what differs between twins by nature (ids, timestamps, the twin's number) blanked."""
    if isinstance(value, dict):
        return {canonical(k): canonical(v) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=json.dumps)
    if isinstance(value, str):
        if UUID_TEXT.match(value):
            return "<uuid>"
        if DATETIME_TEXT.match(value) and not value.startswith(FORGED_DAY):
            return "<datetime>"
        return TWIN.sub("twin#", value)
    return value


def _write(scene, op: Operation, write: Write, body: dict):
    caller = APIClient() if write.role == "anonymous" else scene.caller(write.role)
    path = fill_path(op.path, write.target, scene.ids) if op.targets else op.path
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if op.method == "post" else {"HTTP_IF_MATCH": "*"}
    return caller, getattr(caller, op.method)(path, body, format="json", **headers)


def _read_back(scene, op: Operation, write: Write, caller, answer: dict):
    """The changed or created record as its reader now sees it, or None where the answer is not a record."""
    if op.path == f"{API}invitations/accept/":
        return scene.call_as(User.objects.get(pk=answer["id"]), ["homework"]).get(f"{API}me/").json()
    if op.path in (f"{API}webhooks/{{id}}/ping/", f"{API}webhooks/{{id}}/redeliver/"):
        rows = caller.get(f"{API}webhooks/{write.target}/deliveries/").json()["results"]
        return next(row for row in rows if row["id"] == answer["id"])
    if op.path == f"{API}goals/{{id}}/gas-ratings/":
        rows = caller.get(f"{API}goals/{write.target}/gas-ratings/").json()["results"]
        return next(row for row in rows if row["id"] == answer["id"])
    detail = f"{API}{op.resource}/{{id}}/"
    if "id" in answer and ("GET", detail) in {o.key for o in OPERATIONS}:
        response = caller.get(detail.replace("{id}", answer["id"]))
        assert response.status_code == 200, response.content[:300]
        return response.json()
    return None


@pytest.mark.parametrize("op", WRITES)
def test_server_owned_fields_are_ignored_or_refused_on_every_write(scene, op):
    recipe = MASS_ASSIGNMENT[op.key]
    takes, shows = write_fields(op)
    ignore = VOLATILE.get(op.key, set())

    # the plain write, on the first twin
    plain = recipe(scene, 1)
    caller, response = _write(scene, op, plain, plain.body)
    assert 200 <= response.status_code < 300, response.content[:500]
    control = response.json()
    assert set(control) == set(shows), "the answer does not match its documented schema"
    control_stored = _read_back(scene, op, plain, caller, control)

    # the same write on the second twin, with every server-owned field forged
    twin = recipe(scene, 2)
    markers: list[str] = []
    forged = {f: forge(shows[f], control.get(f), f, scene.ids, markers) for f in sorted(set(shows) - takes)}
    assert forged or op.key in {("POST", f"{API}invitations/accept/")}, "nothing to forge?"
    failures = []
    rejected = MASS_ASSIGNMENT_REJECTED.get(op.key, set())
    for field in sorted(rejected):
        before = totals()
        _, refused = _write(scene, op, twin, {**twin.body, field: forged[field]})
        failures += [f"{field}: {m}" for m in check_outcome(refused, Outcome(400, "invalid", field=field))]
        if totals() != before:
            failures.append(f"{field}: a refused write created rows")
    caller, response = _write(scene, op, twin, {**twin.body, **{f: v for f, v in forged.items() if f not in rejected}})
    if not 200 <= response.status_code < 300:
        failures.append(
            f"with the forged fields: {response.status_code} {response.content[:500]} "
            "(refusing is fine: list the fields it names in MASS_ASSIGNMENT_REJECTED)"
        )
        assert failures == [], f"{op}: " + "\n".join(failures)
    answer = response.json()
    stored = _read_back(scene, op, twin, caller, answer)
    for label, seen, expected_ in [("answer", answer, control), ("stored record", stored, control_stored)]:
        if seen is None:
            continue
        text = json.dumps(seen)
        failures += [f"{label}: the forged {m!r} appears" for m in markers if m in text]
        failures += [
            f"{label}: {f} took the forged value {v!r}"
            for f, v in forged.items()
            # a one-value enum forges the value itself (forge): nothing to tell apart there
            if f not in rejected and f in seen and seen[f] == v and v != expected_.get(f)
        ]
        if canonical(seen, ignore) != canonical(expected_, ignore):
            changed = sorted(
                k
                for k in set(seen) | set(expected_)
                if k not in ignore and canonical(seen.get(k)) != canonical(expected_.get(k))
            )
            failures.append(f"{label}: differs from the plain twin's in {changed}: {seen} vs {expected_}")
    assert failures == [], f"{op} forged {forged}:\n" + "\n".join(failures)
