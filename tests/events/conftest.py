"""A real webhook receiver on this machine, and the real worker run in the test until the queue is empty."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
    """`work()` runs procrastinate's worker on the events and webhooks queues until no job is due, as `manage.py
    procrastinate worker` would (its own connections: what it reads must be committed, hence transactional tests)."""
    settings.WEBHOOK_RETRY_DELAYS = (0, 0, 0)

    def run(queues=("events", "webhooks")):
        from procrastinate.contrib.django import app

        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(queues=list(queues), wait=False, install_signal_handlers=False, listen_notify=False)

    return run
