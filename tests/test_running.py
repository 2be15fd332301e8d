"""The app as `make run` runs it: a private embedded PostgreSQL, the worker and gunicorn, and what happens when the
database goes away and comes back, when a run is killed, or when its worker dies.

These start real processes on a private data directory (DEVDB_DIR), so stopping that server does not
disturb the test database the rest of the suite uses.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HANG_GUARD_SECONDS = 20  # a request that takes this long is hanging, not slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DEVDB_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings.base", PYTHONUNBUFFERED="1")
    return env


def devdb(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "tools.devdb", *args],
        cwd=ROOT,
        env=child_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def request(url, *, data=None, token=None):
    """(status, content type, parsed body, seconds taken)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = urllib.parse.urlencode(data).encode() if data else None
    started = time.monotonic()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers), timeout=HANG_GUARD_SECONDS
        ) as response:
            status, content_type, raw = response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        status, content_type, raw = error.code, error.headers["Content-Type"], error.read()
    return status, content_type, json.loads(raw), time.monotonic() - started


def wait_for(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def postmaster_running(data_dir: Path) -> bool:
    pidfile = data_dir / "pg" / "postmaster.pid"
    return pidfile.exists() and psutil.pid_exists(int(pidfile.read_text().split()[0]))


class App:
    """`make run`'s pipeline on a private database: devdb → migrate → demo practice → gunicorn."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        script = (
            f"{PYTHON} manage.py migrate -v0 && {PYTHON} manage.py createcachetable && "
            f"{PYTHON} manage.py seed_demo >/dev/null && "
            f"exec {Path(PYTHON).with_name('gunicorn')} config.wsgi:application -b 127.0.0.1:{port} "
            "--config config/gunicorn.py --workers 1 --no-control-socket --graceful-timeout 5 --log-level warning"
        )
        self.log = (data_dir / "app.log").open("a")
        # Its own process group, as a terminal would give it: Ctrl-C reaches every process in it.
        self.process = subprocess.Popen(
            [PYTHON, "-m", "tools.devdb", "exec", "--", "sh", "-c", script],
            cwd=ROOT,
            env=child_env(data_dir),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.up, 90, "the app to serve")

    def up(self) -> bool:
        try:
            return request(f"{self.base}/api/v1/health/")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self, how=signal.SIGTERM) -> int:
        if self.process.poll() is None:
            if how == signal.SIGINT:
                os.killpg(self.process.pid, signal.SIGINT)
            else:
                self.process.send_signal(how)
        try:
            return self.process.wait(30)
        finally:
            self.log.close()


@pytest.fixture
def served_app(tmp_path):
    app = App(tmp_path)
    try:
        yield app.base, tmp_path, app.process
    finally:
        if app.process.poll() is None:
            app.stop()
        devdb(tmp_path, "stop")


def test_database_outage_answers_503_fast_and_recovers_without_restart(served_app):
    base, data_dir, process = served_app
    token = request(
        f"{base}/o/token/",
        data={
            "grant_type": "password",
            "username": "clinician@demo.test",
            "password": "demo-pass-123",
            "client_id": "demo-cli",
            "scope": "clinical:read",
        },
    )[2]["access_token"]
    assert request(f"{base}/api/v1/me/", token=token)[0] == 200

    assert devdb(data_dir, "pause").returncode == 0
    status, content_type, body, seconds = request(f"{base}/api/v1/health/")
    print(f"health while the database is down: {status} in {seconds:.2f}s")
    assert status == 503
    assert content_type == "application/problem+json"
    assert body["code"] == "database_unavailable"

    status, content_type, body, seconds = request(f"{base}/api/v1/me/", token=token)
    print(f"authenticated request while the database is down: {status} in {seconds:.2f}s")
    assert status == 503
    assert content_type == "application/problem+json"
    assert body["code"] == "database_unavailable"

    assert devdb(data_dir, "resume").returncode == 0
    recovered = wait_for(lambda: request(f"{base}/api/v1/health/")[0] == 200, 30, "health to recover")
    print(f"health back to 200 {recovered:.2f}s after the database restarted")
    assert request(f"{base}/api/v1/me/", token=token)[0] == 200
    assert process.poll() is None  # the same gunicorn, never restarted


def test_ctrl_c_stops_everything_and_running_again_works(tmp_path):
    first = App(tmp_path)
    assert postmaster_running(tmp_path)

    first.stop(signal.SIGINT)  # Ctrl-C in the terminal

    assert not postmaster_running(tmp_path)
    assert not first.up()

    second = App(tmp_path)  # the same data: migrations and demo practice are already there
    try:
        token = request(
            f"{second.base}/o/token/",
            data={
                "grant_type": "password",
                "username": "alex@demo.test",
                "password": "demo-pass-123",
                "client_id": "demo-cli",
                "scope": "homework",
            },
        )
        assert token[0] == 200
    finally:
        assert second.stop(signal.SIGTERM) == 0
    assert not postmaster_running(tmp_path)


def test_a_killed_run_leaves_a_server_the_next_run_recovers(tmp_path):
    holder = subprocess.Popen(
        [PYTHON, "-m", "tools.devdb", "exec", "--", "sleep", "600"],
        cwd=ROOT,
        env=child_env(tmp_path),
        start_new_session=True,
    )
    holders_file = tmp_path / "pg" / ".handle_pids.json"
    wait_for(
        lambda: holders_file.exists() and holder.pid in json.loads(holders_file.read_text() or "[]"),
        60,
        "the first run to hold the server",
    )

    os.killpg(holder.pid, signal.SIGKILL)  # no clean-up at all
    holder.wait()
    assert postmaster_running(tmp_path), "the killed run left its server behind (the situation to recover from)"

    check = "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL']).execute('select 1'); print('ok')"
    second = devdb(tmp_path, "exec", "--", PYTHON, "-c", check)

    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "ok"
    assert not postmaster_running(tmp_path), "the recovering run stops the server when it is done"
    assert json.loads(holders_file.read_text()) == []


def make_env(data_dir: Path, port: int) -> dict:
    """`make run` as a person types it, on a private database and port (not as a sub-make of `make test`)."""
    env = {k: v for k, v in child_env(data_dir).items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return {**env, "PORT": str(port)}


def answers(url: str) -> bool:
    try:
        return request(url)[0] == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def raw_get(base: str, target: str, headers: dict | None = None) -> tuple[int, str, dict]:
    """(status, content type, body) of a GET sent as given, through http.client (urllib would re-encode it)."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=HANG_GUARD_SECONDS)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def start_make_run(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:
        return subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=make_env(data_dir, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )


def health_of(base: str) -> dict:
    return request(f"{base}/api/v1/health/")[2]


def children_named(run: subprocess.Popen, word: str) -> list[psutil.Process]:
    processes = psutil.Process(run.pid).children(recursive=True)
    return [p for p in processes if word in " ".join(p.cmdline())]


def test_make_run_says_each_step_refuses_a_taken_port_leaves_limits_to_the_app_and_stops_with_its_worker(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "make-run.log"
    first = start_make_run(tmp_path, port, log_path)
    try:
        wait_for(lambda: first.poll() is not None or "serving on" in log_path.read_text(), 180, "make run to serve")
        wait_for(lambda: answers(f"{base}/api/v1/health/live/"), 30, "gunicorn to answer")
        lines = log_path.read_text().splitlines()
        steps = [
            "starting PostgreSQL",
            "migrating the database",
            "loading the exercise catalog",
            "seeding the demo practice",
            "starting the worker",
            f"serving on {base}/",
        ]
        said = [next((i for i, line in enumerate(lines) if line.startswith(text)), None) for text in steps]
        assert None not in said, lines
        assert said == sorted(said), lines
        # The worker runs beside gunicorn: its heartbeat is in the health report.
        wait_for(lambda: health_of(base)["worker"]["live_workers"] == 1, 30, "the worker's heartbeat")
        assert health_of(base)["status"] == "ok"

        # A second run on the same port stops before touching the database, naming the fix.
        second = subprocess.run(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=make_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode != 0
        assert f"PORT={port + 1} make run" in second.stdout
        assert "migrating" not in second.stdout
        assert "serving on" not in second.stdout
        assert first.poll() is None, "the first run still serves"

        # gunicorn lets oversized request lines and header fields through; the application answers them.
        for target, headers, status, code in [
            ("/api/v1/health/live/?q=" + "a" * 9_000, {}, 414, "uri_too_long"),
            ("/api/v1/health/live/?q=" + "a" * 100_000, {}, 414, "uri_too_long"),
            ("/api/v1/health/live/", {"X-Note": "a" * 10_000}, 431, "header_fields_too_large"),
            ("/api/v1/health/live/", {f"X-Part-{i}": "a" * 7_000 for i in range(5)}, 431, "header_fields_too_large"),
            ("/api/v1/health/live/", {f"X-Field-{i}": "1" for i in range(110)}, 431, "header_fields_too_large"),
        ]:
            answer = raw_get(base, target, headers)
            assert answer[:2] == (status, "application/problem+json"), answer[2][:300]
            assert json.loads(answer[2])["code"] == code
        # Just under the limits the request is served (the problem catalog takes any query; API operations refuse
        # parameters they do not take).
        assert raw_get(base, "/api/problems/?q=" + "a" * 7_000, {"X-Note": "a" * 8_000})[0] == 200
        children = children_named(first, "gunicorn") + children_named(first, "procrastinate")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in the terminal
        first.wait(30)
        devdb(tmp_path, "stop")
    assert not postmaster_running(tmp_path)
    assert not [p for p in children if p.is_running()], "Ctrl-C stops gunicorn and the worker"
    said = log_path.read_text()
    assert "Traceback" not in said
    assert "Deferred" not in said  # procrastinate's INFO chatter stays out
    assert "Adding tasks from blueprint" not in said

    # Run again on the same data (quick: migrated and seeded); when the worker dies, gunicorn is stopped too and
    # make run fails, rather than serving on with nobody delivering events.
    again = start_make_run(tmp_path, port, log_path)
    try:
        wait_for(lambda: again.poll() is not None or "serving on" in log_path.read_text(), 120, "make run to serve")
        wait_for(lambda: answers(f"{base}/api/v1/health/live/"), 30, "gunicorn to answer")
        [worker] = children_named(again, "procrastinate worker")
        gunicorn = children_named(again, "gunicorn")

        worker.kill()  # SIGKILL: no clean-up at all

        assert again.wait(30) != 0
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
            again.wait()
        devdb(tmp_path, "stop")
    assert "the worker stopped (exit status -9): stopping gunicorn" in log_path.read_text()
    assert not [p for p in gunicorn if p.is_running()]
    assert not answers(f"{base}/api/v1/health/live/")
    assert not postmaster_running(tmp_path)
