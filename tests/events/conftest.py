"""A real webhook receiver on this machine; the real worker run in the test until the queue is empty, or started as
its own process."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from events.delivery import events_pending

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next status of `statuses` (then 204), and keeps what it received."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    redirect_to: str | None = None


@pytest.fixture
def receiver(settings):
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if state.statuses else 204
            self.send_response(status)
            if state.redirect_to:
                self.send_header("Location", state.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    state.url = f"http://127.0.0.1:{port}/hooks"
    settings.WEBHOOK_ALLOWED_TARGETS = [f"127.0.0.1:{port}"]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def work(settings):
    """`work()` does what the deployed worker does until nothing is left: the relay hands pending events on (in the
    worker, a periodic task every second), then procrastinate's worker runs the due jobs of the queues (events,
    webhooks, reminders), as `manage.py procrastinate worker` would (its own connections: what it reads must be
    committed, hence transactional tests); again while those jobs recorded more events."""
    settings.WEBHOOK_RETRY_DELAYS = (0, 0, 0)
    settings.REMINDER_RETRY_DELAYS = (0, 0, 0)

    def run(queues=("events", "webhooks", "reminders")):
        from procrastinate.contrib.django import app

        from events.delivery import relay_pending

        # The relay hands on the events of ended transactions only: a writing transaction elsewhere on the server
        # (another test process) may hold it back for a moment, so this waits for it, within bounds.
        deadline = time.monotonic() + 60
        while True:
            relay_pending()
            with app.replace_connector(app.connector.get_worker_connector()):
                app.run_worker(queues=list(queues), wait=False, install_signal_handlers=False, listen_notify=False)
            if not events_pending():
                return
            assert time.monotonic() < deadline, "events still pending after 60 s"
            time.sleep(0.05)

    return run


@pytest.fixture
def clean_queue(transactional_db):
    """No job waiting and no worker on record: the test database outlives transactional tests' flushes for
    procrastinate's tables (they are not Django models it manages), so earlier tests leave jobs behind."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
        cursor.execute("DELETE FROM procrastinate_workers")


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log: Path

    def wait_until_live(self, registered, timeout: float = 30) -> None:
        """Until `registered()` says so; fails with the worker's output if it exits or takes longer."""
        deadline = time.monotonic() + timeout
        while not registered():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it: the worker finishes its job, unregisters and exits 0."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


@pytest.fixture
def worker_process(transactional_db, tmp_path):
    """`start(*queues)`: `manage.py procrastinate worker` in its own process, as deployed (config.settings.base,
    LISTEN/NOTIFY and heartbeats from PROCRASTINATE_WORKER_DEFAULTS), on the test database."""
    from django.db import connection

    database = connection.settings_dict
    host = database["HOST"] or database["OPTIONS"].get("host", "")  # django-environ keeps a socket dir in OPTIONS
    url = f"postgres://{database['USER']}@/{database['NAME']}?host={host}"
    if database.get("PORT"):
        url += f"&port={database['PORT']}"
    started: list[WorkerProcess] = []

    def start(*queues: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        command = [sys.executable, "manage.py", "procrastinate", "worker"]
        if queues:
            command += ["--queues", ",".join(queues)]
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.base"}
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append(WorkerProcess(process, log))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()
