"""A therapist's day through the client openapi-python-client generates from openapi.yaml, and nothing else: the
only request made by hand is the OAuth token request.

What a generated client needs of the contract, and gets: GAS levels named one by one, the outcomes CSV at its own
operation (reports/outcomes.csv), chart.png also declared as application/octet-stream, response fields as a union
discriminated on `type`. `tests/generators/test_python_client.py` runs it against a live server with the demo
practice.

Run by hand against `make run` (generates the client into a temporary directory first):

    .venv/bin/python -m tests.generators.therapist_day [http://127.0.0.1:8000]
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

PASSWORD = "demo-pass-123"  # the demo practice's (clinical/services/demo.py)
CLINICIAN = ("clinician@demo.test", "clinical:read clinical:write")
CLIENT = ("alex@demo.test", "homework")
SUPERVISOR = ("supervisor@demo.test", "reports clinical:read")
# From the library: between them every response-field type (the client's form is built from the fields).
HOMEWORK = ("small-risk-together", "i-statement-practice", "phone-free-time")
FIELD_TYPES = {"text", "long_text", "scale", "boolean", "single_choice", "multi_choice", "date"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GAS_LEVELS = {
    "much_less": "Neither partner names a feeling during the week",
    "somewhat_less": "Feelings named only when asked, or only by one partner",
    "expected": "Each partner names one feeling a day to the other",
    "somewhat_more": "Feelings named daily and the other reflects them back",
    "much_more": "Both say they feel known by the other day to day",
}


# -- the day's bookkeeping ---------------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    title: str
    needs: tuple[str, ...]
    run: Callable[[Day], None]


@dataclass
class Outcome:
    step: Step
    error: BaseException | None = None
    blocked_by: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.blocked_by is None


STEPS: dict[str, Step] = {}


def step(title: str, needs: tuple[str, ...] = ()):
    def register(function: Callable[[Day], None]) -> Callable[[Day], None]:
        STEPS[function.__name__] = Step(function.__name__, title, needs, function)
        return function

    return register


@dataclass
class Day:
    base_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    me: dict[str, object] = field(default_factory=dict)  # role -> the caller (Me)
    ids: dict[str, object] = field(default_factory=dict)
    seen: dict[str, object] = field(default_factory=dict)  # what later steps compare with
    clients: dict[str, object] = field(default_factory=dict)

    def client(self, role: str):
        """The generated client for one role (one connection pool each, closed by `close`)."""
        from couples_api_client.client import AuthenticatedClient

        if role not in self.clients:
            # Every status a call can answer is in the contract: anything else raises UnexpectedStatus.
            self.clients[role] = AuthenticatedClient(
                base_url=self.base_url, token=self.tokens[role], raise_on_unexpected_status=True
            )
        return self.clients[role]

    def close(self) -> None:
        for client in self.clients.values():
            client.get_httpx_client().close()


def run(day: Day) -> dict[str, Outcome]:
    """Run every step in order; a step whose prerequisite did not pass is blocked, not run."""
    outcomes: dict[str, Outcome] = {}
    try:
        for current in STEPS.values():
            failed = next((need for need in current.needs if not outcomes[need].passed), None)
            if failed:
                outcomes[current.name] = Outcome(current, blocked_by=failed)
                continue
            try:
                current.run(day)
            except Exception as error:  # recorded and re-raised by the step's test
                outcomes[current.name] = Outcome(current, error=error)
            else:
                outcomes[current.name] = Outcome(current)
    finally:
        day.close()
    return outcomes


def every(call, **kwargs) -> list:
    """All results of a paginated list operation, following the cursor of `next`."""
    results, cursor = [], None
    while True:
        page = call(**kwargs, **({"cursor": cursor} if cursor else {}))
        assert hasattr(page, "results"), f"{call.__module__}: {page!r}"
        results.extend(page.results)
        if not page.next_:
            return results
        cursor = parse_qs(urlsplit(page.next_).query)["cursor"][0]


def etag(response) -> str:
    value = response.headers.get("ETag")
    assert value, f"{response.status_code} answer without an ETag"
    return value


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# -- sign in: the one request made without the generated client ----------------------------------------------------


@step("Every role gets a token (password grant of demo-cli) and the generated client reads who it is")
def sign_in(day: Day) -> None:
    from couples_api_client.api.me import me_retrieve

    for role, (email, scope) in {"clinician": CLINICIAN, "client": CLIENT, "supervisor": SUPERVISOR}.items():
        answer = httpx.post(
            f"{day.base_url}/o/token/",
            data={
                "grant_type": "password",
                "client_id": "demo-cli",
                "username": email,
                "password": PASSWORD,
                "scope": scope,
            },
        )
        assert answer.status_code == 200, answer.text
        day.tokens[role] = answer.json()["access_token"]
        me = me_retrieve.sync(client=day.client(role))
        assert me.email == email
        assert me.role.value == role
        day.me[role] = me


# -- the clinician ---------------------------------------------------------------------------------------------------


@step("The clinician creates a client", needs=("sign_in",))
def create_client(day: Day) -> None:
    from couples_api_client.api.clients import clients_create, clients_retrieve
    from couples_api_client.models import ClientStatusEnum, ClientWriteRequest

    clinician = day.client("clinician")
    response = clients_create.sync_detailed(
        client=clinician,
        body=ClientWriteRequest(given_name="Riley", family_name="Chen", pronouns="she/her", preferred_name="Ri"),
    )
    assert response.status_code == 201, response.content
    riley = response.parsed
    assert (riley.given_name, riley.preferred_name, riley.status) == ("Riley", "Ri", ClientStatusEnum.ACTIVE)
    assert riley.primary_clinician == day.me["clinician"].id
    assert clients_retrieve.sync(riley.id, client=clinician).family_name == "Chen"
    day.ids["riley"] = riley.id


@step("The clinician creates a couple: a second client and the two as partners", needs=("create_client",))
def create_couple(day: Day) -> None:
    from couples_api_client.api.clients import clients_create
    from couples_api_client.api.couples import couples_create
    from couples_api_client.models import (
        ClientWriteRequest,
        CoupleCreateRequest,
        CoupleStatusEnum,
        RelationshipTypeEnum,
    )

    clinician = day.client("clinician")
    jordan = clients_create.sync(
        client=clinician, body=ClientWriteRequest(given_name="Jordan", family_name="Chen", pronouns="he/him")
    )
    response = couples_create.sync_detailed(
        client=clinician,
        body=CoupleCreateRequest(
            partners=[day.ids["riley"], jordan.id],
            relationship_type=RelationshipTypeEnum.PARTNERED,
            together_since=dt.date(2019, 6, 1),
        ),
    )
    assert response.status_code == 201, response.content
    couple = response.parsed
    assert sorted(map(str, couple.partners)) == sorted(map(str, [day.ids["riley"], jordan.id]))
    assert couple.status == CoupleStatusEnum.ACTIVE
    day.ids["jordan"], day.ids["couple"] = jordan.id, couple.id


@step(
    "The clinician opens a couple case: refused (409 consent_missing) until both partners' treatment consents, "
    "given on paper, are recorded",
    needs=("create_couple",),
)
def open_case(day: Day) -> None:
    from couples_api_client.api.cases import cases_create, cases_list
    from couples_api_client.api.consents import consents_create
    from couples_api_client.models import (
        CaseCreateRequest,
        CaseStatusEnum,
        ConsentRecordRequest,
        KindEnum,
        PresentingConcernsEnum,
        Problem,
        RecordedConsentMethodEnum,
        SubjectTypeEnum,
    )

    clinician = day.client("clinician")
    concerns = [PresentingConcernsEnum.EMOTIONAL_INTIMACY, PresentingConcernsEnum.TRUST]
    body = CaseCreateRequest(
        subject_type=SubjectTypeEnum.COUPLE, couple=day.ids["couple"], presenting_concerns=concerns
    )
    refused = cases_create.sync_detailed(client=clinician, body=body)
    assert refused.status_code == 409, refused.content
    assert isinstance(refused.parsed, Problem)
    assert refused.parsed.code == "consent_missing"
    for partner in ("riley", "jordan"):
        given = consents_create.sync_detailed(
            client=clinician,
            body=ConsentRecordRequest(
                client=day.ids[partner], kind=KindEnum.TREATMENT, method=RecordedConsentMethodEnum.PAPER
            ),
        )
        assert given.status_code == 201, given.content
    response = cases_create.sync_detailed(client=clinician, body=body)
    assert response.status_code == 201, response.content
    case = response.parsed
    assert (case.status, case.couple, case.client) == (CaseStatusEnum.OPEN, day.ids["couple"], None)
    assert case.clinician == day.me["clinician"].id
    assert case.presenting_concerns == concerns
    assert [c.id for c in every(cases_list.sync, client=clinician, couple=day.ids["couple"])] == [case.id]
    day.ids["case"] = case.id


@step("The clinician sets goals with Goal Attainment Scale levels, activates one and rates it", needs=("open_case",))
def set_goals(day: Day) -> None:
    from couples_api_client.api.goals import goals_create, goals_gas_ratings_create, goals_list, goals_transition_create
    from couples_api_client.models import GASRatingCreateRequest, GoalCreateRequest, GoalLifecycleEnum
    from couples_api_client.models import GoalTransitionRequest as Transition

    clinician = day.client("clinician")
    body = GoalCreateRequest.from_dict(
        {
            "case": str(day.ids["case"]),
            "domain": "emotional_intimacy",
            "title": "Name one feeling to each other every day",
            "priority": "high",
            "target_date": (today() + dt.timedelta(weeks=12)).isoformat(),
            "gas_levels": GAS_LEVELS,
        }
    )
    response = goals_create.sync_detailed(client=clinician, body=body)
    assert response.status_code == 201, response.content
    goal = response.parsed
    assert goal.gas_levels.to_dict() == GAS_LEVELS
    assert goal.lifecycle_status == GoalLifecycleEnum.PROPOSED

    second = goals_create.sync(
        client=clinician,
        body=GoalCreateRequest.from_dict(
            {"case": str(day.ids["case"]), "domain": "communication", "title": "A weekly check-in, phones away"}
        ),
    )
    assert second.gas_levels is None

    active = goals_transition_create.sync_detailed(
        goal.id, client=clinician, body=Transition(to=GoalLifecycleEnum.ACTIVE), if_match=etag(response)
    )
    assert active.status_code == 200, active.content
    assert active.parsed.lifecycle_status == GoalLifecycleEnum.ACTIVE
    rating = goals_gas_ratings_create.sync_detailed(goal.id, client=clinician, body=GASRatingCreateRequest(score=-1))
    assert rating.status_code == 201, rating.content
    assert rating.parsed.score == -1

    listed = {g.id: g for g in every(goals_list.sync, client=clinician, case=day.ids["case"])}
    assert set(listed) == {goal.id, second.id}
    assert listed[goal.id].gas_levels.expected == GAS_LEVELS["expected"]
    day.ids["goals"] = [goal.id, second.id]


@step("The clinician writes a DAP note, edits it (If-Match), signs it; signed, it refuses edits", needs=("open_case",))
def write_and_sign_note(day: Day) -> None:
    from couples_api_client.api.notes import notes_create, notes_partial_update, notes_sign_create
    from couples_api_client.models import (
        FormatEnum,
        NoteCreateRequest,
        NoteCreateRequestSections,
        NoteStatusEnum,
        PatchedNoteWriteRequest,
        PatchedNoteWriteRequestSections,
        Problem,
    )

    clinician = day.client("clinician")
    sections = {
        "data": "First joint session. Riley and Jordan each described the distance of the past year.",
        "assessment": "Both engaged; withheld hurt on both sides, no safety concerns raised.",
        "plan": "Weekly sessions; a small shared risk as homework.",
    }
    created = notes_create.sync_detailed(
        client=clinician,
        body=NoteCreateRequest(
            session_date=today(),
            format_=FormatEnum.DAP,
            sections=NoteCreateRequestSections.from_dict(sections),
            case=day.ids["case"],
        ),
    )
    assert created.status_code == 201, created.content
    note = created.parsed
    assert (note.status, note.sections.to_dict()) == (NoteStatusEnum.DRAFT, sections)

    edited_plan = {**sections, "plan": "Weekly sessions; each names one feeling a day."}
    edit = PatchedNoteWriteRequest(sections=PatchedNoteWriteRequestSections.from_dict(edited_plan))
    stale = notes_partial_update.sync_detailed(note.id, client=clinician, body=edit, if_match='"999"')
    assert stale.status_code == 412, stale.content
    edited = notes_partial_update.sync_detailed(note.id, client=clinician, body=edit, if_match=etag(created))
    assert edited.status_code == 200, edited.content
    assert edited.parsed.sections["plan"] == edited_plan["plan"]
    assert etag(edited) != etag(created)

    signed = notes_sign_create.sync_detailed(note.id, client=clinician, if_match=etag(edited))
    assert signed.status_code == 200, signed.content
    assert signed.parsed.status == NoteStatusEnum.SIGNED
    assert signed.parsed.signed_at is not None
    assert signed.parsed.cosign_required  # the demo clinician is supervised

    locked = notes_partial_update.sync_detailed(note.id, client=clinician, body=edit, if_match=etag(signed))
    assert locked.status_code == 409, locked.content
    assert isinstance(locked.parsed, Problem)
    day.ids["note"] = note.id


@step("The clinician finds Alex and Sam's couple case (the demo couple in care)", needs=("sign_in",))
def find_demo_case(day: Day) -> None:
    from couples_api_client.api.cases import cases_list
    from couples_api_client.api.clients import clients_list
    from couples_api_client.api.couples import couples_list

    clinician = day.client("clinician")
    people = {c.given_name: c for c in every(clients_list.sync, client=clinician, search="Rivera")}
    people |= {c.given_name: c for c in every(clients_list.sync, client=clinician, search="Okafor")}
    alex, sam = people["Alex"], people["Sam"]
    couple = next(c for c in every(couples_list.sync, client=clinician) if str(alex.id) in map(str, c.partners))
    assert str(sam.id) in map(str, couple.partners)
    (case,) = every(cases_list.sync, client=clinician, couple=couple.id)
    day.ids.update(alex=alex.id, sam=sam.id, demo_case=case.id)


@step("The clinician assigns homework from the library to Alex and Sam", needs=("find_demo_case",))
def assign_homework(day: Day) -> None:
    from couples_api_client.api.assignments import assignments_create
    from couples_api_client.api.exercises import exercises_list
    from couples_api_client.models import (
        AssignmentCreateRequest,
        AssignmentStatusEnum,
        ExercisesListCatalog,
        FrequencyEnum,
    )

    clinician = day.client("clinician")
    library = {e.slug: e for e in every(exercises_list.sync, client=clinician, catalog=ExercisesListCatalog.TRUE)}
    day.ids["assignments"] = []
    for slug in HOMEWORK:
        exercise = library[slug]
        response = assignments_create.sync_detailed(
            client=clinician,
            body=AssignmentCreateRequest(
                case=day.ids["demo_case"],
                exercise=exercise.id,
                assignees=[day.ids["alex"], day.ids["sam"]],  # each does it (mode "each")
                instructions=f"Try {exercise.current_version.title.lower()} this week.",
                frequency=FrequencyEnum.ONCE,
                due_date=today() + dt.timedelta(days=7),
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
        assignment = response.parsed
        assert assignment.exercise_version.id == exercise.current_version.id  # the version given is pinned
        assert assignment.status == AssignmentStatusEnum.ACTIVE
        assert set(assignment.assignees) == {day.ids["alex"], day.ids["sam"]}
        day.ids["assignments"].append(assignment.id)


# -- the client (Alex, in the mobile app) ----------------------------------------------------------------------------


@step("Alex fetches his assignments, with each exercise's text and form", needs=("assign_homework",))
def fetch_assignments(day: Day) -> None:
    from couples_api_client.api.me import me_assignments_list

    mine = {a.id: a for a in every(me_assignments_list.sync, client=day.client("client"))}
    assert set(day.ids["assignments"]) <= set(mine)
    day.seen["assignments"] = [mine[i] for i in day.ids["assignments"]]
    for assignment in day.seen["assignments"]:
        assert assignment.exercise_version.title
        assert (assignment.completed_count, assignment.my_progress.completed) == (0, 0)


def answer_for(response_field) -> object:
    """A valid answer to one typed response field, from its type and constraints only."""
    kind = getattr(response_field.type_, "value", response_field.type_)
    if kind == "text":
        return "We went to the climbing wall; I said I was scared and Sam held the rope."
    if kind == "long_text":
        return "I noticed I wanted to back out. Saying so out loud made it easier, and we laughed about it after."
    if kind == "scale":
        return (response_field.min_ + response_field.max_) // 2
    if kind == "boolean":
        return True
    if kind == "single_choice":
        return response_field.options[0]
    if kind == "multi_choice":
        return response_field.options[:2]
    if kind == "date":
        return today().isoformat()
    raise AssertionError(f"no answer for a response field of type {kind!r}: the form has a type this app lacks")


@step("Alex's app builds the answers from the typed response fields", needs=("fetch_assignments",))
def build_answers(day: Day) -> None:
    day.seen["answers"], kinds = {}, set()
    for assignment in day.seen["assignments"]:
        version = assignment.exercise_version
        assert all(isinstance(text, str) for text in version.steps), "steps are not typed as strings"
        answers = {}
        for response_field in version.response_fields:
            assert not isinstance(response_field, dict), (
                "response_fields are untyped in the contract: the generated ExerciseVersion.response_fields is Any, "
                f"so the app gets plain dicts ({sorted(response_field)})"
            )
            answers[response_field.key] = answer_for(response_field)
            kinds.add(getattr(response_field.type_, "value", response_field.type_))
        assert answers
        day.seen["answers"][assignment.id] = answers
    assert kinds == FIELD_TYPES, f"the homework covered {sorted(kinds)}"


@step(
    "Alex submits each with an Idempotency-Key; resending the same request replays the first answer",
    needs=("build_answers",),
)
def submit_answers(day: Day) -> None:
    from couples_api_client.api.me import me_assignments_list
    from couples_api_client.api.submissions import submissions_create
    from couples_api_client.models import SubmissionCreateRequest, SubmissionCreateRequestResponses

    alex = day.client("client")
    done_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for assignment_id, answers in day.seen["answers"].items():
        body = SubmissionCreateRequest(
            assignment=assignment_id,
            completed_at=done_at,
            responses=SubmissionCreateRequestResponses.from_dict(answers),
            shared_with_partner=True,
        )
        key = str(uuid.uuid4())
        first = submissions_create.sync_detailed(client=alex, body=body, idempotency_key=key)
        assert first.status_code == 201, first.content
        assert first.headers.get("Idempotent-Replayed") != "true"
        assert first.parsed.responses.to_dict() == answers
        resent = submissions_create.sync_detailed(client=alex, body=body, idempotency_key=key)
        assert resent.status_code == 201, resent.content
        assert resent.headers.get("Idempotent-Replayed") == "true"
        assert resent.parsed.id == first.parsed.id
    progress = {a.id: a.my_progress.completed for a in every(me_assignments_list.sync, client=alex)}
    assert [progress[i] for i in day.seen["answers"]] == [1] * len(day.seen["answers"])  # stored once


# -- the supervisor --------------------------------------------------------------------------------------------------


@step("The supervisor fetches the outcomes report as JSON", needs=("open_case",))
def outcomes_json(day: Day) -> None:
    from couples_api_client.api.cases import cases_list
    from couples_api_client.api.reports import reports_outcomes_retrieve

    supervisor = day.client("supervisor")
    response = reports_outcomes_retrieve.sync_detailed(client=supervisor)
    assert response.status_code == 200, response.content
    assert response.headers["Content-Type"].startswith("application/json")
    report = response.parsed
    clinician = day.me["clinician"].id
    (row,) = [row for row in report.rows if row.clinician == clinician]
    supervised = [c for c in every(cases_list.sync, client=supervisor) if c.clinician == clinician]
    assert day.ids["case"] in {c.id for c in supervised}
    assert row.cases == len(supervised)
    assert report.total.clinician is None
    day.seen["report"] = report


@step("The supervisor fetches the outcomes report as CSV (its own operation)", needs=("outcomes_json",))
def outcomes_csv(day: Day) -> None:
    from couples_api_client.api.reports import reports_outcomes_csv_retrieve

    response = reports_outcomes_csv_retrieve.sync_detailed(client=day.client("supervisor"))
    assert response.status_code == 200, response.content
    assert response.headers["Content-Type"].startswith("text/csv")
    assert isinstance(response.parsed, str)
    table = list(csv.DictReader(io.StringIO(response.parsed)))
    assert response.parsed.splitlines()[0].startswith("clinician,clinician_name,cases,")
    report = day.seen["report"]
    assert [(r["clinician_name"], int(r["cases"])) for r in table] == [
        (row.clinician_name, row.cases) for row in [*report.rows, report.total]
    ]


@step("The supervisor fetches Alex and Sam's outcome chart as PNG", needs=("find_demo_case",))
def case_chart_png(day: Day) -> None:
    from couples_api_client.api.outcomes import cases_outcomes_chart_png_retrieve
    from couples_api_client.errors import UnexpectedStatus
    from couples_api_client.types import File

    try:
        response = cases_outcomes_chart_png_retrieve.sync_detailed(
            day.ids["demo_case"], client=day.client("supervisor")
        )
    except UnexpectedStatus as error:  # its message holds the whole body: the PNG's bytes
        raise AssertionError(
            f"the generated client has no {error.status_code} answer for chart.png: "
            "the contract declares only image/png, which openapi-python-client leaves out"
        ) from None
    assert response.status_code == 200, response.content
    assert response.headers["Content-Type"] == "image/png"
    assert isinstance(response.parsed, File), (
        "the generated client returns nothing for a 200 of chart.png: the contract declares only image/png "
        f"(parsed: {response.parsed!r})"
    )
    assert response.parsed.payload.read().startswith(PNG_MAGIC)


def main(base_url: str = "http://127.0.0.1:8000") -> int:
    import tempfile
    from pathlib import Path

    from .python_client import generate, import_package

    with tempfile.TemporaryDirectory() as out:
        generation = generate(Path(out))
        print(*generation.warnings, sep="\n\n", file=sys.stderr)
        import_package(generation)
        outcomes = run(Day(base_url=base_url))
    for outcome in outcomes.values():
        verdict = "ok" if outcome.passed else f"BLOCKED by {outcome.blocked_by}" if outcome.blocked_by else "FAILED"
        print(f"{verdict:>24}  {outcome.step.title}")
        if outcome.error:
            print(f"{'':>26}{type(outcome.error).__name__}: {outcome.error}")
    return 0 if all(o.passed for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
