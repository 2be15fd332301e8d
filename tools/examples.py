"""The contract's examples, taken from the demo practice: `python -m tools.examples write` (`make examples`).

It builds the demo practice (`manage.py seed_demo`) in a fresh test database, then walks the real API in process
(DRF's APIClient, with bearer tokens from the real password grant of demo-cli) as the role each operation is for,
and records, per operation (method and path template), the first request body it sent and the 2xx answer it got
into `api/examples.json`. `api/examples.py` puts them into openapi.yaml; `tests/api/test_examples.py` holds the
two together and validates every example against its operation's schema.

    python -m tools.examples write    regenerate api/examples.json
    python -m tools.examples check    fail (with a diff) when the committed file differs from a fresh walk

The same walk gives the same file: the clock stands still at DEMO_NOW (time-machine) and moves one second per
request, and the process's randomness (UUIDs, tokens, secrets, salts) comes from a seeded generator. Only what
cannot be pinned that way is replaced after the walk: a delivery's latency, the queue's lag in the health answer
(PostgreSQL's clock is not frozen), and the address of the local receiver the webhook deliveries go to (the
example shows a receiver on the internet instead).
"""

from __future__ import annotations

import difflib
import json
import os
import random
import socket
import struct
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_FILE = ROOT / "api" / "examples.json"
API = "/api/v1"
# A Monday morning in the demo practice's life; every date of the demo is relative to it.
DEMO_NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SEED = 20261116
PAGE_SIZE = 2  # lists are asked for short pages: an example, not the whole practice
# The example's webhook receiver: a name that resolves on the internet (the API resolves a target before taking it).
RECEIVER_URL = "https://example.com/hooks/couples-api"
LATENCY_MS = 38  # a delivery's round trip to RECEIVER_URL, as the example shows it (the local one varies)
QUEUE_LAG_SECONDS = 0.4  # the health answer's queue lag, as the example shows it
ROLE_SCOPES = {
    "admin": "admin",
    "supervisor": "clinical:read clinical:write reports",
    "clinician": "clinical:read clinical:write reports",
    "alex": "homework",
    "sam": "homework",
    "riley": "homework",  # a client the walk takes on, signed in once they have a login
}


# ---------------------------------------------------------------- what is pinned


class SeededBytes:
    """os.urandom's stand-in: the same bytes in the same order on every run."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)  # noqa: S311 -- examples, not secrets
        self.lock = threading.Lock()

    def __call__(self, n: int) -> bytes:
        with self.lock:
            return self.random.randbytes(n)


@contextmanager
def pinned():
    """A clock standing at DEMO_NOW (moved by `tick`) and seeded randomness, for the duration."""
    import time_machine

    seeded = SeededBytes(SEED)
    saved = os.urandom, random._urandom
    os.urandom = random._urandom = seeded
    try:
        with time_machine.travel(DEMO_NOW, tick=False) as traveller:
            yield traveller
    finally:
        os.urandom, random._urandom = saved


@contextmanager
def fresh_database():
    """A test database of its own (created, migrated, dropped afterwards), as pytest-django makes one."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    connection.settings_dict["TEST"]["NAME"] = f"test_examples_{os.getpid()}"
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        from api.token_cache import cache as token_cache

        token_cache.stop()  # its listener holds a connection to the database about to be dropped
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


@contextmanager
def receiver():
    """A webhook receiver on this machine answering 204; the walk's webhook points at it under RECEIVER_URL's
    name (resolved here to 127.0.0.1, allowed as a target)."""
    from django.test import override_settings

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    host = "hooks.demo.test"
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if name == host else name, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with override_settings(WEBHOOK_ALLOWED_TARGETS=[f"{host}:{port}"], WEBHOOK_RETRY_DELAYS=(0, 0, 0)):
            yield f"http://{host}:{port}/couples-api"
    finally:
        socket.getaddrinfo = real_getaddrinfo
        server.shutdown()
        server.server_close()


def run_worker():
    """What the deployed worker does, until nothing is due: the relay hands the events on (the webhook deliveries),
    then procrastinate's worker runs the jobs, as `manage.py procrastinate worker` would."""
    from procrastinate.contrib.django import app

    from events.delivery import relay_pending

    relay_pending()
    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(queues=["events", "webhooks"], wait=False, install_signal_handlers=False, listen_notify=False)


# ---------------------------------------------------------------- the walk's bookkeeping


@dataclass
class Walk:
    """Calls the API as the demo's people and keeps the first request and 2xx answer of each operation."""

    traveller: object
    operations: dict[str, dict]  # "METHOD /path/{template}" -> the contract's operation
    receiver_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, dict] = field(default_factory=dict)
    keys: int = 0

    def sign_in(self, role: str, email: str, password: str | None = None) -> None:
        from django.test import Client

        from clinical.services.demo import DEMO_PASSWORD

        answer = Client().post(
            "/o/token/",
            {
                "grant_type": "password",
                "username": email,
                "password": password or DEMO_PASSWORD,
                "client_id": "demo-cli",
                "scope": ROLE_SCOPES[role],
            },
        )
        assert answer.status_code == 200, answer.content
        self.tokens[role] = answer.json()["access_token"]

    def client(self, role: str | None):
        from rest_framework.test import APIClient

        client = APIClient()
        if role:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}")
        return client

    def call(self, role, method, template, body=None, *, query=None, record=True, **ids):
        """`method template` (a path of the contract, `{id}` and friends filled from `ids`) as `role`; the answer
        must be 2xx. Sends an Idempotency-Key where the operation takes one, and the record's
        current ETag where it needs If-Match."""
        self.traveller.shift(timedelta(seconds=1))
        key = f"{method.upper()} {API}{template}"
        operation = self.operations[key]
        path = f"{API}{template}".format(**ids)
        headers = {}
        names = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "header"}
        if "Idempotency-Key" in names:
            self.keys += 1
            headers["HTTP_IDEMPOTENCY_KEY"] = f"demo-{self.keys:04d}"
        if "If-Match" in names:
            # the record the path names; a resource of the caller's own (me/notification-preferences/) is the path
            record_path = path[: path.index(ids["id"]) + len(ids["id"]) + 1] if "id" in ids else path
            current = self.client(role).get(record_path)
            assert current.status_code == 200, (record_path, current.content)
            headers["HTTP_IF_MATCH"] = current["ETag"]
        client = self.client(role)
        send = getattr(client, method.lower())
        if body is None:
            answer = send(path, query, **headers) if method.lower() == "get" else send(path, **headers)
        else:
            answer = send(path, body, format="json", **headers)
        assert 200 <= answer.status_code < 300, (key, answer.status_code, answer.content[:2000])
        if answer.status_code == 204:  # no content: the operation was walked, there is nothing to show
            if record and key not in self.recorded:
                self.recorded[key] = {"role": role or "anyone", "status": 204, "media_type": None}
            return None
        if record and key not in self.recorded:
            self.recorded[key] = self.entry(role, body, query, answer)
        return answer.json() if answer["Content-Type"].startswith("application/json") else answer

    @staticmethod
    def entry(role, body, query, answer) -> dict:
        media_type = answer["Content-Type"].split(";")[0]
        entry = {"role": role or "anyone", "status": answer.status_code, "media_type": media_type}
        if query:
            entry["query"] = query
        if body is not None:
            entry["request"] = body
        if media_type == "application/json":
            entry["response"] = answer.json()
        elif media_type.startswith("text/"):
            entry["response"] = answer.content.decode()
        else:  # an image: what it is, not its bytes
            width, height = struct.unpack(">II", answer.content[16:24])  # the PNG header's IHDR chunk
            kind = media_type.split("/")[-1].upper()
            entry["response"] = None
            entry["description"] = f"A {kind} image, {width} by {height} pixels ({len(answer.content)} bytes)."
        return entry

    def get(self, role, template, *, query=None, record=True, **ids):
        if query is None and "{" not in template and self.paginated(template):
            query = {"page_size": PAGE_SIZE}
        return self.call(role, "get", template, query=query, record=record, **ids)

    def paginated(self, template) -> bool:
        operation = self.operations[f"GET {API}{template}"]
        return any(parameter["name"] == "page_size" for parameter in operation.get("parameters", []))

    def post(self, role, template, body=None, **kwargs):
        return self.call(role, "post", template, body, **kwargs)

    def patch(self, role, template, body, **kwargs):
        return self.call(role, "patch", template, body, **kwargs)

    def delete(self, role, template, **kwargs):
        return self.call(role, "delete", template, **kwargs)


# ---------------------------------------------------------------- the walk


def walk(w: Walk, users: dict) -> None:
    """One day of the demo practice, in order: reads first, then each role's writes."""
    import pyotp

    from clinical.models import Client
    from exercises.models import Exercise

    for role in [role for role in ROLE_SCOPES if role in users]:
        w.sign_in(role, users[role].email)

    # Anyone: the service's health.
    w.get(None, "/health/")
    w.get(None, "/health/live/")

    # The clinician reads the couple's care.
    w.get("clinician", "/me/")
    alex = w.get("clinician", "/clients/", query={"search": "Alex", "page_size": PAGE_SIZE})["results"][0]
    w.get("clinician", "/clients/{id}/", id=alex["id"])
    sam = str(Client.objects.get(user=users["sam"]).pk)
    couple = w.get("clinician", "/couples/")["results"][0]
    w.get("clinician", "/couples/{id}/", id=couple["id"])
    case = w.get("clinician", "/cases/")["results"][0]
    w.get("clinician", "/cases/{id}/", id=case["id"])
    w.get("clinician", "/cases/{id}/outcomes/", id=case["id"])
    w.get("clinician", "/cases/{id}/outcomes/chart.png", id=case["id"])
    goals = w.get("clinician", "/goals/", query={"case": case["id"], "page_size": 3})["results"]
    trust = next(goal for goal in goals if goal["gas_levels"])
    w.get("clinician", "/goals/{id}/", id=trust["id"])
    w.get("clinician", "/goals/{id}/gas-ratings/", id=trust["id"])
    note = w.get("clinician", "/notes/")["results"][0]
    w.get("clinician", "/notes/{id}/", id=note["id"])
    assignments = w.get("clinician", "/assignments/")["results"]
    w.get("clinician", "/assignments/{id}/", id=assignments[0]["id"])
    submissions = w.get("clinician", "/submissions/")["results"]
    w.get("clinician", "/submissions/{id}/", id=submissions[0]["id"])
    assessments = w.get("clinician", "/assessments/")["results"]
    w.get("clinician", "/assessments/{id}/", id=assessments[0]["id"])
    schedules = w.get("clinician", "/assessment-schedules/")["results"]
    w.get("clinician", "/assessment-schedules/{id}/", id=schedules[0]["id"])
    exercises = w.get("clinician", "/exercises/")["results"]
    w.get("clinician", "/exercises/{id}/", id=exercises[0]["id"])
    w.get("clinician", "/instruments/")
    w.get("clinician", "/instruments/{code}/", code="csi4")
    w.get("clinician", "/event-types/")
    w.get("clinician", "/event-types/{name}/", name="note.signed")
    w.get("clinician", "/reports/caseload/")
    w.get("clinician", "/reports/caseload.csv")
    w.get("clinician", "/reports/outcomes/")
    w.get("clinician", "/reports/outcomes.csv")

    # The partners' app.
    w.get("alex", "/me/assignments/")
    w.get("alex", "/me/goals/")
    w.get("alex", "/me/assessments-due/")
    # Alex consents to reminders in the app, changes their mind and consents again; Alex's phone takes them; a laptop
    # registered once is revoked; quiet hours.
    consent = w.post("alex", "/me/consents/", {"kind": "electronic_communication"})
    w.post("alex", "/me/consents/{id}/revoke/", id=consent["id"])
    w.post("alex", "/me/consents/", {"kind": "electronic_communication"}, record=False)
    w.get("alex", "/me/consents/")
    # Sam agrees, in the session, that sessions may be recorded for supervision, and changes their mind a week on.
    recording = w.post(
        "clinician",
        "/consents/",
        {"client": sam, "kind": "recording", "method": "verbal", "witness": "Dr. Sofia Reyes, supervisor"},
        record=False,
    )
    w.post("clinician", "/consents/{id}/revoke/", id=recording["id"])
    # The admin publishes the practice's own text of the electronic-communication consent.
    w.post(
        "admin",
        "/consent-documents/",
        {
            "kind": "electronic_communication",
            "title": "Reminders and messages from the practice",
            "version": "2026-12",
            "text": "We may send you reminders of homework and questionnaires through the app. They never say what "
            "your therapy is about. You choose quiet hours, and you can stop them at any time in the app.",
        },
    )
    w.post("alex", "/me/devices/", {"platform": "ios", "token": "demo-apns-token-alex-phone"})
    laptop = w.post("alex", "/me/devices/", {"platform": "web", "token": "demo-webpush-alex-laptop"}, record=False)
    w.get("alex", "/me/devices/")
    w.delete("alex", "/me/devices/{id}/", id=laptop["id"])
    w.get("alex", "/me/notification-preferences/")
    w.patch(
        "alex",
        "/me/notification-preferences/",
        {"time_zone": "America/New_York", "quiet_hours_start": "22:00", "quiet_hours_end": "07:00", "opted_out": []},
    )

    # Alex and Sam are moving away. Each consents to their record going to their new therapist (Alex in the app, Sam on
    # the practice's paper form); the clinician releases the couple's record, and the supervisor reads what it held.
    new_therapist = "Dr. Imani Okafor, Harbour Couples Clinic"
    continuity = "Continuity of care after the couple's move"
    release_terms = {"kind": "release_of_records", "released_to": new_therapist, "release_purpose": continuity}
    w.post("alex", "/me/consents/", release_terms, record=False)
    w.post("clinician", "/consents/", {"client": sam, "method": "paper", **release_terms}, record=False)
    released = w.post(
        "clinician", "/releases/", {"case": case["id"], "released_to": new_therapist, "purpose": continuity}
    )
    w.get("supervisor", "/releases/", query={"case": case["id"]})
    w.get("supervisor", "/releases/{id}/", id=released["id"])
    w.get("clinician", "/releases/{id}/document/", id=released["id"])

    # The clinician takes on a new couple: Riley and Taylor.
    riley = w.post(
        "clinician",
        "/clients/",
        {
            "given_name": "Riley",
            "family_name": "Chen",
            "preferred_name": "Ri",
            "pronouns": "she/her",
            "date_of_birth": "1991-04-12",
            "email": "riley@demo.test",
            "phone": "+1 555 0142",
        },
    )
    taylor = w.post(
        "clinician",
        "/clients/",
        {"given_name": "Taylor", "family_name": "Brooks", "pronouns": "they/them", "email": "taylor@demo.test"},
        record=False,
    )
    w.patch("clinician", "/clients/{id}/", {"phone": "+1 555 0199"}, id=riley["id"])
    invitation = w.post("clinician", "/clients/{id}/invite/", id=riley["id"])
    riley_password = "a long demo passphrase"
    w.post(
        None,
        "/invitations/accept/",
        {"token": invitation["token"], "email": "riley@demo.test", "password": riley_password},
    )
    new_couple = w.post(
        "clinician",
        "/couples/",
        {"partners": [riley["id"], taylor["id"]], "relationship_type": "dating", "together_since": "2022-06-01"},
    )
    w.patch("clinician", "/couples/{id}/", {"relationship_type": "partnered"}, id=new_couple["id"])
    # Both consent to treatment before their case opens: Taylor on the practice's paper form, Riley by phone before
    # the practice manager; the clinician reads what they consented to.
    documents = w.get("clinician", "/consent-documents/", query={"kind": "treatment"})["results"]
    w.get("clinician", "/consent-documents/{id}/", id=documents[0]["id"])
    paper = w.post(
        "clinician",
        "/consents/",
        {"client": taylor["id"], "kind": "treatment", "method": "paper", "given_at": "2026-11-16T07:30:00Z"},
    )
    w.post(
        "clinician",
        "/consents/",
        {"client": riley["id"], "kind": "treatment", "method": "verbal", "witness": "Jo Park, practice manager"},
        record=False,
    )
    w.get("clinician", "/consents/", query={"client": taylor["id"]})
    w.get("clinician", "/consents/{id}/", id=paper["id"])
    new_case = w.post(
        "clinician",
        "/cases/",
        {
            "subject_type": "couple",
            "couple": new_couple["id"],
            "presenting_concerns": ["communication", "life_transition"],
            "opened_on": "2026-11-16",
            "confidentiality_policy": "limited_secrets",
        },
    )
    # Each partner is screened alone. Taylor's screen is positive: joint work on the case is held until the clinician
    # decides; they see each partner alone, and the couple's records become separate.
    w.post(
        "clinician",
        "/safety-screens/",
        {"case": new_case["id"], "client": riley["id"], "result": "negative", "screened_on": "2026-11-16"},
        record=False,
    )
    screen = w.post(
        "clinician",
        "/safety-screens/",
        {
            "case": new_case["id"],
            "client": taylor["id"],
            "result": "positive",
            "screened_on": "2026-11-16",
            "notes": "Seen alone. Describes being afraid during arguments; one incident of being pushed last year.",
        },
    )
    w.get("clinician", "/safety-screens/", query={"case": new_case["id"]})
    w.get("clinician", "/safety-screens/{id}/", id=screen["id"])
    holds = w.get("supervisor", "/conjoint-holds/", query={"status": "held"})["results"]
    w.get("clinician", "/conjoint-holds/{id}/", id=holds[0]["id"])
    w.post(
        "clinician",
        "/conjoint-holds/{id}/decide/",
        {"decision": "individual_work", "reason": "Positive screen for Taylor: individual sessions, safety planning."},
        id=holds[0]["id"],
    )
    w.post(
        "clinician",
        "/cases/{id}/confidentiality/",
        {"policy": "separate_records", "reason": "Individual work after the safety screen: each keeps their own."},
        id=new_case["id"],
    )
    w.patch(
        "clinician",
        "/cases/{id}/",
        {"presenting_concerns": ["communication", "life_transition", "conflict"]},
        id=new_case["id"],
    )
    w.post("clinician", "/cases/{id}/pause/", id=new_case["id"])
    w.post("clinician", "/cases/{id}/resume/", id=new_case["id"])

    # Goals and their attainment on Alex and Sam's case.
    goal = w.post(
        "clinician",
        "/goals/",
        {
            "case": case["id"],
            "domain": "emotional_intimacy",
            "title": "A weekly evening together without screens",
            "description": "One evening a week planned by each partner in turn.",
            "priority": "medium",
            "start_date": "2026-11-16",
            "target_date": "2027-02-15",
        },
    )
    w.patch("clinician", "/goals/{id}/", {"target_date": "2027-03-01"}, id=goal["id"])
    w.post("clinician", "/goals/{id}/transition/", {"to": "active"}, id=goal["id"])
    w.post("clinician", "/goals/{id}/gas-ratings/", {"score": 1, "rated_on": "2026-11-16"}, id=trust["id"])

    # Sessions of Alex and Sam's case: this morning's, attended; next week's, moved by a day; Alex alone, cancelled.
    this_morning = w.post(
        "clinician",
        "/sessions/",
        {
            "case": case["id"],
            "starts_at": "2026-11-16T08:00:00Z",
            "ends_at": "2026-11-16T08:50:00Z",
            "modality": "in_person",
            "location": "Room 2",
        },
    )
    w.post("clinician", "/sessions/{id}/transition/", {"to": "attended"}, id=this_morning["id"])
    next_week = w.post(
        "clinician",
        "/sessions/",
        {
            "case": case["id"],
            "starts_at": "2026-11-23T17:00:00+01:00",
            "ends_at": "2026-11-23T17:50:00+01:00",
            "modality": "video",
            "location": "https://video.example/r/alex-sam",
        },
        record=False,
    )
    w.patch(
        "clinician",
        "/sessions/{id}/",
        {"starts_at": "2026-11-24T17:00:00+01:00", "ends_at": "2026-11-24T17:50:00+01:00"},
        id=next_week["id"],
    )
    alone = w.post(
        "clinician",
        "/sessions/",
        {
            "case": case["id"],
            "starts_at": "2026-11-19T16:00:00Z",
            "ends_at": "2026-11-19T16:50:00Z",
            "modality": "video",
            "kind": "individual",
            "partner": alex["id"],
            "location": "https://video.example/r/alex",
        },
        record=False,
    )
    w.post(
        "clinician",
        "/sessions/{id}/transition/",
        {"to": "cancelled", "reason": "Alex asked to meet together instead."},
        id=alone["id"],
        record=False,
    )
    w.get("clinician", "/sessions/", query={"case": case["id"], "page_size": PAGE_SIZE})
    w.get("clinician", "/sessions/{id}/", id=next_week["id"])
    w.get("alex", "/me/sessions/")
    # Each partner rates this morning's session in the app; Alex changes a rating within the day.
    rating = w.post(
        "alex",
        "/me/session-ratings/",
        {"session": this_morning["id"], "heard": 9, "goals": 8, "approach": 9, "overall": 8},
    )
    w.get("alex", "/me/session-ratings/{id}/", id=rating["id"])
    w.patch("alex", "/me/session-ratings/{id}/", {"overall": 9}, id=rating["id"])
    w.post(
        "sam",
        "/me/session-ratings/",
        {"session": this_morning["id"], "heard": 6, "goals": 5, "approach": 7, "overall": 6},
        record=False,
    )
    w.get("alex", "/me/session-ratings/")
    ratings = w.get("clinician", "/session-ratings/", query={"session": this_morning["id"], "page_size": PAGE_SIZE})
    w.get("clinician", "/session-ratings/{id}/", id=ratings["results"][0]["id"])
    w.get("clinician", "/cases/{id}/alliance/", id=case["id"])
    w.get("supervisor", "/notes/missing/")

    # Notes: today's session, signed; the supervisor co-signs; an addendum; one entered in error.
    session = w.post(
        "clinician",
        "/notes/",
        {
            "case": case["id"],
            "session_date": "2026-11-16",
            "format": "soap",
            "sections": {
                "subjective": "Both report three check-ins this week; Sam kept his promise to call when late.",
                "objective": "Calm, took turns; Alex named feeling relieved.",
                "assessment": "Trust repair progressing; communication goal on track.",
                "plan": "Keep the check-in. Start the appreciation note again.",
            },
            "goals_addressed": [trust["id"]],
        },
    )
    w.patch(
        "clinician",
        "/notes/{id}/",
        {
            "sections": {
                **session["sections"],
                "plan": "Keep the check-in. Restart the daily appreciation note; review it next session.",
            }
        },
        id=session["id"],
    )
    w.post("clinician", "/notes/{id}/sign/", id=session["id"])
    w.get("supervisor", "/notes/awaiting-cosign/")
    w.post("supervisor", "/notes/{id}/cosign/", id=note["id"])
    w.post(
        "clinician",
        "/notes/{id}/addenda/",
        {"text": "Sam phoned the next day: the Tuesday argument was about money, not the holidays."},
        id=note["id"],
    )
    w.post(
        "clinician",
        "/notes/{id}/entered-in-error/",
        {"reason": "Wrong session: this one was documented on 15 November already; written twice by mistake."},
        id=session["id"],
    )

    # Homework: a new exercise for both partners; Alex submits and corrects; the clinician reviews.
    i_statements = str(Exercise.objects.get(slug="i-statement-practice").pk)
    assignment = w.post(
        "clinician",
        "/assignments/",
        {
            "case": case["id"],
            "exercise": i_statements,
            "assignees": [alex["id"], sam],
            "mode": "each",
            "goals": [goals[0]["id"]],
            "instructions": "After your check-in, write down one 'I' statement you used.",
            "start_date": "2026-11-16",
            "due_date": "2026-12-14",
            "frequency": "weekly",
            "target_count": 4,
            "reminder_time": "19:30",
        },
    )
    w.patch("clinician", "/assignments/{id}/", {"target_count": 3}, id=assignment["id"])
    check_in = next(a for a in assignments if a["mode"] == "joint")
    submitted = w.post(
        "alex",
        "/submissions/",
        {
            "assignment": check_in["id"],
            "completed_at": "2026-11-15T19:30:00Z",
            "responses": {"closeness": 7, "went_well": "We planned the week together without arguing."},
            "shared_with_partner": True,
        },
    )
    amended = w.post(
        "alex",
        "/submissions/{id}/amend/",
        {
            "responses": {
                "closeness": 7,
                "went_well": "We planned the week together without arguing, and Sam cooked.",
            },
        },
        id=submitted["id"],
    )
    w.post(
        "clinician",
        "/submissions/{id}/review/",
        {"feedback": "Lovely to read. Notice what made planning easier this time."},
        id=amended["id"],
    )
    w.post("clinician", "/assignments/{id}/cancel/", id=assignment["id"])

    # Measures: Sam's PHQ-9 names thoughts of self-harm on some days; the safety alert is acknowledged.
    w.post(
        "clinician",
        "/assessments/",
        {
            "instrument": "gad7",
            "answers": [1, 1, 1, 1, 0, 1, 0],
            "administered_at": "2026-11-16T08:30:00Z",
            "client": alex["id"],
            "case": case["id"],
        },
    )
    w.post(
        "clinician",
        "/assessments/",
        {
            "instrument": "phq9",
            "answers": [1, 1, 1, 1, 0, 1, 0, 0, 1],
            "administered_at": "2026-11-16T08:35:00Z",
            "client": sam,
            "case": case["id"],
        },
        record=False,
    )
    alert = w.get("clinician", "/alerts/")["results"][0]
    w.get("clinician", "/alerts/{id}/", id=alert["id"])
    w.post("clinician", "/alerts/{id}/acknowledge/", id=alert["id"])
    schedule = w.post(
        "clinician",
        "/assessment-schedules/",
        {
            "client": alex["id"],
            "case": case["id"],
            "instrument": "phq9",
            "frequency": "before_each_session",
            "start_date": "2026-11-16",
            "end_date": "2027-05-16",
        },
    )
    w.post("clinician", "/assessment-schedules/{id}/cancel/", id=schedule["id"])

    # The exercise library: the clinician writes an exercise of their own.
    exercise = w.post(
        "clinician",
        "/exercises/",
        {
            "title": "Stress-reducing conversation",
            "summary": "Twenty minutes a day on stress from outside the relationship; listen, don't fix.",
            "steps": [
                "Take turns, ten minutes each.",
                "The listener asks questions and shows understanding; no advice unless asked.",
                "End with one thing you admired in how your partner handled their day.",
            ],
            "domains": ["communication", "emotional_intimacy"],
            "audience": "couple",
            "suggested_frequency": "daily",
            "estimated_minutes": 20,
            "response_fields": [
                {"key": "talked", "type": "boolean", "label": "Did you have the conversation today?"},
                {"key": "felt_heard", "type": "scale", "label": "How heard did you feel?", "min": 1, "max": 5},
            ],
        },
    )
    w.patch("clinician", "/exercises/{id}/", {"estimated_minutes": 25}, id=exercise["id"])
    w.get("clinician", "/exercises/{id}/versions/", id=exercise["id"])

    # Webhooks: the clinician's integration receives signed events.
    webhook = w.post(
        "clinician",
        "/webhooks/",
        {
            "url": w.receiver_url,
            "event_types": ["note.signed", "submission.created"],
            "description": "Practice calendar sync",
        },
    )
    w.patch("clinician", "/webhooks/{id}/", {"description": "Practice calendar and reminders"}, id=webhook["id"])
    w.post("clinician", "/webhooks/{id}/rotate-secret/", id=webhook["id"])
    w.post("clinician", "/webhooks/{id}/ping/", id=webhook["id"])
    run_worker()
    deliveries = w.get("clinician", "/webhooks/{id}/deliveries/", query={"page_size": PAGE_SIZE}, id=webhook["id"])
    w.post("clinician", "/webhooks/{id}/redeliver/", {"delivery": deliveries["results"][0]["id"]}, id=webhook["id"])
    run_worker()
    w.get("clinician", "/webhooks/")
    w.get("clinician", "/webhooks/{id}/", id=webhook["id"])

    # The admin: staff, supervision, the audit trail.
    w.get("admin", "/staff/")
    jordan = users["clinician2"]
    w.get("admin", "/staff/{id}/", id=str(jordan.pk))
    priya = w.post(
        "admin",
        "/staff/",
        {"email": "priya@demo.test", "display_name": "Priya Shah, LCSW", "role": "clinician"},
    )
    w.patch("admin", "/staff/{id}/", {"display_name": "Dr. Priya Shah, LCSW"}, id=priya["id"])
    supervision = w.post(
        "admin",
        "/supervisions/",
        {"supervisor": str(users["supervisor"].pk), "supervisee": priya["id"], "started_on": "2026-11-16"},
    )
    w.get("admin", "/supervisions/")
    w.get("admin", "/supervisions/{id}/", id=supervision["id"])
    # Jordan leaves: his caseload (empty in the demo) goes to Priya. Priya's supervision ends.
    w.post("admin", "/staff/{id}/reassign-caseload/", {"to": priya["id"]}, id=str(jordan.pk))
    w.post("admin", "/supervisions/{id}/end/", {"ended_on": "2026-11-16"}, id=supervision["id"])
    events = w.get("admin", "/audit-events/")["results"]
    w.get("admin", "/audit-events/{id}/", id=str(events[0]["id"]))

    # The new couple's case ends: they moved away.
    w.post(
        "clinician",
        "/cases/{id}/close/",
        {"closing_reason": "Moved out of state; referred to a therapist near their new home."},
        id=new_case["id"],
    )
    # Before leaving, Riley downloads their record (the right of access), then asks the practice in writing to erase
    # it: the admin erases Riley (who they are goes; the record of care stays for the retention period).
    w.sign_in("riley", "riley@demo.test", password=riley_password)
    w.get("riley", "/me/export/")
    erasure = w.post(
        "admin",
        "/erasure-requests/",
        {"client": riley["id"], "reason": "The client's written request of 16 November 2026, after their case closed."},
    )
    w.get("admin", "/erasure-requests/")
    w.get("admin", "/erasure-requests/{id}/", id=erasure["id"])

    # At the end of the day the clinician subscribes their calendar app to the sessions they hold; the app reads the
    # feed with the address alone (times, modality, initials); the address went out in an e-mail by mistake, so the
    # clinician turns the feed off.
    feed = w.post("clinician", "/me/calendar-feed/")
    w.get("clinician", "/me/calendar-feed/")
    w.get(None, "/calendar/{token}.ics", token=feed["url"].rsplit("/", 1)[-1].removesuffix(".ics"))
    w.delete("clinician", "/me/calendar-feed/")

    # The supervisor turns on two-step sign-in: an authenticator app, confirmed with its first code, which gives her
    # recovery codes; she prints a fresh set (a recovery code for it), and when her phone is replaced she removes the
    # old app with another recovery code and enrols the new phone. Jordan lost his phone: the admin resets his
    # second factor (the demo's enrolled clinician; his next sign-in asks for no code).
    w.get("supervisor", "/me/mfa/")
    app = pyotp.TOTP(w.post("supervisor", "/me/mfa/")["secret"])
    codes = w.post("supervisor", "/me/mfa/confirm/", {"code": app.now()})["recovery_codes"]
    codes = w.post("supervisor", "/me/mfa/recovery-codes/", {"code": codes[0]})["recovery_codes"]
    w.post("supervisor", "/me/mfa/remove/", {"code": codes[0]})
    new_phone = pyotp.TOTP(w.post("supervisor", "/me/mfa/", record=False)["secret"])
    w.post("supervisor", "/me/mfa/confirm/", {"code": new_phone.now()}, record=False)
    w.post("admin", "/staff/{id}/mfa-reset/", id=str(jordan.pk))

    # The admin publishes the practice's own weekly check-in, then a second version whose "close" band asks for
    # more; the clinician reads its versions (assessments keep the version they were scored with).
    frequency = [
        {"value": value, "label": label} for value, label in enumerate(["Never", "Sometimes", "Often", "Almost always"])
    ]
    check_in = {
        "code": "couple_check_in",
        "name": "Couple check-in (the practice's own)",
        "prompt": "In the past week, how often:",
        "citation": "Written by the demo practice for its couples, 2026; not a validated instrument.",
        "licence": "The practice's own.",
        "items": [
            {"key": "talked", "text": "We talked about how our days went.", "options": frequency},
            {"key": "alone", "text": "I felt alone with a problem.", "options": frequency, "reverse": True},
            {"key": "laughed", "text": "We laughed together.", "options": frequency},
            {"key": "afraid", "text": "I felt afraid of my partner.", "options": frequency, "reverse": True},
        ],
        "subscales": [{"key": "connection", "name": "Connection", "items": ["talked", "laughed"]}],
        "bands": [
            {"low": 0, "high": 5, "label": "strained"},
            {"low": 6, "high": 9, "label": "steady"},
            {"low": 10, "high": 12, "label": "close"},
        ],
        "direction": "higher_is_better",
        "caseness": {"below": 6, "source": "The practice's clinical judgement, not a validated cut-off."},
        "reliable_change": {"points": 3, "citation": "The practice's own rule, reviewed yearly."},
        "risk_rules": [
            {
                "item": "afraid",
                "at_or_above": 1,
                "alert": "afraid_of_partner",
                "detail": "Check-in item {item}: afraid of their partner ({answer} of {max}).",
            }
        ],
    }
    w.post("admin", "/instruments/", check_in)
    narrower = [
        {"low": 0, "high": 5, "label": "strained"},
        {"low": 6, "high": 10, "label": "steady"},
        {"low": 11, "high": 12, "label": "close"},
    ]
    w.post("admin", "/instruments/{code}/versions/", {**check_in, "bands": narrower}, code="couple_check_in")
    w.get("clinician", "/instruments/{code}/versions/", code="couple_check_in")
    w.get("clinician", "/instruments/{code}/versions/{number}/", code="couple_check_in", number=2)


# ---------------------------------------------------------------- the file


def normalised(recorded: dict, receiver_url: str) -> dict:
    """What the pinned clock and randomness cannot fix: the receiver's address, a delivery's latency, the queue's
    lag."""

    def pinned(key, value):
        if key.endswith("latency_ms") and isinstance(value, int):
            return LATENCY_MS
        if key == "queue_lag_seconds" and value is not None:
            return QUEUE_LAG_SECONDS
        return fix(value)

    def fix(value):
        if isinstance(value, dict):
            return {k: pinned(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str):
            return value.replace(receiver_url, RECEIVER_URL)
        return value

    return {key: fix(recorded[key]) for key in sorted(recorded)}


def contract_operations() -> dict[str, dict]:
    import yaml

    schema = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def generate() -> str:
    """The examples of a fresh walk, as the text of api/examples.json."""
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    django.setup()
    from django.core.cache import cache

    from clinical.services.demo import seed_demo

    with fresh_database(), pinned() as traveller, receiver() as receiver_url:
        cache.clear()
        users = seed_demo()
        w = Walk(traveller=traveller, operations=contract_operations(), receiver_url=receiver_url)
        walk(w, users)
        recorded = normalised(w.recorded, receiver_url)
    return json.dumps(recorded, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv) -> int:
    if argv == ["write"]:
        EXAMPLES_FILE.write_text(generate())
        print(f"wrote {EXAMPLES_FILE.relative_to(ROOT)}")
        return 0
    if argv == ["check"]:
        committed = EXAMPLES_FILE.read_text() if EXAMPLES_FILE.exists() else ""
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generate().splitlines(keepends=True),
                "api/examples.json (committed)",
                "api/examples.json (generated)",
            )
        )
        if diff:
            print(diff, end="")
            print("api/examples.json is out of date: run `make examples` and commit it.", file=sys.stderr)
            return 1
        print("api/examples.json matches a fresh walk of the demo practice")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
