"""The practice generator behind `manage.py generate_practice`: a realistic couples-therapy practice, at any scale,
for the benchmark (issue 6).

At scale 1: 200 clinicians and supervisors (every clinician has an active supervisor) and one admin; 20,000 clients
in 10,000 couples; 25,000 cases (60% open, 10% paused, 30% closed; 100-150 for most clinicians); 100,000 goals;
300,000 homework assignments with 3,000,000 submissions; 200,000 progress notes; each case's weekly or fortnightly
sessions (about 740,000 at scale 1, four weeks ahead for open cases); 150,000 assessments (with the self-report
schedules and safety alerts they imply); GAS ratings; and the audit events the services would have written for all
of it. Scale N multiplies every count (at least one of each): see `Plan`.

How it loads
- Rows are built in Python with explicit ids (UUIDs from the seeded generator; bigints for couple members, join
  tables and audit events) and streamed into PostgreSQL with COPY, all in one transaction.
- That transaction runs with `session_replication_role = replica`, so no trigger fires: the append-only and
  signed-note guards stand aside, foreign keys are not re-checked row by row (the generator makes them right, and
  tests/bench checks them), and pghistory writes NO ROW HISTORY: generated rows have no entries in the `*event`
  tables; history starts with the first change the app makes. Check constraints and unique indexes still hold.
  Setting that parameter needs a superuser (the embedded server's `postgres` is one).
- Encrypted columns hold real Fernet tokens, one fresh token per value, made with the first key of
  FIELD_ENCRYPTION_KEYS (the same `clinical.fields.fernet()` the models use), so the API decrypts them.
- Audit events: one for each change the services would have written for the stored state (create, sign, cosign,
  pause, close, transition, review, amend, cancel, acknowledge), in time order, hash-chained with
  `kernel.audit.event_hash`, so `manage.py verify_audit` passes. Rows carry version 1 even where the services
  would have raised it.
- The two big tables (submissions, audit events) are loaded without their secondary indexes, which are built again
  at the end of the same transaction (one sorted build beats millions of single inserts).
- Afterwards the sequences of bigint ids are moved past the generated ids, and the tables are ANALYZEd.

Which databases it touches: it fills an EMPTY database (no users, clients, cases or audit events; the exercise
catalog may be loaded, with the audit events of its publication) and refuses any other. A generated database is
marked by its first audit event after the catalog's, the generator's own (`generate` on `practice`, with the scale
and seed in its detail); the generated events continue the chain from whatever the catalog appended. `--replace`
empties a database so marked (clinical tables, the audit trail, tokens, row history, idempotency records, clinicians'
own exercises; the catalog and OAuth applications stay) and generates again; it refuses a database whose audit
trail begins any other way.

The same seed and scale give the same practice, relative to the moment it is generated (ciphertexts differ:
every Fernet token has a fresh IV). Every generated account has the password GENERATED_PASSWORD.
"""

import heapq
import itertools
import json
import random
import sys
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter

import numpy as np
from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from clinical import adherence, instruments
from clinical.fields import fernet
from clinical.models import NOTE_SECTIONS, AuditEvent, Case, Client, User
from clinical.selectors import current_measure
from clinical.services.progress import FILL as PROGRESS_FILL
from exercises.models import Exercise
from kernel.audit import GENESIS_HASH, event_hash

from . import sample

GENERATED_PASSWORD = "generated-practice"
EMAIL_DOMAIN = "practice.example"  # reserved for examples (RFC 2606): no real address is ever generated
MARKER_ACTION, MARKER_OBJECT = "generate", "practice"
WINDOW_DAYS = 730  # everything happens within the last two years
NO_SUBSCALES = Jsonb({})  # PHQ-9, GAD-7 and CSI-4 have none
SAFETY_INDEX = instruments.SAFETY_ITEM[1] - 1  # PHQ-9 item 9, 0-based
# What became of a past session (weight), and the reason recorded.
SESSION_OUTCOMES = {
    "attended": (86, ""),
    "cancelled": (5, "Told us the day before."),
    "late_cancelled": (4, "Cancelled an hour before."),
    "no_show": (5, "Did not come."),
}
BULK_TABLES = ("clinical_homeworksubmission", "clinical_auditevent")  # loaded without their secondary indexes


@dataclass(frozen=True)
class Plan:
    """How many rows of each kind; `staff` counts clinicians and supervisors (one in ten supervises)."""

    staff: int
    clients: int
    couples: int
    cases: int
    goals: int
    assignments: int
    submissions: int
    notes: int
    assessments: int

    @classmethod
    def at_scale(cls, scale: float) -> "Plan":
        def n(name: str, least: int = 1) -> int:
            return max(least, round(getattr(SCALE_ONE, name) * scale))

        couples = n("couples")
        counts = {f.name: n(f.name) for f in fields(cls)}
        return cls(**{**counts, "staff": n("staff", 2), "couples": couples, "clients": max(2 * couples, n("clients"))})

    @property
    def supervisors(self) -> int:
        return max(1, round(self.staff / 10))


SCALE_ONE = Plan(
    staff=200,
    clients=20_000,
    couples=10_000,
    cases=25_000,
    goals=100_000,
    assignments=300_000,
    submissions=3_000_000,
    notes=200_000,
    assessments=150_000,
)


class GenerationRefused(Exception):
    """The database holds data the generator did not make (or cannot be loaded the generator's way)."""


@dataclass
class Report:
    plan: Plan
    tables: dict[str, tuple[int, float]] = field(default_factory=dict)  # table → (rows, seconds)
    seconds: float = 0.0
    database_bytes: int = 0


# ---------------------------------------------------------------- words


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GIVEN_NAMES = words(
    "Alex Sam Jordan Taylor Morgan Casey Riley Jamie Avery Quinn Rowan Emerson Harper Elliot Skyler Dana Robin "
    "Maria Ana Sofia Lucia Emma Olivia Amara Nia Priya Aisha Mei Yuki Leila Ingrid Chloe Grace Hannah Zoe Isla "
    "James Daniel Omar Mateo Liam Noah Ethan Kofi Arjun Hiro Luca Felix Samuel David Tomas Ravi Idris Oscar"
)
FAMILY_NAMES = words(
    "Rivera Okafor Smith Johnson Nguyen Garcia Patel Kim Cohen Rossi Muller Novak Silva Costa Haddad Mensah Tanaka "
    "Andersen Kowalski Brennan O'Neill Fischer Moreau Dubois Alvarez Romero Ibrahim Chen Wang Singh Sato Larsen "
    "Evans Walker Hughes Murphy Byrne Schmidt Weber Horvat Petrov Ivanova Yilmaz Demir Khan Ahmed Osei Adeyemi"
)
PRONOUNS = ("she/her", "he/him", "they/them", "she/they", "he/they", "")
CLINICIAN_SUFFIXES = ("LMFT", "LPC", "PsyD", "LCSW", "PhD", "MFT")
# A couple case's confidentiality policy, taken from its id (no draw: the rest of the practice stays as it was).
POLICIES = ("no_secrets", "limited_secrets", "limited_secrets", "separate_records")
CLOSING_REASONS = (
    "Goals met; both partners agree to end therapy.",
    "Couple decided to separate; referred for individual support.",
    "Client moved away; referred to a local therapist.",
    "Therapy ended by mutual agreement after review.",
    "No contact for three months after repeated outreach.",
    "Referred to a specialist service.",
)
GOAL_TITLES = {
    "trust_rebuilding": (
        "Rebuild trust through small promises kept",
        "Be transparent about plans and whereabouts",
        "Name broken promises instead of hiding them",
        "Repair after the affair at a pace both can bear",
    ),
    "communication": (
        "Hold a weekly check-in using 'I' statements",
        "Listen and reflect back before answering",
        "Raise concerns early, at a calm moment",
        "Ask for what is needed instead of hinting",
    ),
    "conflict_resolution": (
        "Repair within a day after an argument",
        "Take a pause when flooded and come back",
        "Keep arguments to one topic at a time",
        "Agree on a fair way to split household tasks",
    ),
    "emotional_intimacy": (
        "Share one vulnerable feeling each week",
        "Plan regular time together without screens",
        "Show appreciation daily",
        "Talk about hopes for the next five years",
    ),
    "other": ("Agree on a co-parenting routine", "Manage work stress together", "Reconnect with friends as a couple"),
}
GAS_LEVELS = {
    "-2": "Much less than expected: no change, or things got worse",
    "-1": "Less than expected: tried, but rarely",
    "0": "Expected: about once a week, as agreed",
    "1": "More than expected: most weeks, without reminders",
    "2": "Much more than expected: a habit both partners rely on",
}
NOTE_TEXT = {
    "subjective": (
        "Both describe a calmer week.",
        "Partner A felt unheard on Tuesday and said so the next day.",
        "Reports more arguments about money since the job change.",
        "Says the check-ins are starting to feel natural.",
        "Describes feeling lonely in the relationship.",
    ),
    "objective": (
        "Took turns without interrupting for most of the session.",
        "One escalation, self-corrected after a pause.",
        "Affect congruent; good eye contact between partners.",
        "Arrived late and tense; settled after ten minutes.",
    ),
    "assessment": (
        "Communication improving; trust repair is early.",
        "Pursue-withdraw cycle still dominant under stress.",
        "Progress towards goals steady.",
        "Risk low; no safety concerns raised.",
    ),
    "plan": (
        "Continue the weekly check-in.",
        "Add reflective listening practice.",
        "Review homework adherence next session.",
        "Introduce the repair-after-conflict exercise.",
    ),
    "data": ("Session focused on the week's conflict about chores.", "Reviewed homework; both completed most days."),
    "behavior": ("Partners sat apart at first, moved closer later.", "Client spoke quickly, calmer towards the end."),
    "intervention": ("Practised soft start-up with role play.", "Used enactment to slow down the cycle."),
    "response": ("Both engaged and agreed to the plan.", "Client reflected back accurately after prompting."),
    "body": (
        "A productive session; the couple named their cycle and practised slowing it down.",
        "Discussed the breakdown on Sunday and how each experienced it; agreed to try a pause next time.",
    ),
}
FEEDBACK = (
    "Thank you for doing this; notice how you stayed with it even when it was hard.",
    "Good work. Let's look at this together next session.",
    "This is exactly the kind of moment we talked about.",
)
PRIORITIES = {"high": 3, "medium": 5, "low": 2}
INSTRUCTIONS = ("", "", "Sunday evenings suit you both; keep it to twenty minutes.", "One line a day is enough.")


def weighted(rng: random.Random, table: dict):
    return rng.choices(list(table), weights=list(table.values()))[0]


def spread(total: int, weights: list[float]) -> list[int]:
    """Split `total` into whole numbers proportional to `weights` (largest remainders get the rest)."""
    if not weights:
        return []
    whole = sum(weights) or 1.0
    raw = [total * w / whole for w in weights]
    counts = [int(x) for x in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


class Progress:
    """One line on stderr per table: a bar, rows done / total and the rate (redrawn on a terminal)."""

    def __init__(self, stream, label: str, total: int):
        self.stream, self.label, self.total = stream, label, max(total, 1)
        self.started = self.drawn = perf_counter()
        self.live = getattr(stream, "isatty", lambda: False)()

    def update(self, done: int) -> None:
        now = perf_counter()
        if self.live and now - self.drawn > 0.2:
            self.drawn = now
            self.stream.write("\r" + self._line(done))
            self.stream.flush()

    def finish(self, done: int) -> float:
        self.stream.write(("\r" if self.live else "") + self._line(done) + "\n")
        self.stream.flush()
        return perf_counter() - self.started

    def _line(self, done: int) -> str:
        elapsed = perf_counter() - self.started
        filled = min(20, 20 * done // self.total)
        rate = done / elapsed if elapsed > 0 else 0.0
        return (
            f"{self.label:<38} [{'#' * filled}{'.' * (20 - filled)}] {done:>10,}/{self.total:<10,} "
            f"{rate:>9,.0f} rows/s {elapsed:6.1f}s"
        )


# ---------------------------------------------------------------- the practice in memory


@dataclass(slots=True, eq=False)
class StaffMember:
    id: uuid.UUID
    role: str
    number: int
    created_at: datetime
    supervisor: "StaffMember | None" = None
    quota: float = 0.0


@dataclass(slots=True, eq=False)
class Person:
    """A client; `adherence` is the share of their homework they do (0 without an app login)."""

    id: uuid.UUID
    number: int
    user_id: uuid.UUID | None = None
    adherence: float = 0.0
    clinician: StaffMember | None = None
    couple: "Pair | None" = None
    first_day: date | None = None
    created_at: datetime | None = None
    active: bool = False


@dataclass(slots=True, eq=False)
class Pair:
    id: uuid.UUID
    partners: list[Person]
    cases: list["Episode"] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Goal:
    id: uuid.UUID
    domain: str
    start_date: date


@dataclass(slots=True, eq=False)
class Episode:
    """A case: its subject (one client or a couple), its clinician and its time span."""

    id: uuid.UUID
    clients: list[Person]
    couple: Pair | None
    clinician: StaffMember | None = None
    status: str = "open"
    opened_on: date | None = None
    closed_on: date | None = None
    created_at: datetime | None = None
    ended_at: datetime | None = None  # when it was closed (closed cases)
    last_day: date | None = None  # the last day work happens on: the day before closing, or today
    goals: list[Goal] = field(default_factory=list)

    @property
    def days(self) -> int:
        return max(1, (self.last_day - self.opened_on).days + 1)


@dataclass(slots=True, eq=False)
class Homework:
    """An assignment while its submissions are drawn; its status follows from them."""

    id: uuid.UUID
    case: Episode
    version: dict
    assignees: list[Person]
    mode: str
    frequency: str
    target: int
    start: date
    due: date | None
    created_at: datetime
    open_until: datetime  # submissions are received before this moment
    withdraw_at: datetime | None
    goal: Goal | None
    units: list["Submitter"] = field(default_factory=list)
    status: str = "active"
    updated_at: datetime | None = None


@dataclass(slots=True, eq=False)
class Submitter:
    """Who submits an assignment (a client; for joint homework, either partner), how much of it they do, how many
    periods it has room for, and how many submissions they are given."""

    people: list[Person]
    adherence: float
    capacity: int
    count: int = 0


@dataclass(slots=True, eq=False)
class Sent:
    """A submission before it is written: a revision `amends` an earlier one, which is then `amended_by` it."""

    id: uuid.UUID
    person: Person
    completed: datetime
    received: datetime
    revision: int = 1
    amends: "Sent | None" = None
    amended_by: "Sent | None" = None


class AuditRecord:
    """What `kernel.audit.event_hash` reads from an AuditEvent, without building model instances."""

    __slots__ = (
        "action",
        "actor_id",
        "actor_role",
        "detail",
        "ip_address",
        "object_ids",
        "object_type",
        "occurred_at",
        "prev_hash",
        "request_id",
        "user_agent",
    )

    def __init__(self):
        self.request_id, self.ip_address, self.user_agent = "", None, ""


# ---------------------------------------------------------------- entry point


# The exercise catalog's publication (exercises.services.catalog_load): the only events of an empty database.
CATALOG_EVENTS = Q(actor__isnull=True, action="publish", object_type__in=["exercise", "instrument"])


def database_state() -> str:
    """Whether the database is empty, was generated (its audit trail begins with the marker, after the catalog's
    publication), or holds other data."""
    events = AuditEvent.objects.exclude(CATALOG_EVENTS).order_by("id")
    first = events.values("action", "object_type", "actor_id").first()
    if first == {"action": MARKER_ACTION, "object_type": MARKER_OBJECT, "actor_id": None}:
        return "generated"
    if first is None and not (User.objects.exists() or Client.objects.exists() or Case.objects.exists()):
        return "empty"
    return "other"


def generate_practice(*, scale: float, seed: int = 1, replace: bool = False, stream=None) -> Report:
    """Fill the database with a generated practice (see the module docstring for what, how, and when it refuses)."""
    if scale <= 0:
        raise GenerationRefused("--scale must be above 0.")
    stream = stream or sys.stderr
    state = database_state()
    if state == "other":
        raise GenerationRefused(
            "This database holds data generate_practice did not make (its audit trail does not begin with the "
            "generator's marker event); refusing to touch it. Point DATABASE_URL (or DEVDB_DIR) at an empty "
            "database, migrate it, and run again."
        )
    if state == "generated" and not replace:
        raise GenerationRefused("This database already holds a generated practice; pass --replace to generate anew.")
    if not Exercise.objects.filter(author__isnull=True).exists():
        from exercises.services import catalog_load

        catalog_load()
    started = perf_counter()
    plan = Plan.at_scale(scale)
    generator = Generator(plan, seed=seed, scale=scale, stream=stream)
    with transaction.atomic():
        with connection.cursor() as cursor:
            try:
                cursor.execute("SET LOCAL session_replication_role = replica")
            except Exception as exc:
                raise GenerationRefused(
                    f"Cannot switch triggers off for the load ({exc}); the generator needs a superuser connection."
                ) from exc
            if state == "generated":
                generator.empty_tables(cursor)
            rebuild = without_secondary_indexes(cursor, BULK_TABLES)
        generator.run()
        generator.phase("(rebuild indexes)", lambda: generator.rebuild_indexes(rebuild))
        generator.phase("clinical_homeworkprogress", generator.homework_progress)
        tables = generator.fix_sequences()
    generator.phase("(analyze)", lambda: generator.analyze(tables))
    generator.report.seconds = perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        generator.report.database_bytes = cursor.fetchone()[0]
    return generator.report


def without_secondary_indexes(cursor, tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes of `tables` other than their primary keys, for the load; return the statements that build
    them again. One sorted build per index afterwards costs far less than millions of single inserts."""
    cursor.execute(
        """SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
                  c.conname, pg_get_constraintdef(c.oid)
           FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype = 'u'
           WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary""",
        [list(tables)],
    )
    rebuild = []
    for table, index, definition, constraint, constraint_definition in cursor.fetchall():
        if constraint:  # a unique constraint owns its index
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
            rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_definition}')
        else:
            cursor.execute(f"DROP INDEX {index}")
            rebuild.append(definition)
    return rebuild


# ---------------------------------------------------------------- the generator


class Generator:
    def __init__(self, plan: Plan, *, seed: int, scale: float, stream):
        self.plan, self.seed, self.scale, self.stream = plan, seed, scale, stream
        self.rng = random.Random(seed)
        self.now = timezone.now().astimezone(UTC)
        self.today = self.now.date()
        self.report = Report(plan)
        self.events: list[tuple] = []  # (occurred_at, actor, action, object_type, object_ids, detail)
        self.fernet = fernet()
        self.password = make_password(GENERATED_PASSWORD)
        self.staff: list[StaffMember] = []
        self.clients: list[Person] = []
        self.couples: list[Pair] = []
        self.cases: list[Episode] = []
        self.homework: list[Homework] = []
        self.member_ids = 0
        self.loaded: list[str] = []  # tables written, in order

    # ---- helpers

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, day: date, earliest: int = 8, latest: int = 20) -> datetime:
        """A moment on `day` between the hours given, never in the future."""
        moment = datetime.combine(day, time.min, UTC) + timedelta(seconds=self.rng.uniform(earliest, latest) * 3600)
        return min(moment, self.now - timedelta(seconds=1))

    def after(self, moment: datetime, low: float, high: float, *, limit: datetime | None = None) -> datetime:
        """A moment `low`..`high` hours after `moment`, at most `limit` (default: now)."""
        later = moment + timedelta(seconds=self.rng.uniform(low, high) * 3600)
        return max(moment, min(later, limit or self.now))

    def day_between(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randint(0, max(0, (last - first).days)))

    def event(self, at: datetime, actor, action: str, object_type: str, ids: Iterable, detail=None) -> None:
        """actor: a StaffMember, a Person (their app login), or None."""
        if isinstance(actor, StaffMember):
            who = (actor.id, actor.role)
        elif isinstance(actor, Person):
            who = (actor.user_id, "client")
        else:
            who = (None, "")
        self.events.append((at, who, action, object_type, tuple(ids), detail))

    def encrypt(self, text: str) -> str:
        return self.fernet.encrypt(text.encode()).decode()

    def encrypt_json(self, value) -> str:
        # As clinical.fields.EncryptedJSONField stores it.
        return self.encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")))

    def copy(self, table: str, columns: str, rows: Iterable[tuple], total: int) -> None:
        """Stream rows into a table with COPY, with a progress line; the time includes building the rows."""
        progress = Progress(self.stream, table, total)
        done = 0
        with connection.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for done, row in enumerate(rows, 1):
                copy.write_row(row)
                if done % 4096 == 0:
                    progress.update(done)
        seconds = progress.finish(done)
        self.loaded.append(table)
        rows_before, seconds_before = self.report.tables.get(table, (0, 0.0))
        self.report.tables[table] = (rows_before + done, seconds_before + seconds)

    def phase(self, label: str, work) -> None:
        """A step that is not one table's COPY (planning, sorting, index builds), timed and reported like a table."""
        started = perf_counter()
        work()
        seconds = perf_counter() - started
        self.stream.write(f"{label:<38} {seconds:6.1f}s\n")
        self.report.tables[label] = (0, seconds)

    # ---- the run

    def run(self) -> None:
        self.phase("(plan: people and cases)", self.plan_people_and_cases)
        self.users()
        self.supervisions()
        self.clients_and_couples()
        self.case_rows()
        self.goals()
        self.notes()
        self.sessions()
        self.phase("(plan: homework)", self.plan_homework)
        self.submissions()
        self.assignments()
        self.assessments()
        self.audit_events()

    def empty_tables(self, cursor) -> None:
        """--replace: remove everything of the previous generated practice, and what the app added to it."""
        # The built-in measures stay (their migration published them); a practice's own go with the practice.
        keep = {"clinical_user", "clinical_oauthapplication", "clinical_instrument", "clinical_instrumentversion"}
        tables = [
            model._meta.db_table
            for model in apps.get_app_config("clinical").get_models(include_auto_created=True)
            if model._meta.db_table not in keep
        ]
        tables += [AuditEvent._meta.db_table, "pghistory_context", "api_idempotencyrecord", "django_session"]
        tables += [f"oauth2_provider_{name}" for name in ("accesstoken", "refreshtoken", "idtoken", "grant")]
        tables += ["oauth2_provider_devicegrant"]
        cursor.execute(f"TRUNCATE {', '.join(tables)}")
        # Tables outside the clinical app point at users, so users go row by row (no trigger fires here).
        cursor.execute(
            "DELETE FROM exercises_exerciseversion WHERE exercise_id IN "
            "(SELECT id FROM exercises_exercise WHERE author_id IS NOT NULL)"
        )
        cursor.execute("DELETE FROM exercises_exercise WHERE author_id IS NOT NULL")
        cursor.execute("UPDATE clinical_instrument SET current_id = NULL WHERE author_id IS NOT NULL")
        cursor.execute(
            "DELETE FROM clinical_instrumentversion WHERE instrument_id IN "
            "(SELECT id FROM clinical_instrument WHERE author_id IS NOT NULL) OR published_by_id IS NOT NULL"
        )
        cursor.execute("DELETE FROM clinical_instrument WHERE author_id IS NOT NULL")
        cursor.execute(
            "UPDATE clinical_instrument i SET current_id = (SELECT v.id FROM clinical_instrumentversion v "
            "WHERE v.instrument_id = i.id ORDER BY v.number DESC LIMIT 1) WHERE author_id IS NULL"
        )
        cursor.execute("UPDATE clinical_oauthapplication SET user_id = NULL WHERE user_id IS NOT NULL")
        cursor.execute("DELETE FROM clinical_user")

    # ---- people and cases

    def plan_people_and_cases(self) -> None:
        rng, plan = self.rng, self.plan
        first_day = self.today - timedelta(days=WINDOW_DAYS + 30)
        for number in range(plan.staff):
            role = "supervisor" if number < plan.supervisors else "clinician"
            member = StaffMember(
                self.uid(), role, number + 1, self.at(self.day_between(first_day, first_day + timedelta(days=20)))
            )
            # Most carry 100-150 cases; a few fewer (part time) or more.
            low, high = weighted(rng, {(100, 150): 90, (60, 100): 5, (150, 190): 5})
            member.quota = rng.uniform(low, high)
            self.staff.append(member)
        supervisors = self.staff[: plan.supervisors]
        for index, member in enumerate(self.staff[plan.supervisors :]):
            member.supervisor = supervisors[index % len(supervisors)]
        for member in supervisors[1:]:
            member.supervisor = supervisors[0]  # the clinical director oversees the other supervisors

        self.clients = [Person(self.uid(), number + 1) for number in range(plan.clients)]
        for person in self.clients:
            group = weighted(rng, {"all": 15, "some": 60, "none": 15, "no_login": 10})
            person.adherence = {"all": 1.0, "some": rng.uniform(0.25, 0.9), "none": 0.0, "no_login": 0.0}[group]
            person.user_id = None if group == "no_login" else self.uid()
        self.couples = [Pair(self.uid(), self.clients[2 * i : 2 * i + 2]) for i in range(plan.couples)]
        for pair in self.couples:
            for person in pair.partners:
                person.couple = pair

        # Cases: every couple one (some a second, earlier episode); the rest individual work with one client.
        couple_cases = min(plan.cases, max(plan.couples, round(plan.cases * 0.6)))
        extra_episodes = max(0, couple_cases - len(self.couples))
        subjects = list(self.couples[:couple_cases]) + rng.choices(self.couples, k=extra_episodes)
        subjects += rng.choices(self.clients, k=plan.cases - couple_cases)
        episodes: dict[int, list[Episode]] = {}
        for subject in subjects:
            if isinstance(subject, Pair):
                episode = Episode(self.uid(), subject.partners, subject)
            else:
                episode = Episode(self.uid(), [subject], None)
            episodes.setdefault(id(subject), []).append(episode)
        self.assign_caseloads(episodes)
        self.date_episodes(list(episodes.values()))
        self.cases = [episode for group in episodes.values() for episode in group]
        rng.shuffle(self.cases)

        for pair in self.couples:
            pair.cases = list(episodes.get(id(pair), []))
        for case in self.cases:
            for person in case.clients:
                person.first_day = min(person.first_day or case.opened_on, case.opened_on)
                person.active = person.active or case.status != "closed"
        for person in self.clients:
            first = (person.first_day or self.day_between(self.today - timedelta(days=WINDOW_DAYS), self.today)) - (
                timedelta(days=rng.randint(1, 10))
            )
            person.created_at = self.at(first, 9, 17)

    def assign_caseloads(self, episodes: dict[int, list[Episode]]) -> None:
        """A couple, its partners and all their cases go to one clinician (the partners' primary clinician); the
        largest units are placed first, each with whoever has the most room left in their caseload."""
        units: list[tuple[list[Person], list[Episode]]] = []
        for pair in self.couples:
            work = episodes.get(id(pair), []) + [e for p in pair.partners for e in episodes.get(id(p), [])]
            units.append((pair.partners, work))
        for person in self.clients:
            if person.couple is None:
                units.append(([person], episodes.get(id(person), [])))
        total = sum(m.quota for m in self.staff)
        room = [(-m.quota * self.plan.cases / total, m.number, m) for m in self.staff]
        heapq.heapify(room)
        for people, work in sorted(units, key=lambda unit: -len(unit[1])):
            left, number, member = heapq.heappop(room)
            for person in people:
                person.clinician = member
            for episode in work:
                episode.clinician = member
            heapq.heappush(room, (left + len(work), number, member))

    def date_episodes(self, groups: list[list[Episode]]) -> None:
        """Statuses about 60% open / 10% paused / 30% closed; a subject's earlier episodes are closed."""
        rng, total = self.rng, self.plan.cases
        forced = sum(len(group) - 1 for group in groups)
        closed = max(0, min(len(groups), round(total * 0.3) - forced))
        paused = min(len(groups) - closed, round(total * 0.1))
        last_statuses = ["closed"] * closed + ["paused"] * paused + ["open"] * (len(groups) - closed - paused)
        rng.shuffle(last_statuses)
        for group, last_status in zip(groups, last_statuses, strict=True):
            k = len(group)
            oldest = WINDOW_DAYS if last_status == "closed" or k > 1 else 540
            span = rng.randint(30 + 45 * (k - 1), oldest)
            first = self.today - timedelta(days=span)
            offsets = [0, *sorted(rng.sample(range(1, span - 14), k - 1))]
            for i, episode in enumerate(group):
                episode.opened_on = first + timedelta(days=offsets[i])
                episode.created_at = self.at(episode.opened_on, 8, 10)
                if i < k - 1:
                    gap = offsets[i + 1] - offsets[i]
                    episode.status = "closed"
                    episode.closed_on = episode.opened_on + timedelta(
                        days=min(gap, max(1, int(gap * rng.uniform(0.5, 0.95))))
                    )
                else:
                    episode.status = last_status
                    if last_status == "closed":
                        length = (self.today - episode.opened_on).days
                        episode.closed_on = episode.opened_on + timedelta(
                            days=max(1, int(length * rng.uniform(0.3, 0.95)))
                        )
                        episode.closed_on = min(episode.closed_on, self.today)
                episode.last_day = self.today
                if episode.closed_on:
                    episode.ended_at = max(episode.created_at, self.at(episode.closed_on, 16, 19))
                    episode.last_day = episode.closed_on - timedelta(days=1)

    # ---- users, supervisions, clients, couples, cases

    def users(self) -> None:
        def rows():
            created = self.at(self.today - timedelta(days=WINDOW_DAYS + 40))
            yield (self.uid(), f"admin@{EMAIL_DOMAIN}", "Practice admin", "admin", created)
            for m in self.staff:
                given, family = self.rng.choice(GIVEN_NAMES), self.rng.choice(FAMILY_NAMES)
                name = f"{given} {family}, {self.rng.choice(CLINICIAN_SUFFIXES)}"
                yield (m.id, f"{m.role}{m.number:04d}@{EMAIL_DOMAIN}", name, m.role, m.created_at)
            for p in self.clients:
                if p.user_id:
                    yield (
                        p.user_id,
                        self.client_email(p),
                        self.rng.choice(GIVEN_NAMES),
                        "client",
                        self.after(p.created_at, 0.2, 24),
                    )

        total = 1 + len(self.staff) + sum(1 for p in self.clients if p.user_id)
        self.copy(
            "clinical_user",
            "id, email, display_name, role, created_at, updated_at, password, is_active, version",
            ((i, e, n, r, c, c, self.password, True, 1) for i, e, n, r, c in rows()),
            total,
        )

    @staticmethod
    def client_email(person: Person) -> str:
        return f"client{person.number:05d}@{EMAIL_DOMAIN}"

    def supervisions(self) -> None:
        supervised = [m for m in self.staff if m.supervisor]
        self.copy(
            "clinical_supervision",
            "id, created_at, updated_at, version, started_on, ended_on, supervisee_id, supervisor_id",
            (
                (self.uid(), m.created_at, m.created_at, 1, m.created_at.date(), None, m.id, m.supervisor.id)
                for m in supervised
            ),
            len(supervised),
        )

    def clients_and_couples(self) -> None:
        rng = self.rng

        def client_rows():
            for p in self.clients:
                given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
                born = self.today - timedelta(days=rng.randint(22 * 365, 70 * 365))
                status = "active" if p.active else weighted(rng, {"discharged": 7, "inactive": 3})
                self.event(p.created_at, p.clinician, "create", "client", [p.id])
                yield (
                    p.id, p.created_at, p.created_at, 1, given, family, given if rng.random() < 0.1 else "",
                    rng.choice(PRONOUNS), born if rng.random() < 0.9 else None, self.client_email(p),
                    f"+1 555 01{rng.randint(0, 99):02d} {rng.randint(0, 9999):04d}", status, p.clinician.id, p.user_id,
                )  # fmt: skip

        self.copy(
            "clinical_client",
            "id, created_at, updated_at, version, given_name, family_name, preferred_name, pronouns, date_of_birth, "
            "email, phone, status, primary_clinician_id, user_id",
            client_rows(),
            len(self.clients),
        )
        ended: set[int] = set()

        def couple_rows():
            for pair in self.couples:
                opened = min((c.created_at for c in pair.cases), default=None)
                created = max(p.created_at for p in pair.partners)
                created = self.after(created, 0.1, 2, limit=opened) if opened else self.after(created, 0.1, 48)
                updated, status = created, "active"
                if pair.cases and all(c.status == "closed" for c in pair.cases) and rng.random() < 0.25:
                    status, updated = "ended", max(c.ended_at for c in pair.cases)
                    ended.add(id(pair))
                kind = weighted(rng, {"married": 50, "partnered": 25, "dating": 15, "separated": 5, "other": 5})
                since = self.today - timedelta(days=rng.randint(365, 30 * 365)) if rng.random() < 0.6 else None
                self.event(created, pair.partners[0].clinician, "create", "couple", [pair.id])
                yield (pair.id, created, updated, 1, kind, since, status)

        self.copy(
            "clinical_couple",
            "id, created_at, updated_at, version, relationship_type, together_since, status",
            couple_rows(),
            len(self.couples),
        )

        def member_rows():
            for pair in self.couples:
                for position, person in enumerate(pair.partners, 1):
                    self.member_ids += 1
                    yield (self.member_ids, pair.id, person.id, position, id(pair) not in ended)

        self.copy(
            "clinical_couplemember",
            "id, couple_id, client_id, position, couple_active",
            member_rows(),
            2 * len(self.couples),
        )

    def case_rows(self) -> None:
        rng = self.rng
        concerns = ("trust", "communication", "conflict", "emotional_intimacy", "infidelity", "parenting",
                    "life_transition", "other")  # fmt: skip

        def rows():
            for case in self.cases:
                self.event(case.created_at, case.clinician, "create", "case", [case.id])
                updated = case.created_at
                if case.status == "paused":
                    updated = self.at(self.day_between(case.opened_on, self.today))
                    updated = max(updated, case.created_at)
                    self.event(updated, case.clinician, "pause", "case", [case.id], {"from": "open", "to": "paused"})
                if case.status == "closed":
                    updated = case.ended_at
                    self.event(updated, case.clinician, "close", "case", [case.id], {"from": "open", "to": "closed"})
                couple = case.couple
                yield (
                    case.id, case.created_at, updated, 1, "couple" if couple else "individual", case.status,
                    case.opened_on, case.closed_on, rng.choice(CLOSING_REASONS) if case.closed_on else "",
                    sorted(rng.sample(concerns, rng.randint(1, 3))), case.clinician.id,
                    None if couple else case.clients[0].id, couple.id if couple else None,
                    POLICIES[case.id.int % len(POLICIES)] if couple else "",
                )  # fmt: skip

        self.copy(
            "clinical_case",
            "id, created_at, updated_at, version, subject_type, status, opened_on, closed_on, closing_reason, "
            "presenting_concerns, clinician_id, client_id, couple_id, confidentiality_policy",
            rows(),
            len(self.cases),
        )

    # ---- goals and GAS ratings

    def goals(self) -> None:
        rng = self.rng
        counts = spread(self.plan.goals, [rng.uniform(0.5, 1.5) for _ in self.cases])
        ratings: list[tuple] = []
        domains = {"trust_rebuilding": 25, "communication": 30, "conflict_resolution": 25, "emotional_intimacy": 15,
                   "other": 5}  # fmt: skip
        open_lifecycle = {"proposed": 10, "active": 58, "on_hold": 8, "completed": 15, "cancelled": 6,
                          "entered_in_error": 3}  # fmt: skip
        closed_lifecycle = {"active": 15, "completed": 55, "cancelled": 27, "entered_in_error": 3}
        paths = {
            "proposed": [],
            "active": ["active"],
            "on_hold": ["active", "on_hold"],
            "completed": ["active", "completed"],
            "cancelled": ["active", "cancelled"],
            "entered_in_error": ["entered_in_error"],
        }
        achievements = {
            "proposed": {"in_progress": 1},
            "active": {"in_progress": 40, "improving": 35, "no_change": 15, "worsening": 10},
            "on_hold": {"in_progress": 40, "no_change": 40, "worsening": 20},
            "completed": {"achieved": 80, "not_achieved": 20},
            "cancelled": {"not_achieved": 50, "no_change": 30, "in_progress": 20},
            "entered_in_error": {"in_progress": 1},
        }

        def rows():
            for case, count in zip(self.cases, counts, strict=True):
                ends_at = case.ended_at or self.now
                for _ in range(count):
                    domain = weighted(rng, domains)
                    start = case.opened_on + timedelta(days=rng.randint(0, min(21, case.days - 1)))
                    goal = Goal(self.uid(), domain, start)
                    case.goals.append(goal)
                    created = max(case.created_at, self.at(start, 10, 18))
                    lifecycle = weighted(rng, closed_lifecycle if case.status == "closed" else open_lifecycle)
                    changed, previous = created, "proposed"
                    self.event(created, case.clinician, "create", "goal", [goal.id])
                    for step, status in enumerate(paths[lifecycle], 1):
                        hours = (ends_at - changed).total_seconds() / 3600
                        changed = self.after(changed, 0, hours * step / (len(paths[lifecycle]) + 1), limit=ends_at)
                        detail = {"from": previous, "to": status}
                        self.event(changed, case.clinician, "transition", "goal", [goal.id], detail)
                        previous = status
                    gas = rng.random() < 0.3
                    if gas and lifecycle in ("active", "on_hold", "completed"):
                        ratings.extend(self.gas_ratings(case, goal, start, created))
                    target = start + timedelta(days=rng.randint(30, 180)) if rng.random() < 0.6 else None
                    yield (
                        goal.id, created, changed, 1, domain, rng.choice(GOAL_TITLES[domain]),
                        "Agreed with the clients at intake." if rng.random() < 0.5 else "", weighted(rng, PRIORITIES),
                        start, target, lifecycle, weighted(rng, achievements[lifecycle]),
                        Jsonb(GAS_LEVELS) if gas else None, case.id,
                    )  # fmt: skip

        self.copy(
            "clinical_treatmentgoal",
            "id, created_at, updated_at, version, domain, title, description, priority, start_date, target_date, "
            "lifecycle_status, achievement_status, gas_levels, case_id",
            rows(),
            self.plan.goals,
        )
        self.copy(
            "clinical_goalattainmentrating",
            "id, goal_id, rated_on, score, rated_by_id, created_at",
            iter(ratings),
            len(ratings),
        )

    def gas_ratings(self, case: Episode, goal: Goal, start: date, created: datetime) -> list[tuple]:
        """One to four ratings on distinct days, moving up from below the expected level."""
        span = (case.last_day - start).days
        if span < 1:
            return []
        days = sorted(self.rng.sample(range(1, span + 1), min(span, self.rng.randint(1, 4))))
        score = self.rng.choice((-2, -1, -1, 0))
        rows = []
        for offset in days:
            rated_on = start + timedelta(days=offset)
            at = max(created, self.at(rated_on, 10, 19))
            rating_id = self.uid()
            self.event(at, case.clinician, "create", "gas_rating", [rating_id], {"goal": str(goal.id)})
            rows.append((rating_id, goal.id, rated_on, score, case.clinician.id, at))
            score = min(2, score + self.rng.choice((0, 1, 1)))
        return rows

    # ---- notes

    def notes(self) -> None:
        rng = self.rng
        counts = spread(self.plan.notes, [(c.days + 14) * rng.uniform(0.6, 1.4) for c in self.cases])
        links: list[tuple] = []
        formats = {"soap": 50, "dap": 25, "birp": 15, "narrative": 10}

        def rows():
            for case, count in zip(self.cases, counts, strict=True):
                author = case.clinician
                for _ in range(count):
                    note_id = self.uid()
                    session = self.day_between(case.opened_on, case.last_day)
                    created = max(case.created_at, self.at(session, 10, 20))
                    note_format = weighted(rng, formats)
                    recent = (self.today - session).days < 7
                    draft = case.status != "closed" and rng.random() < (0.5 if recent else 0.01)
                    sections = {
                        name: "" if draft and rng.random() < 0.3 else " ".join(rng.sample(NOTE_TEXT[name], 2))
                        for name in NOTE_SECTIONS[note_format]
                    }
                    self.event(created, author, "create", "note", [note_id])
                    status, signed, cosigned, cosigner, reason, updated = "draft", None, None, None, "", created
                    if not draft:
                        status = "signed"
                        signed = updated = self.after(created, 0.2, 72)
                        self.event(signed, author, "sign", "note", [note_id])
                        old = (self.now - signed).days > 14
                        if author.supervisor and rng.random() < (0.95 if old else 0.4):
                            cosigner = author.supervisor
                            cosigned = updated = self.after(signed, 1, 240)
                            self.event(cosigned, cosigner, "cosign", "note", [note_id])
                        if rng.random() < 0.01:
                            status, reason = "entered_in_error", "Written on the wrong case."
                            updated = self.after(updated, 1, 72)
                            self.event(updated, author, "enter_in_error", "note", [note_id])
                    addressed = [g for g in case.goals if g.start_date <= session]
                    for goal in rng.sample(addressed, min(len(addressed), rng.randint(0, 2))):
                        links.append((len(links) + 1, note_id, goal.id))
                    yield (
                        note_id, created, updated, 1, session, note_format, self.encrypt_json(sections), status, signed,
                        bool(author.supervisor) and not draft, cosigned, reason, author.id, case.id,
                        cosigner.id if cosigner else None,
                    )  # fmt: skip

        self.copy(
            "clinical_progressnote",
            "id, created_at, updated_at, version, session_date, format, sections, status, signed_at, cosign_required, "
            "cosigned_at, entered_in_error_reason, author_id, case_id, cosigned_by_id",
            rows(),
            self.plan.notes,
        )
        self.copy(
            "clinical_progressnote_goals_addressed",
            "id, progressnote_id, treatmentgoal_id",
            iter(links),
            len(links),
        )

    # ---- sessions

    def sessions(self) -> None:
        """Each case's appointments: weekly (a quarter fortnightly) at the case's own weekday and hour, from its
        opening to its last day, and for an open case four weeks ahead; 50 minutes each, never two of a clinician
        at once (the next free hour is taken). Past ones attended (86%), cancelled, cancelled late or missed; a
        couple case's session now and then with one partner alone. Booked a few days before, with its audit
        event; what became of it is recorded an hour after it began."""
        rng = self.rng
        outcomes = {status: weight for status, (weight, _) in SESSION_OUTCOMES.items()}
        modalities = {"in_person": 55, "video": 40, "phone": 5}
        taken: dict[uuid.UUID, set[tuple[date, int]]] = {}
        rows, attendees = [], []
        for case in self.cases:
            busy = taken.setdefault(case.clinician.id, set())
            weekday, hour = rng.randrange(5), rng.randrange(8, 19)
            step = 14 if rng.random() < 0.25 else 7
            modality = weighted(rng, modalities)
            day = case.opened_on + timedelta(days=(weekday - case.opened_on.weekday()) % 7)
            last = case.last_day + timedelta(days=28) if case.status == "open" else case.last_day
            while day <= last:
                on, at_hour = day, hour
                while (on, at_hour) in busy:  # the clinician's next free hour, that day or the next
                    at_hour += 1
                    if at_hour > 19:
                        on, at_hour = on + timedelta(days=1), 8
                busy.add((on, at_hour))
                starts = datetime.combine(on, time(at_hour), UTC)
                ends = starts + timedelta(minutes=50)
                booked = max(case.created_at, min(starts, self.now) - timedelta(days=rng.uniform(1, 14)))
                session_id = self.uid()
                self.event(booked, case.clinician, "create", "session", [session_id])
                status, reason, updated = "scheduled", "", booked
                if ends < self.now:
                    status = weighted(rng, outcomes)
                    reason = SESSION_OUTCOMES[status][1]
                    updated = max(booked, min(self.now, starts + timedelta(hours=1)))
                    detail = {"from": "scheduled", "to": status}
                    self.event(updated, case.clinician, "transition", "session", [session_id], detail)
                partner = None
                present = case.clients
                if case.couple and rng.random() < 0.08:
                    partner = rng.choice(case.clients)
                    present = [partner]
                place = f"https://video.example/{session_id.hex[:12]}" if modality == "video" else "Room 2"
                rows.append(
                    (session_id, booked, updated, 1, starts, ends, modality, "individual" if partner else "joint",
                     place if modality != "phone" else "", status, reason, case.id, case.clinician.id,
                     partner.id if partner else None)
                )  # fmt: skip
                attendees.extend((len(attendees) + 1, session_id, person.id) for person in present)
                day += timedelta(days=step)
        self.copy(
            "clinical_session",
            "id, created_at, updated_at, version, starts_at, ends_at, modality, kind, location, status, "
            "status_reason, case_id, clinician_id, partner_id",
            iter(rows),
            len(rows),
        )
        self.copy("clinical_session_attendees", "id, session_id, client_id", iter(attendees), len(attendees))

    # ---- homework

    def plan_homework(self) -> None:
        """Every assignment's exercise, people, rhythm and window, then how many submissions each submitter makes:
        in proportion to their adherence and what the assignment asks, scaled so the total is the plan's."""
        rng = self.rng
        versions = [
            {
                "id": e.current.id,
                "audience": e.current.audience,
                "frequency": e.current.suggested_frequency,
                "domains": e.current.domains,
                "fields": e.current.response_fields,
            }
            for e in Exercise.objects.filter(author__isnull=True).select_related("current").order_by("slug")
        ]
        alone = [v for v in versions if v["audience"] != "couple"]
        targets = {"once": (1,), "daily": (14, 21, 28, 28, 42, 56), "weekly": (4, 6, 8, 8, 12, 16)}
        counts = spread(self.plan.assignments, [(c.days + 30) * rng.uniform(0.6, 1.4) for c in self.cases])
        for case, count in zip(self.cases, counts, strict=True):
            for _ in range(count):
                goal = rng.choice(case.goals) if case.goals and rng.random() < 0.7 else None
                choices = versions if case.couple else alone
                fitting = [v for v in choices if goal and goal.domain in v["domains"]]
                version = rng.choice(fitting or choices)
                assignees = list(case.clients)
                if version["audience"] != "couple" and len(assignees) == 2 and rng.random() < 0.3:
                    assignees = [rng.choice(assignees)]
                joint = len(assignees) == 2 and rng.random() < {"couple": 0.6, "either": 0.2}.get(
                    version["audience"], 0
                )
                frequency = version["frequency"] if rng.random() < 0.6 else rng.choice(("daily", "weekly"))
                target = rng.choice(targets[frequency])
                # Homework is given with room to do it before a case closes; on open cases some has just begun.
                length = {"once": 7, "daily": target, "weekly": 7 * target}[frequency]
                start = self.day_between(case.opened_on, max(case.opened_on, case.last_day - timedelta(days=length)))
                if case.status != "closed" and rng.random() < 0.3:
                    start = self.day_between(case.opened_on, case.last_day)
                due = None
                if rng.random() < 0.7:
                    room = {"once": rng.randint(3, 14), "daily": target - 1, "weekly": 7 * (target - 1) + 6}
                    due = start + timedelta(days=room[frequency] + rng.randint(0, 7))
                created = max(case.created_at, self.at(start, 8, 18))
                # Submissions arrive before the case closes (or the homework is withdrawn), and never after now.
                open_until = case.ended_at - timedelta(minutes=1) if case.ended_at else self.now
                withdraw_at = None
                stale = due + timedelta(days=15) if due else start + timedelta(days=90)
                if case.status != "closed" and stale < self.today and rng.random() < 0.5:
                    # The clinician withdraws homework long overdue (or long open) if it was not done by then.
                    withdraw_at = self.at(self.day_between(stale, min(self.today, stale + timedelta(days=30))))
                    open_until = withdraw_at - timedelta(minutes=1)
                last = min(case.last_day, due or case.last_day, open_until.date())
                capacity = adherence.expected_by(frequency=frequency, start=start, due=None, target=target, today=last)
                work = Homework(self.uid(), case, version, assignees, "joint" if joint else "each", frequency, target,
                                start, due, created, open_until, withdraw_at, goal)  # fmt: skip
                submitters = [p for p in assignees if p.user_id]
                if joint:
                    share = max((p.adherence for p in submitters), default=0.0)
                    work.units = [Submitter(submitters, share, capacity)] if submitters else []
                else:
                    work.units = [Submitter([p], p.adherence, capacity) for p in submitters]
                self.homework.append(work)
        self.allocate_submissions()

    def allocate_submissions(self) -> None:
        units = [unit for work in self.homework for unit in work.units]
        if not units:  # nobody could submit anything (only at the tiniest scales)
            return
        capacity = np.array([u.capacity for u in units], dtype=float)
        share = np.array([u.adherence for u in units], dtype=float)
        wanted = capacity * share
        if wanted.sum() == 0:  # nobody would do anything (tiny scales): let anyone with a login submit
            wanted = capacity.copy()
        everything = share >= 1.0  # those who do all their homework do exactly that
        allocation = np.where(everything, capacity, 0.0)
        rest = self.plan.submissions - allocation.sum()
        free = ~everything & (wanted > 0)
        if rest <= 0 or not free.any():
            allocation = wanted * (self.plan.submissions / wanted.sum())
        elif capacity[free].sum() >= rest:
            low, high = 0.0, 1.0
            while np.minimum(capacity[free], high * wanted[free]).sum() < rest:
                high *= 2
            for _ in range(60):
                middle = (low + high) / 2
                if np.minimum(capacity[free], middle * wanted[free]).sum() < rest:
                    low = middle
                else:
                    high = middle
            allocation[free] = np.minimum(capacity[free], high * wanted[free])
        else:  # more submissions than periods: the surplus are repeats within a period
            allocation[free] = capacity[free] + (rest - capacity[free].sum()) * wanted[free] / wanted[free].sum()
        whole = np.floor(allocation).astype(int)
        short = self.plan.submissions - int(whole.sum())
        if short > 0:
            order = np.argsort(-(allocation - whole), kind="stable")
            whole[order[:short]] += 1
        elif short < 0:
            order = np.argsort(-whole, kind="stable")
            for i in order[:-short]:
                whole[i] -= 1
        for unit, count in zip(units, whole.tolist(), strict=True):
            unit.count = count

    def submissions(self) -> None:
        self.copy(
            "clinical_homeworksubmission",
            "id, created_at, updated_at, version, completed_at, received_at, period, responses, shared_with_partner, "
            "status, revision, feedback, reviewed_at, amends_id, assignment_id, case_id, client_id, reviewed_by_id",
            (row for work in self.homework for row in self.submissions_of(work)),
            self.plan.submissions,
        )

    def submissions_of(self, work: Homework) -> list[tuple]:
        """The submissions of one assignment (a few amended by a later revision); settles its status too."""
        rng = self.rng
        sent: list[Sent] = []
        for unit in work.units:
            people, capacity = unit.people, unit.capacity
            if unit.count == 0 or capacity == 0:
                continue
            revisions = sum(1 for _ in range(unit.count - 1) if rng.random() < 0.004)
            originals = unit.count - revisions
            if originals <= capacity:
                periods = sorted(rng.sample(range(capacity), originals))
            else:  # more than the assignment asks for: some periods done twice
                periods = sorted([*range(capacity), *rng.choices(range(capacity), k=originals - capacity)])
            firsts = []
            for period in periods:
                completed = self.completion_moment(work, period)
                late = rng.random() < 0.08  # the phone was offline for a while
                received = self.after(completed, 0.001, 96 if late else 0.2, limit=work.open_until)
                firsts.append(Sent(self.uid(), rng.choice(people), completed, received))
            for _ in range(revisions):
                latest = rng.choice(firsts)
                while latest.amended_by:
                    latest = latest.amended_by
                received = self.after(latest.received, 0.1, 48, limit=work.open_until)
                latest.amended_by = Sent(self.uid(), latest.person, latest.completed, received, latest.revision + 1)
                latest.amended_by.amends = latest
                sent.append(latest.amended_by)
            sent.extend(firsts)
        self.settle(work, sent)
        return [self.submission_row(work, one) for one in sent]

    def settle(self, work: Homework, sent: list["Sent"]) -> None:
        """Completed when every required completion is in (as clinical.adherence counts them); otherwise cancelled
        when its case closed or the clinician withdrew it, or still active."""
        periods: dict = {}
        for one in sent:
            if one.amended_by is None:
                periods.setdefault(one.person.id, set()).add(self.period(work, one))
        progress = adherence.assignment_progress(
            frequency=work.frequency, mode=work.mode, start=work.start, due=work.due, target=work.target,
            assignees=[p.id for p in work.assignees], periods_by_client=periods, today=self.today,
        )  # fmt: skip
        work.status, work.updated_at = "active", max((one.received for one in sent), default=work.created_at)
        clinician = work.case.clinician
        if progress.done:
            work.status = "completed"
        elif work.case.status == "closed":
            work.status, work.updated_at = "cancelled", work.case.ended_at
            self.event(work.updated_at, clinician, "cancel", "assignment", [work.id], {"reason": "case closed"})
        elif work.withdraw_at:
            work.status, work.updated_at = "cancelled", max(work.withdraw_at, work.updated_at)
            self.event(work.updated_at, clinician, "cancel", "assignment", [work.id])

    @staticmethod
    def period(work: Homework, one: "Sent") -> int:
        return adherence.period_of(frequency=work.frequency, start=work.start, on=one.completed.date())

    def completion_moment(self, work: Homework, period: int) -> datetime:
        """When a completion of `period` happened: its day (any day of the week for weekly; any day in the window
        for a one-off), in the waking hours, before the assignment stopped taking submissions."""
        last = min(work.case.last_day, work.due or self.today, work.open_until.date())
        if work.frequency == "once":
            day = self.day_between(work.start, last)
        elif work.frequency == "daily":
            day = work.start + timedelta(days=period)
        else:
            first = work.start + timedelta(days=7 * period)
            day = self.day_between(first, min(first + timedelta(days=6), last))
        moment = self.at(day, 7, 23)
        if moment >= work.open_until:
            moment = max(datetime.combine(day, time.min, UTC), work.open_until - timedelta(minutes=1))
        return moment

    def submission_row(self, work: Homework, one: "Sent") -> tuple:
        rng = self.rng
        responses = self.encrypt_json(sample.responses(work.version["fields"], rng, on=one.completed.date()))
        if one.amends is None:
            self.event(one.received, one.person, "create", "submission", [one.id])
        else:
            detail = {"amends": str(one.amends.id)}
            self.event(one.received, one.person, "amend", "submission", [one.id, one.amends.id], detail)
        feedback = reviewed_at = reviewer = None
        current = one.amended_by is None
        if current and rng.random() < 0.05:
            reviewer = work.case.clinician
            reviewed_at = self.after(one.received, 1, 168)
            feedback = self.encrypt(rng.choice(FEEDBACK))
            self.event(reviewed_at, reviewer, "review", "submission", [one.id])
        shared = work.case.couple is not None and rng.random() < 0.4
        return (
            one.id, one.received, reviewed_at or one.received, 1, one.completed, one.received, self.period(work, one),
            responses, shared, "current" if current else "amended", one.revision, feedback, reviewed_at,
            one.amends.id if one.amends else None, work.id, work.case.id, one.person.id,
            reviewer.id if reviewer else None,
        )  # fmt: skip

    def assignments(self) -> None:
        def rows():
            for work in self.homework:
                self.event(work.created_at, work.case.clinician, "create", "assignment", [work.id])
                yield (
                    work.id, work.created_at, work.updated_at, 1, work.mode, self.rng.choice(INSTRUCTIONS), work.start,
                    work.due, work.frequency, work.target, work.status, work.case.clinician.id, work.case.id,
                    work.version["id"],
                )  # fmt: skip

        self.copy(
            "clinical_homeworkassignment",
            "id, created_at, updated_at, version, mode, instructions, start_date, due_date, frequency, target_count, "
            "status, assigned_by_id, case_id, exercise_version_id",
            rows(),
            len(self.homework),
        )
        assignees = [(work.id, p.id) for work in self.homework for p in work.assignees]
        self.copy(
            "clinical_homeworkassignment_assignees",
            "id, homeworkassignment_id, client_id",
            ((i, *pair) for i, pair in enumerate(assignees, 1)),
            len(assignees),
        )
        goals = [(work.id, work.goal.id) for work in self.homework if work.goal]
        self.copy(
            "clinical_homeworkassignment_goals",
            "id, homeworkassignment_id, treatmentgoal_id",
            ((i, *pair) for i, pair in enumerate(goals, 1)),
            len(goals),
        )

    # ---- assessments

    def assessments(self) -> None:
        """Series per client and measure on a case, scored as clinical.instruments scores them: mostly improving,
        some flat, some worsening. Some CSI-4 series are self-reported on a fortnightly schedule after a clinician
        took the baseline. A PHQ-9 item 9 above 0 raises a safety alert."""
        rng = self.rng
        counts = spread(self.plan.assessments, [c.days * len(c.clients) * rng.uniform(0.7, 1.3) for c in self.cases])
        # Scored with each measure's current published version, as the service scores them.
        self.measures = {code: current_measure(code) for code in ("phq9", "gad7", "csi4")}
        schedules: list[tuple] = []
        alerts: list[tuple] = []

        def rows():
            for case, count in zip(self.cases, counts, strict=True):
                if case.couple:
                    a, b = case.clients
                    keys = [(a, "csi4"), (b, "csi4"), (a, "phq9"), (b, "phq9"), (a, "gad7"), (b, "gad7")]
                else:
                    keys = [(case.clients[0], "phq9"), (case.clients[0], "gad7")]
                keys = keys[: min(len(keys), max(1, count // 3))]
                for (person, code), length in zip(keys, spread(count, [1.0] * len(keys)), strict=True):
                    if length:
                        yield from self.series(case, person, code, length, schedules, alerts)

        self.copy(
            "clinical_assessment",
            "id, created_at, updated_at, version, instrument, answers, administered_at, source, total, band, "
            "is_baseline, change, reliable_change, clinically_significant, recovered, case_id, client_id, "
            "recorded_by_id, schedule_id, instrument_version_id, at_caseness, subscales",
            rows(),
            self.plan.assessments,
        )
        self.copy(
            "clinical_assessmentschedule",
            "id, created_at, updated_at, version, instrument, frequency, start_date, end_date, status, case_id, "
            "client_id, created_by_id",
            iter(schedules),
            len(schedules),
        )
        self.copy(
            "clinical_safetyalert",
            "id, created_at, updated_at, version, kind, detail, acknowledged_at, acknowledged_by_id, assessment_id, "
            "case_id, client_id",
            iter(alerts),
            len(alerts),
        )

    def series(self, case: Episode, person: Person, code: str, length: int, schedules: list, alerts: list):
        rng = self.rng
        published, instrument = self.measures[code]
        low, high = instrument.min_total, instrument.max_total
        course = weighted(rng, {"improving": 70, "flat": 15, "worsening": 15})
        better = 1 if instrument.direction == instruments.HIGHER_IS_BETTER else -1
        baseline = rng.randint(*{"csi4": (3, 15), "phq9": (6, 22), "gad7": (5, 17)}[code])
        shift = {"improving": rng.randint(3, 12), "flat": rng.randint(-2, 2), "worsening": -rng.randint(3, 8)}[course]
        final = min(high, max(low, baseline + better * shift))
        first = case.opened_on + timedelta(days=rng.randint(0, min(7, case.days - 1)))
        gap = (case.last_day - first).days / max(1, length - 1)
        clinician = case.clinician
        schedule = None
        if code == "csi4" and person.user_id and length >= 3 and rng.random() < 0.4:
            schedule = self.uid()
        previous = None
        for index in range(length):
            day = first + timedelta(days=round(gap * index))
            administered = self.at(day, 9, 19)
            if previous and administered <= previous:
                administered = min(previous + timedelta(minutes=5), self.now)
            previous = administered
            if index == 0:
                score = baseline
            else:
                score = round(baseline + (final - baseline) * index / (length - 1)) + rng.randint(-1, 1)
                score = min(high, max(low, score))
            answers = self.answers_for(instrument, score)
            self_report = schedule is not None and index > 0
            if schedule and index == 1:
                created = self.after(previous - timedelta(hours=1), 0, 0.5)
                status, updated = ("cancelled", case.ended_at) if case.status == "closed" else ("active", created)
                schedules.append((schedule, created, updated, 1, code, "fortnightly", day, None, status, case.id,
                                  person.id, clinician.id))  # fmt: skip
                self.event(created, clinician, "create", "assessment_schedule", [schedule])
                if status == "cancelled":
                    detail = {"reason": "case closed"}
                    self.event(updated, clinician, "cancel", "assessment_schedule", [schedule], detail)
            if index == 0:
                figures = (True, None, "", None, None)
            else:
                change = instruments.change_from_baseline(instrument, baseline, score)
                figures = (
                    False,
                    change.change,
                    change.reliable_change,
                    change.clinically_significant,
                    change.recovered,
                )
            assessment_id = self.uid()
            recorder = person if self_report else clinician
            created = self.after(administered, 0, 2)
            self.event(created, recorder, "create", "assessment", [assessment_id])
            if code == instruments.SAFETY_ITEM[0] and answers[SAFETY_INDEX] > 0:
                alerts.append(self.alert(case, person, assessment_id, answers, created, recorder))
            yield (
                assessment_id, created, created, 1, code, answers, administered,
                "self_report" if self_report else "clinician", instruments.total(instrument, answers),
                instruments.band(instrument, score), *figures, case.id, person.id,
                person.user_id if self_report else clinician.id, schedule if self_report else None, published.id,
                instruments.is_case(instrument, score), NO_SUBSCALES,
            )  # fmt: skip

    def answers_for(self, instrument: instruments.Instrument, score: int) -> list[int]:
        """Item answers adding up to `score`. PHQ-9 item 9 stays 0 unless the total needs it, or now and then
        with a high total."""
        rng = self.rng
        ceilings = [max(o.value for o in item.options) for item in instrument.items]
        answers = [0] * len(ceilings)
        safety = SAFETY_INDEX if instrument.code == instruments.SAFETY_ITEM[0] else None
        open_items = [i for i in range(len(ceilings)) if i != safety]
        left = score
        room = sum(ceilings[i] for i in open_items)
        if safety is not None and (score > room or (score >= 15 and rng.random() < 0.05)):
            answers[safety] = min(ceilings[safety], max(1, score - room))
            left -= answers[safety]
        while left > 0:
            i = rng.choice(open_items)
            if answers[i] < ceilings[i]:
                answers[i] += 1
                left -= 1
            else:
                open_items.remove(i)
        return answers

    def alert(self, case: Episode, person: Person, assessment_id, answers: list[int], created, recorder) -> tuple:
        alert_id = self.uid()
        self.event(created, recorder, "create", "alert", [alert_id])
        acknowledged = by = None
        if self.rng.random() < 0.85 and (self.now - created).days >= 1:
            acknowledged, by = self.after(created, 0.2, 48), case.clinician
            self.event(acknowledged, by, "acknowledge", "alert", [alert_id])
        detail = f"PHQ-9 item 9 (thoughts of self-harm) answered {answers[SAFETY_INDEX]} of 3."
        return (alert_id, created, acknowledged or created, 1, "phq9_item9", detail, acknowledged,
                by.id if by else None, assessment_id, case.id, person.id)  # fmt: skip

    # ---- the audit trail

    def audit_events(self) -> None:
        """The generator's marker first, then every event in time order, each chained to the one before."""
        self.phase("(sort audit events)", lambda: self.events.sort(key=lambda event: event[0]))
        marker_detail = {
            "generator": "bench.generate",
            "scale": self.scale,
            "seed": self.seed,
            "plan": asdict(self.plan),
        }
        marker = (self.now, (None, ""), MARKER_ACTION, MARKER_OBJECT, (), marker_detail)
        record = AuditRecord()
        # After the catalog's publication, if the catalog was loaded here; from the start otherwise.
        head = AuditEvent.objects.order_by("-id").values_list("id", "hash").first() or (0, GENESIS_HASH)
        record.prev_hash = head[1]

        def rows():
            for number, (at, (actor_id, role), action, object_type, ids, detail) in enumerate(
                itertools.chain([marker], self.events), head[0] + 1
            ):
                record.occurred_at, record.actor_id, record.actor_role = at, actor_id, role
                record.action, record.object_type, record.object_ids = action, object_type, ids
                record.detail = detail or {}
                digest = event_hash(record)
                # Arrays and JSON go as their text forms: much cheaper to send than psycopg's adapters.
                object_ids = "{" + ",".join(map(str, ids)) + "}"
                detail_text = json.dumps(detail) if detail else "{}"
                yield (number, at, actor_id, role, action, object_type, object_ids, "", None, "", detail_text,
                       record.prev_hash, digest)  # fmt: skip
                record.prev_hash = digest

        self.copy(
            "clinical_auditevent",
            "id, occurred_at, actor_id, actor_role, action, object_type, object_ids, request_id, ip_address, "
            "user_agent, detail, prev_hash, hash",
            rows(),
            len(self.events) + 1,
        )

    # ---- after the load

    def fix_sequences(self) -> list[str]:
        """Move every bigint id sequence of the loaded tables past the ids given explicitly."""
        tables = list(dict.fromkeys(self.loaded))
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                sequence = cursor.fetchone()[0]
                if sequence:
                    cursor.execute(
                        f"SELECT setval(%s, COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)",
                        [sequence],
                    )
        return tables

    def rebuild_indexes(self, statements: list[str]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for statement in statements:
                cursor.execute(statement)

    def homework_progress(self) -> None:
        """The kept homework progress (HomeworkProgress): a row per assignee of every assignment and one per
        assignment, with the assignment's columns, recounted from the loaded rows in one statement, as the services
        keep it and `repair_progress` recounts it."""
        with connection.cursor() as cursor:
            cursor.execute(PROGRESS_FILL)
        self.loaded.append("clinical_homeworkprogress")

    def analyze(self, tables: list[str]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(tables)}")
