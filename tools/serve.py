"""`make run`: take the port, prepare the database (migrate, cache table, exercise catalog and measures, demo
practice), then run the worker and gunicorn side by side.

Run through `python -m tools.devdb exec --`, which provides the database and stops it afterwards. It says what it
does, one line per step. The port is taken first, before anything touches the database: a second `make run` on
a port in use stops there, naming the fix, instead of migrating and seeding the live database and then failing
in gunicorn. The socket it holds is handed to gunicorn (`--bind fd://N`), so nothing can take the port between
the check and the serving.

The worker (`manage.py procrastinate worker`, as deployed) and gunicorn are children of this process, in its
process group: Ctrl-C in the terminal reaches both, and each shuts down cleanly; SIGTERM or SIGHUP here is passed
on to both. When either stops by itself, the other is stopped and this exits non-zero, so `make run` never goes on
serving without a worker (or working without a server).
"""

import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.py"
HOST = "127.0.0.1"


def gunicorn_command(*, bind: str, workers: int | str) -> list[str]:
    """gunicorn as every server of this project starts it: the project's limits (config/gunicorn.py), no control
    socket (gunicorn 27 makes one at a path shared by every gunicorn on the machine)."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [
        gunicorn,
        "config.wsgi:application",
        "--config",
        str(GUNICORN_CONFIG),
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--no-control-socket",
    ]


def wait_until_serving(server: subprocess.Popen, url: str, what: str, timeout: float = 30) -> subprocess.Popen:
    """`server`, once `url` answers 2xx; killed, and RuntimeError, when it has not within `timeout` seconds. For
    the harnesses that start gunicorn themselves (bench/run.py, tests/resilience/run.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 (an http://127.0.0.1 address we built)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{what} did not start")


def take_port(port: int) -> socket.socket | None:
    """A listening socket on HOST:port, or None when something else has it. Listening at once, so that a request
    made while the database is prepared waits for gunicorn instead of being refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: a port in TIME_WAIT is free
    try:
        sock.bind((HOST, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise
    sock.set_inheritable(True)
    return sock


def step(text: str) -> None:
    print(text, flush=True)


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    sock = take_port(port)
    if sock is None:
        print(f"port {port} is in use (another `make run`?): serve on another one with PORT={port + 1} make run")
        return 1

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    # The README's webhook walkthrough runs a receiver on this machine, over plain http.
    os.environ.setdefault("WEBHOOK_ALLOWED_TARGETS", "127.0.0.1:8765")
    os.chdir(ROOT)
    import django
    from django.core.management import call_command

    django.setup()
    step("migrating the database")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    step("loading the exercise catalog and the measures")
    call_command("load_exercises")
    call_command("load_instruments")
    step("seeding the demo practice")
    call_command("seed_demo")
    from django.db import connections

    connections.close_all()

    received = catch_stop_signals()
    step("starting the worker")
    worker = subprocess.Popen([sys.executable, "manage.py", "procrastinate", "worker"])
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    step(f"serving on http://{HOST}:{port}/  (API docs: http://{HOST}:{port}/api/docs/; Ctrl-C stops)")
    command = gunicorn_command(bind=f"fd://{sock.fileno()}", workers=workers)
    command += ["--access-logfile", "-", "--graceful-timeout", "10"]
    server = subprocess.Popen(command, pass_fds=(sock.fileno(),))
    sock.close()  # gunicorn holds the port now
    return supervise({"the worker": worker, "gunicorn": server}, received)


# After Ctrl-C (which reaches the children from the terminal) they get this long to finish what they are doing
# (gunicorn's graceful timeout, a webhook delivery's 10 s) before they are told to stop again, then killed.
SHUTDOWN_SECONDS = 12


def catch_stop_signals() -> list[int]:
    """The stop signals this process receives from now on, in order (instead of dying of the first)."""
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, _frame: received.append(signum))
    return received


def supervise(children: dict[str, subprocess.Popen], received: list[int]) -> int:
    """Wait for the children: a stop signal stops them all (0); a child that stops by itself stops the others (1)."""
    cause, deadline, told_again = None, 0.0, False
    while running := [child for child in children.values() if child.poll() is None]:
        if cause is None and (received or len(running) < len(children)):
            if received:
                cause = "signal"
                if received[0] == signal.SIGINT:
                    running = []  # Ctrl-C reached the children from the terminal already
            else:
                cause = next(name for name, child in children.items() if child.poll() is not None)
                others = " and ".join(name for name, child in children.items() if child.poll() is None)
                step(f"{cause} stopped (exit status {children[cause].returncode}): stopping {others}")
            for child in running:
                child.terminate()
            deadline = time.monotonic() + SHUTDOWN_SECONDS
        elif cause is not None and time.monotonic() > deadline:
            for child in running:
                child.kill() if told_again else child.terminate()
            deadline, told_again = time.monotonic() + SHUTDOWN_SECONDS, True
        time.sleep(0.1)
    return 0 if cause == "signal" else 1


if __name__ == "__main__":
    sys.exit(main())
