"""`make run`: prepare the database (migrate, cache table, exercise catalog, demo practice) and serve.

Run through `python -m tools.devdb exec --`, which provides the database and stops it afterwards.
gunicorn replaces this process, so Ctrl-C and SIGTERM reach it directly and it shuts down cleanly.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
