"""`make run`: prepare the database (migrate, cache table, exercise catalog, demo practice) and serve.

Run through `python -m tools.devdb exec --`, which provides the database and stops it afterwards.
gunicorn replaces this process, so Ctrl-C and SIGTERM reach it directly and it shuts down cleanly.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.chdir(ROOT)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("load_exercises")
    call_command("seed_demo")
    from django.db import connections

    connections.close_all()

    port = os.environ.get("PORT", "8000")
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    print(f"serving on http://127.0.0.1:{port}/  (API docs: http://127.0.0.1:{port}/api/docs/)", flush=True)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    os.execv(
        gunicorn,
        [
            gunicorn,
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            workers,
            "--no-control-socket",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "10",
        ],
    )


if __name__ == "__main__":
    main()
