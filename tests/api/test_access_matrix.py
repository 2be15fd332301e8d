"""The access matrix: every operation of the contract, for every role, aimed at another clinician's records.

Clinician B (`other_clinician`, unsupervised now; supervised by another supervisor in the past) holds a full
set of records with distinctive content. Clinician A, A's supervisor S, the practice admin and a client of
A's couple each call every operation of the committed `openapi.yaml` on B's records, with B's records as
list filters and as foreign keys of writes. Where the role may use the operation the answer is 404 (or 400
naming the field, for a foreign key); where the role may never use it, 403 `role_not_allowed`. No value of
B's records appears in any answer; the same request with ids that never existed answers exactly the same;
B's records stay as they were, nothing is created, and no audit event says that anyone but B touched them.

The operations are read from the contract, so a new endpoint joins the matrix by itself: the test fails
until SPECS says which foreign object stands in for its path and what body it sends.
"""

import base64
import binascii
import dataclasses
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import unquote, urlencode

import pytest
import yaml
from django.db.models import Q
from django.utils import timezone

from clinical.audit import audit_record
from clinical.models import (
    AuditEvent,
    Case,
    Client,
    Couple,
    CoupleMember,
    GoalAttainmentRating,
    GoalDomain,
    NoteAddendum,
    NoteStatus,
    ProgressNote,
    RelationshipType,
    Role,
    SubjectType,
    Supervision,
    TreatmentGoal,
    User,
)
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
)
from tools import schema

API = "/api/v1/"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM = "application/problem+json"
ROLES = ("clinician", "supervisor", "admin", "client")
# B made a request with this key before the walk; every POST of the walk reuses it. Keys belong to one user:
# if they did not, another caller would get B's stored answer (the whole note) replayed.
SHARED_IDEMPOTENCY_KEY = "matrix-shared-idempotency-key"

# ---------------------------------------------------------------- the contract


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    security: tuple[tuple[str, ...] | None, ...]  # alternatives; None: no authentication at all
    uuid_filters: tuple[str, ...]
    is_list: bool

    def __str__(self):
        return f"{self.method.upper()} {self.path}"

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
                    uuid_filters=tuple(p["name"] for p in query if p["schema"].get("format") == "uuid"),
                    is_list=method == "get" and any(p["name"] == "cursor" for p in query),
                )
            )
    return operations


OPERATIONS = contract_operations()

# ---------------------------------------------------------------- who may use what (DESIGN.md, "Who may see what")

PUBLIC = "public"  # no token needed (health)
SELF = "self"  # answers about the caller only (me/)
FORBIDDEN = "forbidden"  # the role may never use the operation: 403 role_not_allowed
SCOPED = "scoped"  # the role may use it, on what is within its reach: B's records are 404
MANAGES = "manages"  # the admin legitimately reaches B's account, supervisions and audit trail

CLINICAL = {"clients", "couples", "cases", "goals", "notes"}
STAFF = ("clinician", "supervisor")


def access(role: str, op: Operation) -> str | None:
    if op.resource == "health":
        return PUBLIC
    if op.path == f"{API}me/":
        return SELF
    if op.path.startswith(f"{API}me/goals/"):
        return SCOPED if role == "client" else FORBIDDEN
    if op.resource in CLINICAL:
        if op.path.endswith("/awaiting-cosign/"):
            return SCOPED if role == "supervisor" else FORBIDDEN
        return SCOPED if role in STAFF else FORBIDDEN
    if op.resource in ("staff", "audit-events"):
        return MANAGES if role == "admin" else FORBIDDEN
    if op.resource == "supervisions":
        if role == "admin":
            return MANAGES
        return SCOPED if role in STAFF and op.method == "get" else FORBIDDEN
    return None  # a resource this matrix does not know yet


# What of B's the admin legitimately sees where they manage: B's account, and in the audit trail the ids of
# the records it names. Never clinical text.
MANAGES_ALLOWS = {"staff": {"account"}, "supervisions": {"account"}, "audit-events": {"account", "clinical_id"}}

# ---------------------------------------------------------------- the foreign object of each operation

# {id} in a path stands for this record of B's, unless a variant names another.
PATH_TARGETS = {
    "staff": "b_user",
    "supervisions": "b_supervision",
    "audit-events": "b_audit_event",
    "clients": "b_client",
    "couples": "b_couple",
    "cases": "b_case",
    "goals": "b_goal",
    "notes": "b_note",
}
# A list filter naming one of B's records (404 for a scoped caller: the record is not within reach) or B as
# a person (a plain filter: an empty list, the same as for anybody who does not exist).
RECORD_FILTERS = {"case": "b_case", "client": "b_client", "couple": "b_couple"}
PERSON_FILTERS = {"author": "b_user", "actor": "b_user", "supervisee": "b_user", "supervisor": "b_supervisor"}
ID_FILTERS = {**RECORD_FILTERS, "object": "b_note"}


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None = None
    field: str | None = None  # a validation error must name this field
    empty: bool = False  # a list answer without rows
    nonempty: bool = False  # a list answer with rows (the caller's own: the endpoint really answers)


@dataclass(frozen=True)
class Variant:
    name: str = ""
    path: str | None = None  # scene key for {id}; default PATH_TARGETS[resource]
    query: dict = dataclasses.field(default_factory=dict)  # parameter → scene key
    body: Callable[[dict], dict] | None = None
    field: str | None = None  # a write naming a foreign record: the 400 names this field
    admin: Outcome | None = None  # the admin's answer where they manage (writes must say)
    creates: type | None = None  # a scoped caller's write that creates one row of its own


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
    # the caller, and health
    ("GET", f"{API}me/"): spec(),
    ("GET", f"{API}me/goals/"): spec(),
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
}


def variants_of(op: Operation) -> list[Variant | None]:
    """The spec's variants plus one per uuid filter of the contract; None where the matrix has no mapping."""
    found = SPECS.get(op.key)
    if found is None:
        return [None]
    variants = list(found)
    for name in op.uuid_filters:
        target = ID_FILTERS.get(name) or PERSON_FILTERS.get(name)
        variants.append(Variant(f" ?{name}=B's", query={name: target}) if target else None)
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


@pytest.fixture
def scene(call_as, clinician, supervisor, other_clinician, admin_user, client_user):
    now = timezone.now()
    # A (supervised by S) and their couple; one partner uses the app as `client_user`.
    c_client = ClientFactory(primary_clinician=clinician, user=client_user)
    a_couple = CoupleFactory(partners=[c_client, ClientFactory(primary_clinician=clinician)])
    a_case = CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=a_couple)
    a_goal = GoalFactory(case=a_case, gas_levels=GAS_LEVELS)
    a_draft = NoteFactory(case=a_case)
    NoteFactory(case=a_case, status=NoteStatus.SIGNED, signed_at=now, cosign_required=True)
    a_free_client = ClientFactory(primary_clinician=clinician)

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
        "a_user": clinician.id,
        "a_email": clinician.email,
        "a_case": a_case.id,
        "a_goal": a_goal.id,
        "a_draft_note": a_draft.id,
        "a_free_client": a_free_client.id,
    }
    foreign = {
        "B's account id": ("account", b.id),
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
            ]
        },
        **{f"B's client {k}": ("clinical_text", v) for k, v in B_CLIENT.items()},
        **{f"B's partner {k}": ("clinical_text", v) for k, v in B_PARTNER.items()},
        **{f"B's goal {k}": ("clinical_text", v) for k, v in B_GOAL.items()},
        **{f"B's GAS level {k}": ("clinical_text", v) for k, v in B_GAS.items()},
        **{f"B's note {k}": ("clinical_text", v) for k, v in B_SECTIONS.items()},
        "B's addendum": ("clinical_text", B_ADDENDUM),
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
    ]
    return Scene(
        users=users,
        call_as=call_as,
        ids={k: str(v) for k, v in ids.items()},
        foreign={k: (category, str(v)) for k, (category, v) in foreign.items()},
        b_rows=b_rows,
        b_user=b,
        b_clients=[b_client, b_partner],
        b_couple=b_couple,
        b_case=b_case,
        b_goal=b_goal,
        b_note=b_note,
        own={"a_case": a_case, "a_goal": a_goal, "a_draft_note": a_draft},
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
    if "{id}" in path:
        path = path.replace("{id}", ids[variant.path or PATH_TARGETS[op.resource]])
    url = path + ("?" + urlencode({p: ids[key] for p, key in variant.query.items()}) if variant.query else "")
    headers = {}
    body = None
    if op.method in ("post", "patch", "put"):
        body = variant.body(ids) if variant.body else {}
    if op.method == "patch":
        headers["HTTP_IF_MATCH"] = "*"
    if op.method == "post":
        headers["HTTP_IDEMPOTENCY_KEY"] = SHARED_IDEMPOTENCY_KEY
    if body is None:
        response = getattr(caller, op.method)(url, **headers)
    else:
        response = getattr(caller, op.method)(url, body, format="json", **headers)
    return Sent(op.method, path, url, body), response


CURSOR = re.compile(r"cursor=([A-Za-z0-9_\-%]+)")


def visible_text(response, sent: Sent) -> str:
    """Everything the answer shows: body (without `instance` when it is the requested path), headers, and
    the decoded cursors of pagination links."""
    text = response.content.decode()
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


def check_outcome(response, outcome: Outcome) -> list[str]:
    content = response.content.decode()[:600]
    if response.status_code != outcome.status:
        return [f"status {response.status_code}, expected {outcome.status}: {content}"]
    failures = []
    body = response.json() if response.content else None
    if outcome.status >= 400:
        if not response.get("Content-Type", "").startswith(PROBLEM):
            failures.append(f"not problem+json: {response.get('Content-Type')}")
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
    """Status and body with the request's path and ids replaced by placeholders, to compare two answers."""
    body = response.json() if response.content else None
    if isinstance(body, dict) and body.get("instance") == sent.path:
        body["instance"] = "<the requested path>"
    text = json.dumps(body)
    for key, value in sorted(ids.items(), key=lambda kv: -len(kv[1])):
        if len(value) >= 6:
            text = text.replace(value, f"<{key}>")
    return response.status_code, json.loads(text)


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
    }
    return state


TOTALS = (User, Supervision, Client, Couple, CoupleMember, Case, TreatmentGoal, GoalAttainmentRating)
TOTALS += (ProgressNote, NoteAddendum)


def totals() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TOTALS}


def audit_naming_b(scene: Scene) -> list[str]:
    b_ids = [uuid.UUID(v) for label, (category, v) in scene.foreign.items() if label.endswith(" id")]
    events = AuditEvent.objects.filter(actor__in=scene.users.values(), object_ids__overlap=b_ids)
    return [f"audit event {e.action} {e.object_type} by {e.actor_role} names B's record {e.object_ids}" for e in events]


def expected(role: str, op: Operation, variant: Variant) -> Outcome | None:
    kind = access(role, op)
    if kind is None:
        return None
    if kind == FORBIDDEN:
        return Outcome(403, "role_not_allowed")
    if kind in (PUBLIC, SELF):
        return Outcome(200)
    if kind == MANAGES:
        if variant.admin:
            return variant.admin
        assert op.method == "get", f"{op}: say what the admin's write on B's object answers (Variant.admin)"
        return Outcome(200, nonempty=op.is_list)
    if variant.field:
        return Outcome(400, "invalid", field=variant.field)
    if "{id}" in op.path or set(variant.query) & set(RECORD_FILTERS):
        return Outcome(404, "not_found")
    if variant.query:
        return Outcome(200, empty=True)
    if op.method == "get":
        return Outcome(200, nonempty=op.is_list)
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
    assert {op.resource for op in OPERATIONS if "{id}" in op.path} <= set(PATH_TARGETS)
    assert all(access(role, op) for op in OPERATIONS for role in ROLES)


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
    allowed = MANAGES_ALLOWS[op.resource] if kind == MANAGES else set()
    failures += leaks(scene, response, sent, allowed)
    asked = sent.path.rstrip("/").rsplit("/", 1)[-1]
    if kind == MANAGES and response.status_code == 200 and "{id}" in op.path and str(response.json()["id"]) != asked:
        failures.append("the admin's answer is not the record asked for")
    if kind in (SCOPED, FORBIDDEN):
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
    if outcome.status == 201 and variant.creates:
        created = variant.creates.objects.get(pk=response.json()["id"])
        counts_before[variant.creates.__name__] += 1
        if created.primary_clinician_id != scene.users[role].pk:
            failures.append("the created record is not on the caller's caseload")
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
        failures = check_outcome(response, Outcome(200))
    else:
        failures = check_outcome(response, Outcome(401, "not_authenticated"))
        if response.status_code == 401 and not response.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append("no WWW-Authenticate: Bearer challenge")
    failures += leaks(scene, response, sent, set())
    if b_state(scene) != before or totals() != counts_before:
        failures.append("something changed")
    assert not failures, "\n".join([sent.url, *failures])


@pytest.mark.parametrize(("op", "variant"), BASE)
def test_a_token_without_the_operations_scope_is_403_for_every_role(scene, call_as, op, variant):
    assert variant is not None, f"{op}: no mapping in SPECS"
    before, counts_before = b_state(scene), totals()
    failures = []
    for role in ROLES:
        caller = call_as(scene.users[role], ["reports"])
        sent, response = send(caller, op, variant, scene.ids)
        if op.accepts_scopes({"reports"}):
            found = check_outcome(response, Outcome(200))
        else:
            found = check_outcome(response, Outcome(403, "insufficient_scope"))
            if not found:
                declared = sorted(sorted(scopes) for scopes in op.security)
                required = sorted(sorted(scopes) for scopes in response.json().get("required_scopes", []))
                if required != declared:
                    found.append(f"required_scopes {required}, the contract declares {declared}")
        found += leaks(scene, response, sent, set())
        failures += [f"{role}: {message}" for message in found]
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


# list → (role that reads it, its {id} if any, how to add one row that role sees)
LIST_GROWTH = {
    f"{API}staff/": (
        "admin",
        None,
        lambda s: SupervisionFactory(supervisor=s.users["supervisor"], supervisee=UserFactory(role=Role.CLINICIAN)),
    ),
    f"{API}supervisions/": ("admin", None, lambda s: SupervisionFactory()),
    f"{API}audit-events/": (
        "admin",
        None,
        lambda s: audit_record(
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
}
LISTS = [pytest.param(op, id=str(op)) for op in OPERATIONS if op.is_list]


def test_every_list_has_a_growth_recipe():
    assert {op.path for op in OPERATIONS if op.is_list} == set(LIST_GROWTH)


@pytest.mark.parametrize("op", LISTS)
def test_lists_cost_the_same_for_1_and_20_rows_and_never_show_b(scene, count_queries, op):
    role, path_key, grow = LIST_GROWTH[op.path]
    caller = scene.caller(role)
    variant = Variant(path=path_key)
    allowed = MANAGES_ALLOWS[op.resource] if access(role, op) == MANAGES else set()
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
