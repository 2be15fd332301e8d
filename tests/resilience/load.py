"""Mobile clients on loopback, as a flaky network makes them behave.

Each client is a thread with its own token, its own homework and its own source address (127.0.0.x), so the
server sees as many addresses as clients, as it would in the field. Plain http.client, one connection per request
(gunicorn's sync workers close each one anyway): nothing to install, and every timeout, reset and retry is under
the script's control, which wrk's Lua cannot express per logical request (the same Idempotency-Key until an answer).

A client loops until the load's deadline: mostly it sends a completion (a fresh Idempotency-Key); sometimes it
reads its homework (me/assignments/), its submissions (a page) or one of them. A completion is resent with the
same key and body until the server gives a final answer: after a timeout (one attempt in ten waits only 50-500 ms),
a dropped connection, a 503, a 409 (the first attempt still running) or a 429; and one success in seven is resent
anyway, as an app that lost the answer would. Every attempt is recorded with its X-Request-ID, so the audit trail
and the database can be checked against what the clients saw.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

SUBMISSIONS = "/api/v1/submissions/"
MY_HOMEWORK = "/api/v1/me/assignments/"
PROBLEM = "application/problem+json"
NORMAL_TIMEOUT = 10.0


@dataclass
class ClientPlan:
    """What a client needs: from practice.prepare()."""

    index: int
    user_id: str
    token: str
    assignment: str
    responses: list[dict]


@dataclass
class Call:
    client: int
    kind: str  # submit | me_assignments | submissions | submission
    method: str
    started: float  # time.monotonic()
    elapsed: float
    request_id: str
    status: int | None = None  # None: no answer
    error: str = ""  # timeout | disconnect | refused | ... when there was no answer
    problem: bool = False  # answered application/problem+json
    code: str = ""  # the problem's code
    replayed: bool = False
    key: str | None = None
    submission_id: str | None = None
    timeout: float = 0.0  # how long the client was willing to wait

    @property
    def ended(self) -> float:
        return self.started + self.elapsed


@dataclass
class KeyOutcome:
    """One logical submission (one Idempotency-Key) as its client saw it."""

    key: str
    client: int
    user_id: str
    attempts: int = 0
    submission_id: str | None = None  # from the first 201
    created_request: str | None = None  # the request id of the 201 that was not a replay, if the client saw it
    refused: int | None = None  # a final 4xx
    lost_answers: Counter = field(default_factory=Counter)  # attempts without an answer: timeout, disconnect, ...
    after_lost_answer: str = ""  # how the key ended after an attempt without an answer: "replayed" | "created"
    mismatches: list[str] = field(default_factory=list)  # a later answer that disagrees with the first 201
    retried_after: Counter = field(default_factory=Counter)  # answers that made the client retry: 409, 429, 503
    resent_after_success: int = 0

    @property
    def resolved(self) -> bool:
        return self.submission_id is not None or self.refused is not None


class Load:
    """`clients` threads against 127.0.0.1:port until `seconds` have passed; then each finishes the completion it is
    sending (retrying up to `drain` seconds more) and stops."""

    def __init__(
        self, port: int, plans: list[ClientPlan], *, seconds: float, seed: int, drain: float = 60.0, one_address=False
    ):
        self.port = port
        self.one_address = one_address  # every client from 127.0.0.1 (as behind one NAT) instead of its own
        self.plans = plans
        self.seconds = seconds
        self.drain = drain
        self.seed = seed
        self.calls: list[Call] = []
        self.keys: dict[str, KeyOutcome] = {}
        self.in_flight: dict[str, tuple[str, str]] = {}  # source address → (kind, request id) it is waiting on
        self._lock = threading.Lock()
        self.started = self.stop_at = self.hard_stop = 0.0

    def run(self) -> None:
        self.started = time.monotonic()
        self.stop_at = self.started + self.seconds
        self.hard_stop = self.stop_at + self.drain
        threads = [
            threading.Thread(target=MobileClient(self, plan, random.Random(self.seed * 1000 + plan.index)).run)
            for plan in self.plans
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def outcome(self, outcome: KeyOutcome) -> None:
        with self._lock:
            self.keys[outcome.key] = outcome


class MobileClient:
    def __init__(self, load: Load, plan: ClientPlan, rng: random.Random):
        self.load, self.plan, self.rng = load, plan, rng
        self.address = "127.0.0.1" if load.one_address else f"127.0.0.{10 + plan.index}"
        self.stored: list[str] = []  # ids of my submissions, for detail reads

    def run(self) -> None:
        while time.monotonic() < self.load.stop_at:
            roll = self.rng.random()
            if roll < 0.6:
                self.submit()
            elif roll < 0.75:
                self.request("GET", MY_HOMEWORK, kind="me_assignments")
            elif roll < 0.9:
                self.request("GET", f"{SUBMISSIONS}?page_size=20", kind="submissions")
            elif self.stored:
                self.request("GET", f"{SUBMISSIONS}{self.rng.choice(self.stored)}/", kind="submission")
            time.sleep(self.rng.uniform(0, 0.1))

    def submit(self) -> None:
        completed_at = datetime.now(UTC) - timedelta(minutes=self.rng.randint(1, 180))
        body = json.dumps(
            {
                "assignment": self.plan.assignment,
                "completed_at": completed_at.isoformat(timespec="seconds"),
                "responses": self.rng.choice(self.plan.responses),
                "shared_with_partner": self.rng.random() < 0.5,
            }
        )
        outcome = KeyOutcome(key=str(uuid.uuid4()), client=self.plan.index, user_id=self.plan.user_id)
        answerless = False
        while not outcome.resolved and time.monotonic() < self.load.hard_stop:
            timeout = self.rng.uniform(0.05, 0.5) if self.rng.random() < 0.1 else NORMAL_TIMEOUT
            call = self.request("POST", SUBMISSIONS, body=body, key=outcome.key, timeout=timeout, kind="submit")
            outcome.attempts += 1
            if call.status == 201:
                outcome.submission_id = call.submission_id
                if not call.replayed:
                    outcome.created_request = call.request_id
                if answerless:
                    outcome.after_lost_answer = "replayed" if call.replayed else "created"
                self.stored.append(call.submission_id)
            elif call.status is None:
                outcome.lost_answers[call.error] += 1
                answerless = True
                time.sleep(self.rng.uniform(0.05, 0.3))
            elif call.status in (409, 429, 503) or call.status >= 500:
                outcome.retried_after[call.status] += 1
                time.sleep(self.rng.uniform(0.2, 1.0) if call.status != 409 else self.rng.uniform(0.05, 0.2))
            else:
                outcome.refused = call.status
        if outcome.submission_id and self.rng.random() < 1 / 7:
            # The app lost the answer and sends the same completion again: the same answer must come back.
            outcome.resent_after_success += 1
            call = self.request("POST", SUBMISSIONS, body=body, key=outcome.key, kind="submit")
            if call.status == 201 and (not call.replayed or call.submission_id != outcome.submission_id):
                outcome.mismatches.append(f"resent: replayed={call.replayed} id={call.submission_id}")
            elif call.status is not None and call.status != 201 and call.status not in (429, 503):
                outcome.mismatches.append(f"resent: answered {call.status} {call.code}")
        self.load.outcome(outcome)

    def request(self, method, path, *, body=None, key=None, timeout=NORMAL_TIMEOUT, kind) -> Call:
        call = Call(self.plan.index, kind, method, time.monotonic(), 0.0, uuid.uuid4().hex, key=key, timeout=timeout)
        headers = {
            "Authorization": f"Bearer {self.plan.token}",
            "Accept": "application/json",
            "X-Request-ID": call.request_id,
            "User-Agent": "resilience-mobile-client/1",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.load.port, timeout=timeout, source_address=(self.address, 0)
        )
        self.load.in_flight[self.address] = (kind, call.request_id)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            call.status = response.status
            call.problem = response.getheader("Content-Type", "").startswith(PROBLEM)
            call.replayed = response.getheader("Idempotent-Replayed") == "true"
            try:
                payload = json.loads(data) if data else {}
            except ValueError:
                payload, call.code = {}, "not-json"
            if call.problem:
                call.code = payload.get("code", "")
            elif call.status == 201:
                call.submission_id = payload.get("id")
        except TimeoutError:
            call.error = "timeout"
        except ConnectionRefusedError:
            call.error = "refused"
        except (ConnectionError, http.client.HTTPException):
            call.error = "disconnect"  # reset, or closed without an answer (a worker killed mid-request)
        except OSError as exc:
            call.error = type(exc).__name__
        finally:
            connection.close()
            call.elapsed = time.monotonic() - call.started
            self.load.in_flight.pop(self.address, None)
        self.load.record(call)
        return call


# ---------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def figures(load: Load, calls: list[Call] | None = None) -> dict:
    calls = load.calls if calls is None else calls
    answered = [c for c in calls if c.status is not None]
    statuses = Counter(str(c.status) if c.status is not None else c.error for c in calls)
    latencies = [c.elapsed for c in answered]
    duration = max((c.ended for c in calls), default=load.started) - load.started
    return {
        "requests": len(calls),
        "per_second": round(len(calls) / duration, 1) if duration > 0 else 0,
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(1 for c in answered if c.status >= 500),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=None),
        "phi_reads_ok": sum(1 for c in answered if c.method == "GET" and c.status == 200),
        "completions": len(load.keys),
        "created_201": sum(1 for k in load.keys.values() if k.submission_id),
        "resent_after_success": sum(k.resent_after_success for k in load.keys.values()),
        "answers_lost": sum(sum(k.lost_answers.values()) for k in load.keys.values()),
        "replays_seen": sum(1 for c in answered if c.replayed),
        # How many completions were retried after each kind of answer (a completion counts once per kind).
        "completions_retried_after": dict(Counter(s for k in load.keys.values() for s in k.retried_after)),
    }


def print_figures(title: str, numbers: dict) -> None:
    print(f"  {title}: {numbers['requests']} requests ({numbers['per_second']}/s), statuses {numbers['statuses']}")
    print(
        f"    5xx {numbers['server_errors']}, latency p50 {ms(numbers['p50'])}, p99 {ms(numbers['p99'])}, "
        f"max {ms(numbers['max'])}; PHI reads answered 200: {numbers['phi_reads_ok']}"
    )
    print(
        f"    completions {numbers['completions']} (201: {numbers['created_201']}), attempts without an answer "
        f"{numbers['answers_lost']}, replays answered {numbers['replays_seen']} "
        f"(of which resent after a success: {numbers['resent_after_success']}); completions retried after "
        f"409/429/503: {numbers['completions_retried_after'] or 'none'}"
    )
