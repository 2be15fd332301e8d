"""Events per second one worker delivers to a local webhook receiver, and commit-to-receipt latency at that load.

    DEVDB_DIR=.data/bench python -m tools.devdb exec -- python -m bench.worker [--events N]

`make bench` runs it after the HTTP groups (bench/run.py) and writes its figures under `worker` in the results. On
its own database (`bench_worker`, migrated and seeded with the demo practice): the practice admin subscribes a
receiver on 127.0.0.1 (a ThreadingHTTPServer answering 204) to `case.opened`, and one `manage.py procrastinate
worker` process runs, as deployed (LISTEN/NOTIFY, every queue, one job at a time). Each event is recorded in its own
transaction, as a request would (the event and its pending mark), so the whole path is measured: the relay (every
second) → delivery row and job → NOTIFY → signed POST → the receiver.

1. Throughput: N events committed back to back; events per second = N / (last receipt - first commit), and the
   worker process's CPU time per event (what the rate would be on an idle core).
2. Latency at that load: N more, paced at 80 % of that rate; for each, receipt time - commit time (one clock, this
   process), p50 and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_worker"
SETTINGS = "config.settings.bench"
PACE = 0.8


class Receiver:
    """A webhook receiver on 127.0.0.1 that notes when each event arrived (by event id)."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.setdefault(json.loads(body)["data"]["id"], time.monotonic())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(i not in self.arrived for i in ids):
            if time.monotonic() > deadline:
                missing = sum(i not in self.arrived for i in ids)
                raise RuntimeError(f"{missing} of {len(ids)} events did not arrive within {timeout:.0f} s")
            time.sleep(0.005)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def prepare(base_url: str, receiver: Receiver) -> dict:
    """The bench database, migrated and seeded; Django set up on it in this process. The environment for the
    worker process."""
    import psycopg

    from bench.run import database_url, manage

    url = database_url(base_url, DATABASE)
    with psycopg.connect(database_url(base_url, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    manage(url, "migrate", "-v0")
    manage(url, "seed_demo")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "WEBHOOK_ALLOWED_TARGETS": f"127.0.0.1:{receiver.port}",
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def subscribe(receiver: Receiver) -> None:
    """The admin's subscription to the receiver; earlier runs' subscriptions and leftover jobs out of the way."""
    from django.db import connection

    from clinical.models import Role, User
    from events.models import WebhookSubscription
    from events.webhooks import webhook_create

    WebhookSubscription.objects.update(active=False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
    admin = User.objects.filter(role=Role.ADMIN, is_active=True).first()
    webhook_create(actor=admin, url=receiver.url, event_types=["case.opened"])


def emit() -> tuple[str, float]:
    """One event in its own transaction, as a request records it; (its id, when it committed)."""
    from django.db import transaction

    from events.services import event_record

    with transaction.atomic():
        event = event_record("case.opened", {"case": str(uuid.uuid4())})
    return str(event.pk), time.monotonic()


def start_worker(env: dict) -> subprocess.Popen:
    from events.selectors import worker_state

    worker = subprocess.Popen([sys.executable, "manage.py", "procrastinate", "worker"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while worker_state().live_workers == 0:
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError("the worker did not start")
        time.sleep(0.1)
    return worker


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(base_url: str, events: int) -> dict:
    receiver = Receiver()
    worker = None
    try:
        env = prepare(base_url, receiver)
        subscribe(receiver)
        worker = start_worker(env)
        receiver.wait_for([emit()[0] for _ in range(5)], 30)  # warm: connections, imports

        process = psutil.Process(worker.pid)
        cpu_before = sum(process.cpu_times()[:2])
        burst = [emit() for _ in range(events)]
        receiver.wait_for([i for i, _ in burst], 60 + events)
        last = max(receiver.arrived[i] for i, _ in burst)
        rate = events / (last - burst[0][1])
        cpu_ms = (sum(process.cpu_times()[:2]) - cpu_before) * 1000 / events

        interval = 1 / (rate * PACE)
        paced, started = [], time.monotonic()
        for n in range(events):
            time.sleep(max(0.0, started + n * interval - time.monotonic()))
            paced.append(emit())
        receiver.wait_for([i for i, _ in paced], 60 + events)
        latencies = [(receiver.arrived[i] - committed) * 1000 for i, committed in paced]
        return {
            "events": events,
            "events_per_second": round(rate, 1),
            "worker_cpu_ms_per_event": round(cpu_ms, 1),
            "paced_at_per_second": round(rate * PACE, 1),
            "latency_p50_ms": round(statistics.median(latencies), 1),
            "latency_p99_ms": round(percentile(latencies, 0.99), 1),
            "latency_max_ms": round(max(latencies), 1),
        }
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        receiver.close()


def print_figures(figures: dict) -> None:
    print(
        f"\nworker: {figures['events_per_second']} events/s delivered by one worker ({figures['events']} events, "
        f"{figures['worker_cpu_ms_per_event']} ms of its CPU each); "
        f"commit to receipt at {figures['paced_at_per_second']}/s: p50 {figures['latency_p50_ms']} ms, "
        f"p99 {figures['latency_p99_ms']} ms, max {figures['latency_max_ms']} ms",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args(argv)
    print_figures(measure(os.environ["DATABASE_URL"], args.events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
