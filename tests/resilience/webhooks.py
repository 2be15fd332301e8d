"""The webhook side of `make resilience` (issue 14): a procrastinate worker process beside gunicorn, a real receiver in
this process that verifies every delivery with the `standardwebhooks` library, the practice admin's subscription
made through the API, and the scenarios that break the path between them.

- receiver_down  load; the receiver goes down (connection refused, or 503 with --receiver-down-mode 503) for
                 --receiver-down seconds (default 600), then comes back; every submission.created event of the
                 scenario arrives, one accepted webhook-id per event, no delivery failed.
- worker_kill    the receiver answers after 2 s; the worker is SIGKILLed while a delivery is in flight and a new one
                 started; the stalled job is retried by housekeeping (heartbeat older than 30 s) and the receiver
                 sees the same webhook-id again; every event arrives.
- outage         (run.py) with the subscription live: every submission answered 201 has its event and its delivery
                 arrives after PostgreSQL is back (`check_after_outage`).

The worker runs with WEBHOOK_RETRY_DELAYS = RETRY_DELAYS below instead of the production schedule (10 s … 12 h over a
day): the same code path (exponential backoff with ±20 % jitter, scheduled procrastinate jobs), capped at 4 minutes,
so that a receiver back after 10 minutes is retried within about 5 minutes and the run ends. Nine attempts cover
about 20 minutes (16 at -20 % jitter), more than the default outage.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

RETRY_DELAYS = (5, 15, 30, 60, 120, 240, 240, 240, 240)
SLOW_ANSWER = 2.0  # seconds the receiver takes in worker_kill, so that the kill lands inside a delivery
STALLED_AFTER = 30  # config/settings/base.py WORKER_STALLED_AFTER_SECONDS


# ---------------------------------------------------------------- the receiver


@dataclass
class Accepted:
    event_id: str
    at: float  # time.time(), when the receiver accepted it (after its answer delay)


class Receiver:
    """A webhook receiver on 127.0.0.1:`port`, as an integrator writes one: verify the raw body with the
    `standardwebhooks` library, drop duplicates by `webhook-id`, answer 204. It can be switched down (its socket
    closed: connection refused; or answering 503) and up again, and made slow."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hooks"
        self.secret: str | None = None
        self.mode = "up"  # up | 503 (refused: no server at all)
        self.delay = 0.0
        self.lock = threading.Lock()
        self.accepted: dict[str, Accepted] = {}  # webhook-id -> the event it carried
        self.received: Counter = Counter()  # webhook-id -> verified receipts (503 answers included)
        self.receipts: list[tuple[float, str]] = []  # (time.monotonic(), webhook-id) of every verified receipt
        self.duplicates = 0  # receipts of an id already accepted (dropped, answered 204)
        self.invalid = 0  # signature or timestamp refused by the library
        self.answered_503 = 0
        self.in_flight: Counter = Counter()  # webhook-ids being handled right now
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.invalid += 1
                    return self.answer(400)
                webhook_id = headers["webhook-id"]
                with receiver.lock:
                    receiver.received[webhook_id] += 1
                    receiver.receipts.append((time.monotonic(), webhook_id))
                    receiver.in_flight[webhook_id] += 1
                try:
                    if receiver.mode == "503":
                        with receiver.lock:
                            receiver.answered_503 += 1
                        return self.answer(503)
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    with receiver.lock:  # processed, then answered: a sender cut off in between sends it again
                        if webhook_id in receiver.accepted:
                            receiver.duplicates += 1
                        else:
                            receiver.accepted[webhook_id] = Accepted(payload["data"]["id"], time.time())
                    return self.answer(204)
                finally:
                    with receiver.lock:
                        receiver.in_flight[webhook_id] -= 1
                        if not receiver.in_flight[webhook_id]:
                            del receiver.in_flight[webhook_id]

            def answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the worker that sent it was killed

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self, how: str) -> None:
        if how == "503":
            self.mode = "503"
        else:
            self.close()

    def up(self) -> None:
        self.mode = "up"
        if self.server is None:
            self.start()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# ---------------------------------------------------------------- the worker


class Worker:
    """`manage.py procrastinate worker` in its own process, as `make run` starts it (every queue, one job at a time,
    LISTEN/NOTIFY and heartbeats), its output appended to .data/resilience/worker.log. A watcher restarts it within a
    second when it exits by itself, as a process manager does (Docker's restart policy; `make run` instead stops
    everything), and notes each exit."""

    def __init__(self, root: Path, env: dict, log: Path):
        self.root, self.env, self.log = root, env, log
        self.process: subprocess.Popen | None = None
        self.started = 0
        self.exits: list[dict] = []  # exits by itself: when (time.monotonic()), exit status
        self.lock = threading.Lock()
        self.stopping = False

    def start(self) -> None:
        with self.lock:
            self._start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _start(self) -> None:
        with self.log.open("a") as out:
            command = [sys.executable, "manage.py", "procrastinate", "worker"]
            self.process = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.started += 1

    def _watch(self) -> None:
        while not self.stopping:
            time.sleep(1)
            with self.lock:
                if not self.stopping and self.process.poll() is not None:
                    self.exits.append({"at": time.monotonic(), "status": self.process.returncode})
                    self._start()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_and_restart(self) -> None:
        """SIGKILL, and a new worker at once (the dead one's running jobs wait for the stalled-job recovery)."""
        with self.lock:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self._start()

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def worker_env(receiver_port: int) -> dict:
    return {
        "WEBHOOK_ALLOWED_TARGETS": f"127.0.0.1:{receiver_port}",
        "WEBHOOK_RETRY_DELAYS": ",".join(str(d) for d in RETRY_DELAYS),
    }


# ---------------------------------------------------------------- the subscription


@dataclass
class Webhooks:
    receiver: Receiver
    worker: Worker
    subscription: str = ""
    admin_token: str = ""
    figures: dict = field(default_factory=dict)


def subscribe(hooks: Webhooks, port: int) -> None:
    """The practice admin's subscription to submission.created, made through the API with an admin token; the
    secret comes back once, in that answer."""
    from oauth2_provider.models import AccessToken, set_token_value

    from clinical.models import OAuthApplication, Role, User

    admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("created_at").first()
    application = OAuthApplication.objects.get(name="resilience")
    raw = secrets.token_urlsafe(24)
    token = AccessToken(
        user_id=admin.pk, application=application, scope="admin", expires=timezone_now() + timedelta(hours=6)
    )
    set_token_value(token, raw)
    token.save()
    body = json.dumps({"url": hooks.receiver.url, "event_types": ["submission.created"], "description": "resilience"})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/webhooks/",
        data=body.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        made = json.loads(answer.read())
    hooks.subscription, hooks.admin_token = made["id"], raw
    hooks.receiver.secret = made["secret"]
    print(f"webhooks: the admin's subscription {made['id']} to submission.created -> {hooks.receiver.url}")


def timezone_now():
    from django.utils import timezone

    return timezone.now()


# ---------------------------------------------------------------- checking what arrived


def events_since(since) -> list:
    from events.models import Event

    return list(Event.objects.filter(type="submission.created", occurred_at__gte=since).order_by("sequence"))


def wait_and_check(hooks: Webhooks, outcome, since, *, timeout: float, label: str = "webhooks") -> dict:
    """Wait (up to `timeout` s) until every submission.created event since `since` was accepted by the receiver and
    none of their deliveries is pending any more, then hold the receiver against the events table and the
    deliveries: each event arrived under exactly one webhook-id, accepted once (duplicates dropped and counted), no
    delivery failed or withheld."""
    from django.db import connections

    from events.models import DeliveryStatus, WebhookAttempt, WebhookDelivery

    started = time.monotonic()
    deadline = started + timeout
    while True:
        connections.close_all()
        events = events_since(since)
        wanted = {str(e.pk) for e in events}
        with hooks.receiver.lock:
            arrived = {a.event_id for a in hooks.receiver.accepted.values()}
        # Arrived is not enough: a delivery cut off after the receiver took it is still pending, and is sent again.
        pending = WebhookDelivery.objects.filter(
            subscription_id=hooks.subscription, event__in=events, status=DeliveryStatus.PENDING
        ).exists()
        if (wanted <= arrived and not pending) or time.monotonic() > deadline:
            break
        time.sleep(2)
    waited = time.monotonic() - started

    deliveries = list(
        WebhookDelivery.objects.filter(subscription_id=hooks.subscription, event_id__in=[e.pk for e in events])
    )
    by_event = {str(d.event_id): d for d in deliveries}
    attempts = Counter(
        str(i)
        for i in WebhookAttempt.objects.filter(delivery__in=[d.pk for d in deliveries]).values_list(
            "delivery_id", flat=True
        )
    )
    receiver = hooks.receiver
    with receiver.lock:
        accepted = {k: v for k, v in receiver.accepted.items() if k in {str(d.pk) for d in deliveries}}
        received = {k: receiver.received[k] for k in accepted}
    ids_per_event = Counter(a.event_id for a in accepted.values())
    occurred = {str(e.pk): e.occurred_at.timestamp() for e in events}
    latencies = [a.at - occurred[a.event_id] for a in accepted.values() if a.event_id in occurred]
    statuses = Counter(d.status for d in deliveries)
    numbers = {
        "events_emitted": len(events),
        "deliveries": len(deliveries),
        "delivered": len({a.event_id for a in accepted.values()} & set(occurred)),
        "missing": len(set(occurred) - {a.event_id for a in accepted.values()}),
        "delivery_status": dict(statuses),
        "attempts_recorded": sum(attempts.values()),
        "retries": sum(max(0, n - 1) for n in attempts.values()),
        "deliveries_retried": sum(1 for n in attempts.values() if n > 1),
        "receipts": sum(received.values()),
        "duplicates_received": sum(n - 1 for n in received.values()),
        "events_with_more_than_one_webhook_id": sum(1 for n in ids_per_event.values() if n > 1),
        "invalid_signatures": receiver.invalid,
        "latency_p50_s": round(sorted(latencies)[len(latencies) // 2], 2) if latencies else None,
        "latency_max_s": round(max(latencies), 2) if latencies else None,
        "waited_s": round(waited, 1),
    }
    outcome.figures[label] = numbers
    print(
        f"    {label}: {numbers['events_emitted']} submission.created events, {numbers['delivered']} accepted by the "
        f"receiver ({numbers['missing']} missing after waiting {numbers['waited_s']} s); deliveries "
        f"{numbers['delivery_status']}; {numbers['attempts_recorded']} attempts recorded, {numbers['retries']} retries "
        f"({numbers['deliveries_retried']} deliveries retried); {numbers['receipts']} receipts, "
        f"{numbers['duplicates_received']} duplicates dropped by webhook-id; events under more than one webhook-id: "
        f"{numbers['events_with_more_than_one_webhook_id']}; invalid signatures: {numbers['invalid_signatures']}; "
        f"commit to acceptance p50 {numbers['latency_p50_s']} s, max {numbers['latency_max_s']} s"
    )
    outcome.require(numbers["events_emitted"] > 0, f"{label}: no submission.created event: nothing was tested")
    outcome.require(numbers["missing"] == 0, f"{label}: {numbers['missing']} events never accepted by the receiver")
    no_delivery = [e for e in occurred if e not in by_event]
    outcome.require(not no_delivery, f"{label}: {len(no_delivery)} events without a delivery for the subscription")
    outcome.require(
        numbers["events_with_more_than_one_webhook_id"] == 0,
        f"{label}: {numbers['events_with_more_than_one_webhook_id']} events arrived under two webhook-ids",
    )
    not_done = {s: n for s, n in statuses.items() if s != DeliveryStatus.SUCCEEDED}
    outcome.require(not not_done, f"{label}: deliveries not succeeded: {not_done}")
    outcome.require(receiver.invalid == 0, f"{label}: {receiver.invalid} deliveries failed signature verification")
    return numbers


def submissions_have_events(outcome, load) -> None:
    """Every submission a client was answered 201 for has its submission.created event."""
    from events.models import Event

    answered = {k.submission_id for k in load.keys.values() if k.submission_id}
    with_event = set(
        Event.objects.filter(type="submission.created", about__submission__in=list(answered)).values_list(
            "about__submission", flat=True
        )
    )
    missing = answered - {str(s) for s in with_event}
    outcome.figures["submissions_answered_201_without_event"] = len(missing)
    print(f"    submissions answered 201: {len(answered)}, without their submission.created event: {len(missing)}")
    outcome.require(not missing, f"{len(missing)} submissions answered 201 have no submission.created event")


# ---------------------------------------------------------------- scenarios


def receiver_down(context):
    from django.utils import timezone

    from .load import figures, print_figures
    from .run import Outcome

    args, hooks = context.args, context.webhooks
    outcome = Outcome("receiver_down")
    plans = context.plans[: args.webhook_clients]
    seconds, down_for = args.webhook_seconds, args.receiver_down
    down_at = seconds / 3
    print(
        f"\nreceiver_down: {len(plans)} clients for {seconds:.0f} s; the receiver down ({args.receiver_down_mode}) at "
        f"{down_at:.0f} s for {down_for:.0f} s; retries every {', '.join(map(str, RETRY_DELAYS))} s",
        flush=True,
    )
    since = timezone.now()
    load = context.load(seconds, seed=4, plans=plans)
    runner = threading.Thread(target=load.run)
    runner.start()
    time.sleep(down_at)
    hooks.receiver.down(args.receiver_down_mode)
    went_down = time.monotonic()
    runner.join()
    time.sleep(max(0.0, went_down + down_for - time.monotonic()))
    hooks.receiver.up()
    back = time.monotonic()
    print(f"    receiver back after {back - went_down:.0f} s", flush=True)
    numbers = figures(load)
    outcome.figures.update({"load": numbers, "receiver_down_seconds": round(back - went_down, 1)})
    print_figures("load", numbers)
    outcome.require(numbers["server_errors"] == 0, f"{numbers['server_errors']} 5xx answers")
    # The longest a delivery can wait for its next attempt is the largest delay (+20 %); then a minute to drain.
    result = wait_and_check(hooks, outcome, since, timeout=max(RETRY_DELAYS) * 1.2 + 60)
    with hooks.receiver.lock:
        after = [t for t, _ in hooks.receiver.receipts if t >= back]
    first_after = min(after, default=None)
    outcome.figures["first_receipt_after_return_s"] = None if first_after is None else round(first_after - back, 2)
    print(f"    first delivery after the receiver came back: {outcome.figures['first_receipt_after_return_s']} s")
    outcome.require(result["retries"] > 0, "no delivery was retried: the receiver's outage tested nothing")
    submissions_have_events(outcome, load)
    return outcome


def worker_kill(context):
    from django.utils import timezone

    from .load import figures, print_figures
    from .run import Outcome

    args, hooks = context.args, context.webhooks
    outcome = Outcome("worker_kill")
    plans = context.plans[: args.webhook_clients]
    seconds = args.webhook_kill_seconds
    print(
        f"\nworker_kill: {len(plans)} clients for {seconds:.0f} s; the receiver answers after {SLOW_ANSWER:.0f} s; "
        f"the worker is SIGKILLed inside a delivery and a new one started",
        flush=True,
    )
    since = timezone.now()
    hooks.receiver.delay = SLOW_ANSWER
    load = context.load(seconds, seed=5, plans=plans)
    runner = threading.Thread(target=load.run)
    runner.start()
    time.sleep(seconds / 2)
    cut: list[str] = []
    deadline = time.monotonic() + 30
    while not cut and time.monotonic() < deadline:
        with hooks.receiver.lock:
            in_flight = list(hooks.receiver.in_flight)
        if in_flight:
            time.sleep(random.uniform(0.2, 1.0))
            with hooks.receiver.lock:
                cut = [i for i in in_flight if i in hooks.receiver.in_flight]
            if cut:
                hooks.worker.kill_and_restart()
                killed_at = time.monotonic()
        else:
            time.sleep(0.05)
    hooks.receiver.delay = 0.0
    runner.join()
    numbers = figures(load)
    outcome.figures["load"] = numbers
    print_figures("load", numbers)
    outcome.require(bool(cut), "no delivery was in flight to kill the worker in: nothing was tested")
    if not cut:
        return outcome
    print(f"    worker SIGKILLed while delivering {cut}; a new worker started", flush=True)
    # The stalled job comes back once the dead worker's heartbeat is STALLED_AFTER s old and housekeeping runs (15 s).
    wait_and_check(hooks, outcome, since, timeout=STALLED_AFTER + 15 + 120)
    with hooks.receiver.lock:
        receipts = [(t, r) for t, r in hooks.receiver.receipts if t > killed_at]
        again = {i: [round(t - killed_at, 1) for t, r in receipts if r == i] for i in cut}
        accepted = {i: i in hooks.receiver.accepted for i in cut}
    outcome.figures.update({"cut_deliveries": cut, "received_again_after_kill_s": again})
    print(f"    the cut deliveries' webhook-ids received again (seconds after the kill): {again}; accepted: {accepted}")
    for webhook_id in cut:
        outcome.require(bool(again[webhook_id]), f"delivery {webhook_id}, cut by the kill, was not sent again")
        outcome.require(accepted[webhook_id], f"delivery {webhook_id}, cut by the kill, was never accepted")
    submissions_have_events(outcome, load)
    return outcome


def check_after_outage(context, outcome, load, since, stop_issued: float, back: float) -> None:
    """outage, with the subscription live: whether the worker survived PostgreSQL's stop (else the watcher restarted
    it), and every event arrives."""
    hooks = context.webhooks
    exits = [e for e in hooks.worker.exits if e["at"] >= stop_issued]
    outcome.figures["worker_exits_during_outage"] = [
        {"after_stop_s": round(e["at"] - stop_issued, 1), "status": e["status"]} for e in exits
    ]
    last_start = max((e["at"] for e in exits), default=None)
    print(
        "    worker: "
        + (
            "survived the outage"
            if not exits
            else f"exited {len(exits)} times (statuses {sorted({e['status'] for e in exits})}) from "
            f"{exits[0]['at'] - stop_issued:.1f} s after the stop, restarted within 1 s each time; running again "
            f"{last_start - back:+.1f} s from the database's return"
        )
    )
    submissions_have_events(outcome, load)
    wait_and_check(hooks, outcome, since, timeout=300)


def worker_log_figures(path: Path) -> dict:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return {
        "lines": len(lines),
        "tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
        "stalled_jobs_retried": sum(1 for line in lines if "retried" in line and "stalled" in line),
    }
