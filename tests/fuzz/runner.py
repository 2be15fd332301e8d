"""Contract fuzzing: schemathesis' engine (what `schemathesis run --checks all` runs) over openapi.yaml, calling
the Django WSGI application in process, as one caller.

The engine runs every phase the CLI runs (examples, coverage, fuzzing, stateful from links it infers) with
every built-in check, in worker threads; each thread has its own database connection, so the data it reaches
must be committed (the tests use `transactional_db`). The result is a table of operations x checks and the
distinct failures with a curl line to reproduce each.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
import yaml
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
)
from schemathesis.engine import Status, events, from_schema

from . import hooks

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
EXAMPLES_ENV = "FUZZ_MAX_EXAMPLES"
SEED_ENV = "FUZZ_SEED"
# Where to write each caller's table and failures in full (make fuzz sets it).
REPORT_DIR_ENV = "FUZZ_REPORT_DIR"
DEFAULT_EXAMPLES = 8
WEBHOOK_TARGET_OPERATIONS = ("POST /api/v1/webhooks/", "PATCH /api/v1/webhooks/{id}/")
DEFAULT_SEED = 7

# Every built-in check (`--checks all`); max_response_time needs a limit and is about speed, not the contract.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
]


def max_examples() -> int:
    return int(os.environ.get(EXAMPLES_ENV, DEFAULT_EXAMPLES))


def seed() -> int:
    return int(os.environ.get(SEED_ENV, DEFAULT_SEED))


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(openapi: Path) -> dict[str, dict]:
    """label ("GET /api/v1/cases/") → the operation's definition."""
    document = yaml.safe_load(openapi.read_text())
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def refused_by_scope(openapi: Path, scopes) -> list[str]:
    """Operations none of whose security alternatives the token's scopes satisfy: every request answers 403
    before its input is read."""
    refused = []
    for label, operation in operations(openapi).items():
        alternatives = [set(next(iter(req.values()), [])) for req in operation.get("security", [{}])]
        if not any(needed <= set(scopes) for needed in alternatives):
            refused.append(label)
    return refused


def config_for(*, openapi: Path, token: str, scopes, examples: int, seed: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            # No `.schemathesis/` cache of earlier runs' cases: a run depends on its seed only, and the two xdist
            # workers would write the same file.
            "cache": {"enabled": False},
            "headers": {"Authorization": f"Bearer {token}"},
            "workers": 1,
            "generation": {
                "max-examples": examples,
                # Positive and negative data, as the CLI's default `--mode all`.
                "mode": "all",
                # No `.hypothesis/` directory in the checkout: a run is reproduced by its seed.
                "database": "none",
            },
            "phases": {"stateful": {"max-steps": 6}},
            # The coverage phase sends a fixed set of variants of every parameter and property (wrong types,
            # bounds, missing parts), half of all requests. Where the token's scopes refuse an operation, each of
            # them would answer the same 403 before the input is read; the other phases still test the operation.
            "operations": [
                *(
                    {"include-name": label, "phases": {"coverage": {"enabled": False}}}
                    for label in refused_by_scope(openapi, scopes)
                ),
                # A webhook's receiver must resolve to a public address when it is named (events/egress.py), and a
                # test machine may have no DNS: the contract's example (https://example.com/..., sent as valid
                # data) and every schema-valid URL then answer 400 webhook_target_refused. Beyond the schema too:
                # webhook.disabled is the admin's event only. The other checks still run on both operations.
                *(
                    {"include-name": label, "checks": {"positive_data_acceptance": {"enabled": False}}}
                    for label in WEBHOOK_TARGET_OPERATIONS
                ),
            ],
            "checks": {
                # A missing Idempotency-Key (POST) or If-Match (PATCH) answers 428 Precondition Required (RFC 6585),
                # as the schema documents for exactly those operations; the check's default list predates 428.
                "missing_required_header": {"expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]},
                # Two refusals that come before the body is read, documented on every operation they apply to:
                # - 412: If-Match is evaluated first (RFC 9110 §13.2.1); with an ETag that is not the current one
                #   the answer is 412 whatever the body holds. Like 409 it judges the record's state, not the
                #   input: a schema-valid If-Match string is rarely the current version.
                # - 413: a body over API_MAX_BODY_BYTES (256 KiB) is refused unread; no JSON Schema states a size
                #   in bytes, so a schema-valid body can be too large.
                "negative_data_rejection": {
                    "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "412", "413"],
                },
                "positive_data_acceptance": {
                    "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "412", "413"],
                },
            },
        }
    )


@dataclass
class Failure:
    operation: str
    check: str
    title: str
    message: str
    curl: str
    response: str

    def __str__(self) -> str:
        return (
            f"[{self.check}] {self.operation}: {self.title}\n    {self.message.strip()}\n    {self.curl}"
            f"\n    -> {self.response}"
        )


@dataclass
class Report:
    caller: str
    examples: int
    seed: int
    operations: list[str] = field(default_factory=list)
    # (operation, check) -> [passed, failed]
    checks: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # operation -> Counter of response statuses
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[tuple[str, str, str, str], Failure] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)
    stateful_links: int = 0
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(sum(counter.values()) for counter in self.statuses.values())

    def untested(self) -> list[str]:
        return [op for op in self.operations if not self.statuses.get(op)]

    def table(self) -> str:
        """Operations x checks: `.` all passed, `F` a failure, blank not applicable; and the statuses seen."""
        used = [c for c in CHECKS if any(check == c for _, check in self.checks)]
        abbreviations = {c: "".join(word[0] for word in c.split("_")) for c in used}
        width = max(len(op) for op in self.operations) if self.operations else 10
        lines = [
            f"{self.caller}: {len(self.operations)} operations, {self.requests} requests, "
            f"{self.examples} examples per phase, seed {self.seed}, {self.seconds:.0f} s, "
            f"stateful links {self.stateful_links}; phases: "
            + ", ".join(f"{name} {status}" for name, status in self.phases.items()),
            "  checks: " + ", ".join(f"{abbreviations[c]}={c}" for c in used),
            f"  {'operation':<{width}}  " + " ".join(f"{abbreviations[c]:>4}" for c in used) + "  statuses",
        ]
        for op in self.operations:
            cells = []
            for c in used:
                passed, failed = self.checks.get((op, c), (0, 0))
                cells.append(f"{'F' if failed else ('.' if passed else ''):>4}")
            seen = " ".join(f"{status}:{n}" for status, n in sorted(self.statuses.get(op, {}).items()))
            lines.append(f"  {op:<{width}}  " + " ".join(cells) + f"  {seen}")
        totals = Counter()
        for (_, _), (passed, failed) in self.checks.items():
            totals["passed"] += passed
            totals["failed"] += failed
        lines.append(
            f"  check results: {totals['passed']} passed, {totals['failed']} failed; "
            f"distinct failures: {len(self.failures)}; untested operations: {len(self.untested())}"
        )
        return "\n".join(lines)


def write(report: Report) -> Path | None:
    directory = os.environ.get(REPORT_DIR_ENV)
    if not directory:
        return None
    path = Path(directory) / f"{report.caller}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    failures = "\n\n".join(str(failure) for failure in report.failures.values())
    path.write_text(f"{report.table()}\n\nerrors: {report.errors}\n\nfailures:\n\n{failures}\n")
    return path


def _describe(response) -> str:
    if response is None:
        return "no response"
    body = response.content[:300].decode(errors="replace") if response.content else ""
    return f"{response.status_code} {response.headers.get('content-type', [''])[0]} {body}"


def _record(report: Report, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    for case_id, node in recorder.cases.items():
        label = node.value.operation.label
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        if response is not None:
            report.statuses[label][response.status_code] += 1
        for check in recorder.checks.get(case_id, []):
            counts = report.checks[(label, check.name)]
            if check.status == Status.SUCCESS:
                counts[0] += 1
            elif check.status == Status.FAILURE:
                counts[1] += 1
                info = check.failure_info
                failure = info.failure
                # One entry per operation, check and kind of failure (its title and the first line of its message).
                key = (failure.operation or label, check.name, failure.title or "", failure.message.split("\n")[0])
                report.failures.setdefault(
                    key,
                    Failure(
                        operation=failure.operation or label,
                        check=check.name,
                        title=failure.title or type(failure).__name__,
                        message=failure.message,
                        curl=info.code_sample,
                        response=_describe(response),
                    ),
                )


def closing(app):
    """Serve `app` as a WSGI server does: read the whole answer, then close it (PEP 3333). Closing sends Django's
    `request_finished`, which hands the thread's database connection back to the pool; without it each engine
    thread would keep one checked out, and the test database could not be dropped."""

    def serve(environ, start_response):
        result = app(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            if hasattr(result, "close"):
                result.close()

    return serve


def run(
    *, app, caller: str, token: str, scopes, examples: int | None = None, seed_value: int | None = None, openapi=OPENAPI
) -> Report:
    """Fuzz every operation of `openapi` (the committed openapi.yaml) against `app` (a WSGI callable) with this
    bearer token, whose scopes are `scopes`."""
    examples = max_examples() if examples is None else examples
    seed_value = seed() if seed_value is None else seed_value
    config = config_for(openapi=openapi, token=token, scopes=scopes, examples=examples, seed=seed_value)
    schema = schemathesis.openapi.from_path(openapi, config=config)
    schema.app = closing(app)
    for hook in hooks.ALL:
        schema.hook(hook)
    schema.config.base_url = "http://localhost"
    report = Report(caller=caller, examples=examples, seed=seed_value)
    report.operations = [result.ok().label for result in schema.get_all_operations()]
    started = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event)
        elif isinstance(event, events.PhaseStarted):
            started[event.phase.name.value] = (event.timestamp, report.requests)
            if event.payload is not None:
                report.stateful_links = event.payload.transitions_selected
        elif isinstance(event, events.PhaseFinished):
            name = event.phase.name.value
            if not event.phase.is_enabled:
                report.phases[name] = f"skipped ({event.phase.skip_reason})"
            else:
                at, requests = started.get(name, (event.timestamp, report.requests))
                report.phases[name] = (
                    f"{event.status.value} ({report.requests - requests} requests, {event.timestamp - at:.0f} s)"
                )
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.seconds = event.running_time
            report.errors += [str(f) for f in event.failures]
    return report
