"""`make resilience`: the app under load and faults, as deployed, with figures and a verdict.

Run through `python -m tools.devdb exec` with DEVDB_DIR=.data/resilience (its own embedded PostgreSQL, which the
outage scenario stops and starts). Steps:

1. A generated practice (`generate_practice --scale 0.01`) in a template database, made once and kept while the
   generator and migrations are unchanged; each run copies it into a fresh database `resilience`.
2. Mobile clients (tests/resilience/load.py) with homework-scoped tokens, one per client with active homework.
3. gunicorn (sync workers, config.settings.base: the production stack without its HTTPS-only switches) on
   127.0.0.1:8401, its log in .data/resilience/gunicorn.log.
4. Scenarios, each printing its figures and failing on any requirement it misses:
   steady   60 s of load: no 5xx, no hang, every 201 stored exactly once, nothing stored without a 201.
   outage   the same load; PostgreSQL stopped (pg_ctl stop -m fast) for 10 s and started again: 503
            problem+json within 2 s while down, serving again within 5 s of its return, every retried key
            stored exactly once.
   kill     the same load for 30 s while gunicorn workers are killed (SIGKILL) in the middle of requests: no
            partial write, retried keys stored exactly once.
   After each: every read answered 200 has its audit event; at the end `manage.py verify_audit` passes.
5. The webhook scenarios (tests/resilience/webhooks.py): a procrastinate worker process runs beside gunicorn from the
   start, as `make run` runs it; the first scenario that needs it subscribes a receiver in this process (127.0.0.1,
   --receiver-port) through the API, and from then on `outage` also requires every event delivered.
   receiver_down  the receiver down for --receiver-down s (default 600), then back: every event arrives, each
                  webhook-id accepted once, no delivery failed.
   worker_kill    the worker SIGKILLed inside a delivery: the delivery is sent again with the same webhook-id.

Writes .data/resilience/results.json; exit status 1 when a requirement failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tools.serve import GUNICORN_CONFIG, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent.parent
PY = sys.executable
WORK = Path(os.environ.get("DEVDB_DIR", ROOT / ".data" / "resilience")).resolve()
TEMPLATE, DATABASE = "resilience_template", "resilience"
SETTINGS = "config.settings.base"
DOWN_ANSWER_LIMIT = 2.0  # seconds: while the database is down, every request is answered within this
RECOVERY_LIMIT = 5.0  # seconds after the database is back: every request is served again
# The load sends a completion every few tenths of a second per client for minutes, far above what an app does;
# the limits are raised (not removed), so the throttles' counters still run on every submission.
LOAD_THROTTLE_RATE = "100000/min"


@dataclass
class Outcome:
    name: str
    figures: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.problems.append(message)


# ---------------------------------------------------------------- database and server


def manage(url: str, *args: str, settings: str = SETTINGS) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": settings}
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)


def ensure_database(base_url: str, scale: float, seed: int) -> str:
    """A fresh copy of the generated practice (generated once per generator/migrations version)."""
    import psycopg

    from bench.run import database_url, fingerprint

    marker = WORK / f"{TEMPLATE}.fingerprint"
    wanted = fingerprint(scale, seed)
    admin = database_url(base_url, "postgres")
    if not (marker.exists() and marker.read_text() == wanted):
        started = time.monotonic()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        template_url = database_url(base_url, TEMPLATE)
        # As bench/run.py makes its practices (the generator is part of the bench app).
        for args in (["migrate", "-v0"], ["createcachetable"], ["load_exercises"]):
            manage(template_url, *args, settings="config.settings.bench")
        manage(
            template_url,
            "generate_practice",
            "--scale",
            str(scale),
            "--seed",
            str(seed),
            settings="config.settings.bench",
        )
        marker.write_text(wanted)
        print(f"practice generated at scale {scale} in {time.monotonic() - started:.0f} s", flush=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}" TEMPLATE "{TEMPLATE}"')
    return database_url(base_url, DATABASE)


def devdb(command: str) -> None:
    """Stop (`pause`) or start (`resume`) this run's embedded PostgreSQL, on the same socket (tools/devdb.py)."""
    subprocess.run([PY, "-m", "tools.devdb", command], cwd=ROOT, check=True, capture_output=True)


def server_env(url: str, receiver_port: int) -> dict:
    """The environment of gunicorn and the worker: this run's database, the load's throttles, and the webhook
    receiver on 127.0.0.1 allowed, with a shorter retry schedule (tests/resilience/webhooks.py)."""
    from .webhooks import worker_env

    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "THROTTLE_SUBMISSION_USER": LOAD_THROTTLE_RATE,
        "THROTTLE_SUBMISSION_IP": LOAD_THROTTLE_RATE,
        **worker_env(receiver_port),
    }


def start_server(env: dict, port: int, workers: int, log) -> subprocess.Popen:
    command = [str(Path(PY).with_name("gunicorn")), "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--config", str(GUNICORN_CONFIG)]
    command += ["--workers", str(workers), "--worker-class", "sync", "--no-control-socket", "--timeout", "30"]
    command += ["--graceful-timeout", "5", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    health = f"http://127.0.0.1:{port}/api/v1/health/"
    return wait_until_serving(server, health, f"gunicorn on port {port} (see {log.name})")


PG_LOG = WORK / "pg" / "log"


def pg_log_offset() -> int:
    return PG_LOG.stat().st_size if PG_LOG.exists() else 0


def pg_log_since(offset: int) -> dict:
    """What PostgreSQL logged since `offset`: errors by message, and transactions whose client vanished (PostgreSQL
    rolls those back)."""
    with PG_LOG.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    errors = Counter(line.split("ERROR:", 1)[1].strip()[:100] for line in lines if " ERROR: " in line)
    cut = sum(1 for line in lines if "unexpected EOF on client connection with an open transaction" in line)
    return {"errors": dict(errors.most_common(5)), "error_count": sum(errors.values()), "open_transactions_cut": cut}


def workers_of(server: subprocess.Popen) -> list:
    import psutil

    return psutil.Process(server.pid).children()


# ---------------------------------------------------------------- scenarios


class Context:
    def __init__(self, args, plans, server, url, worker):
        self.args, self.plans, self.server, self.url = args, plans, server, url
        self.user_ids = [p.user_id for p in plans]
        self.worker = worker
        self._webhooks = None

    def load(self, seconds: float, seed: int, plans=None):
        from .load import Load

        plans = self.plans if plans is None else plans
        return Load(self.args.port, plans, seconds=seconds, seed=seed, one_address=self.args.one_address)

    @property
    def webhooks(self):
        """The receiver and the admin's subscription to it, made the first time a scenario needs them."""
        if self._webhooks is None:
            from .webhooks import Receiver, Webhooks, subscribe

            self._webhooks = Webhooks(Receiver(self.args.receiver_port), self.worker)
            subscribe(self._webhooks, self.args.port)
        return self._webhooks


def check_database(context: Context, outcome: Outcome, load, since, log_offset: int) -> None:
    from django.db import connections

    from .practice import audit_reads, reconcile

    postgres = pg_log_since(log_offset)
    outcome.figures["postgres_log"] = postgres
    print(
        f"    PostgreSQL log: {postgres['error_count']} errors {postgres['errors'] or ''}; transactions whose client "
        f"vanished (rolled back): {postgres['open_transactions_cut']}"
    )
    connections.close_all()
    numbers, problems = reconcile(load.keys, context.user_ids, since)
    outcome.figures["reconciliation"] = numbers
    outcome.problems += problems
    print(
        f"    reconciliation: {numbers['keys']} keys, {numbers['answered_201']} answered 201, {numbers['stored']} "
        f"stored ({numbers['stored_keys']} stored keys), stored without a 201: {numbers['stored_without_201']}, "
        f"submissions without exactly one create event: {numbers['create_events_not_1']}, "
        f"unresolved: {numbers['unresolved']}"
    )
    numbers, problems = audit_reads(load.calls, context.user_ids, since)
    outcome.figures["audit_reads"] = numbers
    outcome.problems += problems
    print(
        f"    audit: {numbers['reads_answered_200']} reads answered 200, {numbers['read_events_matching']} with their "
        f"read event; events left by failed requests: {numbers['events_of_failed_requests']}"
    )


def no_hangs(outcome: Outcome, calls) -> None:
    from .load import NORMAL_TIMEOUT

    hung = [c for c in calls if c.error == "timeout" and c.timeout >= NORMAL_TIMEOUT]
    outcome.require(not hung, f"{len(hung)} requests got no answer within {NORMAL_TIMEOUT:.0f} s")


def steady(context: Context) -> Outcome:
    from django.utils import timezone

    from .load import figures, print_figures

    outcome = Outcome("steady")
    print(f"\nsteady: {len(context.plans)} clients for {context.args.seconds:.0f} s", flush=True)
    since, log_offset = timezone.now(), pg_log_offset()
    load = context.load(context.args.seconds, seed=1)
    load.run()
    numbers = figures(load)
    outcome.figures["load"] = numbers
    print_figures("load", numbers)
    outcome.require(numbers["server_errors"] == 0, f"{numbers['server_errors']} 5xx answers")
    dropped = [c for c in load.calls if c.error in ("disconnect", "refused")]
    outcome.require(not dropped, f"{len(dropped)} requests dropped without an answer")
    no_hangs(outcome, load.calls)
    check_database(context, outcome, load, since, log_offset)
    return outcome


def outage(context: Context) -> Outcome:
    from django.db import connections
    from django.utils import timezone

    from .load import figures, ms, print_figures
    from .webhooks import check_after_outage

    outcome = Outcome("outage")
    context.webhooks  # noqa: B018 (subscribed before the load: its events must all arrive)
    seconds, down_for, down_at = context.args.seconds, context.args.down, context.args.seconds / 3
    print(
        f"\noutage: {len(context.plans)} clients for {seconds:.0f} s; PostgreSQL stopped at {down_at:.0f} s for "
        f"{down_for:.0f} s",
        flush=True,
    )
    since, log_offset = timezone.now(), pg_log_offset()
    connections.close_all()
    load = context.load(seconds, seed=2)
    runner = threading.Thread(target=load.run)
    runner.start()
    paused = False
    try:
        time.sleep(down_at)
        stop_issued = time.monotonic()
        devdb("pause")
        paused = True
        stopped = time.monotonic()
        time.sleep(max(0.0, stop_issued + down_for - time.monotonic()))
        start_issued = time.monotonic()
        devdb("resume")
        paused = False
        back = time.monotonic()
    finally:
        if paused:
            devdb("resume")
        runner.join()

    calls = load.calls
    down_calls = [c for c in calls if stop_issued <= c.started < back]
    after_calls = [c for c in calls if c.started >= back]
    unavailable = [c for c in calls if c.status == 503]
    first_503 = min((c.ended for c in unavailable if c.ended >= stop_issued), default=None)
    first_ok_after = min((c.ended for c in after_calls if c.status is not None and c.status < 400), default=None)
    last_503_after = max((c.ended for c in after_calls if c.status == 503), default=None)
    down_answered = [c for c in down_calls if c.status is not None]
    down_slowest = max((c.elapsed for c in down_answered), default=None)
    numbers = {
        "load": figures(load),
        "while_down": figures(load, down_calls),
        "after_return": figures(load, after_calls),
        "stop_seconds": round(stopped - stop_issued, 2),
        "start_seconds": round(back - start_issued, 2),
        "down_seconds": round(back - stop_issued, 2),
        "first_503_after_stop": None if first_503 is None else round(first_503 - stop_issued, 3),
        "first_success_after_return": None if first_ok_after is None else round(first_ok_after - back, 3),
        "last_503_after_return": None if last_503_after is None else round(last_503_after - back, 3),
        "slowest_answer_while_down": down_slowest,
    }
    outcome.figures.update(numbers)
    print_figures("whole load", numbers["load"])
    print_figures("started while down", numbers["while_down"])
    print_figures("started after the return", numbers["after_return"])
    print(
        f"    pg_ctl stop took {numbers['stop_seconds']} s, start {numbers['start_seconds']} s; first 503 "
        f"{ms(numbers['first_503_after_stop'])} after the stop; slowest answer while down "
        f"{ms(down_slowest)}; after the return: first success {ms(numbers['first_success_after_return'])}, "
        f"last 503 {ms(numbers['last_503_after_return'])}"
    )

    late = [c for c in down_answered if c.elapsed > DOWN_ANSWER_LIMIT]
    outcome.require(not late, f"{len(late)} requests sent while down took over {DOWN_ANSWER_LIMIT} s to answer")
    wrong = [c for c in down_answered if c.status >= 500 and (c.status != 503 or not c.problem)]
    outcome.require(not wrong, f"{len(wrong)} answers while down were not 503 problem+json: {wrong[:3]}")
    outcome.require(first_503 is not None, "no request was answered 503 while the database was down")
    outcome.require(first_ok_after is not None, "nothing succeeded after the database came back")
    outcome.require(
        first_ok_after is None or first_ok_after - back <= RECOVERY_LIMIT,
        f"first success only {ms(numbers['first_success_after_return'])} after the database came back",
    )
    still_failing = [c for c in after_calls if c.status == 503 and c.started >= back + RECOVERY_LIMIT]
    outcome.require(
        not still_failing, f"{len(still_failing)} requests sent {RECOVERY_LIMIT} s after the return got 503"
    )
    other = [c for c in calls if c.status is not None and c.status >= 500 and c.status != 503]
    outcome.require(not other, f"{len(other)} 5xx answers other than 503")
    stray = [c for c in unavailable if c.ended < stop_issued or c.started >= back + RECOVERY_LIMIT]
    outcome.require(not stray, f"{len(stray)} 503 answers outside the outage")
    no_hangs(outcome, calls)
    check_database(context, outcome, load, since, log_offset)
    check_after_outage(context, outcome, load, since, stop_issued, back)
    return outcome


def kill(context: Context) -> Outcome:
    from django.db import connections
    from django.utils import timezone

    from .load import figures, print_figures

    outcome = Outcome("kill")
    seconds, wanted = context.args.kill_seconds, context.args.kills
    print(
        f"\nkill: {len(context.plans)} clients for {seconds:.0f} s; {wanted} workers killed while serving a completion",
        flush=True,
    )
    since, log_offset = timezone.now(), pg_log_offset()
    load = context.load(seconds, seed=3)
    runner = threading.Thread(target=load.run)
    runner.start()
    while not load.started:  # set by the load's thread as it begins: the kill slots are counted from it
        time.sleep(0.01)
    kills, inside = [], 0
    interval = seconds / (wanted + 1)
    cursor = connections["default"].cursor()  # autocommit: each read of pg_stat_activity sees the moment
    for number in range(wanted):
        time.sleep(max(0.0, load.started + interval * (number + 1) - time.monotonic()))
        # Until the load ends, not a fixed 5 s: a kill slot whose 5 s passed with every worker between requests
        # (one of six on 2026-12-03, the load at 69 requests/s) tested nothing less than one that waits longer.
        deadline = load.started + seconds - 0.5
        while time.monotonic() < deadline and len(kills) <= number:
            target = serving_a_completion(context, load)
            if target is None:
                time.sleep(0.002)
                continue
            worker, peer, request = target
            # Inside the request's transaction as PostgreSQL sees it (a POST holds a worker for about 10 ms, and a
            # random 0-6 ms wait after its connection was seen landed before the transaction opened in every one of
            # six kills of a full run on 2026-12-04); then only if that worker is still serving that request (a
            # client's next request may reuse its port).
            in_transaction = wait_for_transaction(cursor, worker.pid, load.in_flight, peer[0], request)
            if peer in established_peers(worker, context.args.port) and load.in_flight.get(peer[0]) == request:
                os.kill(worker.pid, signal.SIGKILL)
                kills.append(worker.pid)
                inside += in_transaction
    runner.join()
    time.sleep(1)
    alive = len(workers_of(context.server))

    numbers = figures(load)
    posts_cut = [k for k in load.keys.values() if k.lost_answers.get("disconnect")]
    reads_cut = [c for c in load.calls if c.method == "GET" and c.error == "disconnect"]
    outcome.figures.update(
        {
            "load": numbers,
            "workers_killed_mid_request": len(kills),
            "killed_inside_a_transaction": inside,
            "workers_after": alive,
            "completions_cut_off": len(posts_cut),
            "cut_off_then_replayed": sum(1 for k in posts_cut if k.after_lost_answer == "replayed"),
            "cut_off_then_created": sum(1 for k in posts_cut if k.after_lost_answer == "created"),
            "reads_cut_off": len(reads_cut),
        }
    )
    print_figures("load", numbers)
    print(
        f"    workers killed while serving: {len(kills)}, {inside} of them inside a transaction (workers running "
        f"afterwards: {alive}/{context.args.workers}); "
        f"completions cut off: {len(posts_cut)}, whose retry was answered by storing it then (nothing of the cut-off "
        f"attempt was kept): {outcome.figures['cut_off_then_created']}, by replaying a commit (of the cut-off attempt "
        f"or an earlier one): {outcome.figures['cut_off_then_replayed']}; reads cut off: {len(reads_cut)}"
    )
    outcome.require(len(kills) == wanted, f"only {len(kills)} of {wanted} workers were caught serving a request")
    outcome.require(posts_cut, "no completion was cut off by a kill: nothing was tested (run longer or kill more)")
    outcome.require(alive == context.args.workers, f"{alive} workers after the kills, not {context.args.workers}")
    outcome.require(numbers["server_errors"] == 0, f"{numbers['server_errors']} 5xx answers")
    no_hangs(outcome, load.calls)
    check_database(context, outcome, load, since, log_offset)
    outcome.require(
        outcome.figures["postgres_log"]["open_transactions_cut"] > 0,
        "no kill caught a request inside its transaction: nothing was rolled back (run longer or kill more)",
    )
    return outcome


def wait_for_transaction(cursor, pid: int, in_flight: dict, address: str, request, limit: float = 0.05) -> bool:
    """Wait until gunicorn worker `pid`'s database connection is inside a transaction (each request is one:
    ATOMIC_REQUESTS), for at most `limit` seconds and while the client at `address` still waits for `request`;
    whether it was seen inside one. The connection is found by its application_name (config/db_pool.py), one read
    of pg_stat_activity taking about half a millisecond."""
    from config.db_pool import application_name

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and in_flight.get(address) == request:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND xact_start IS NOT NULL "
            "AND state IN ('active', 'idle in transaction')",
            [application_name(pid)],
        )
        if cursor.fetchone():
            return True
    return False


def established_to(port: int) -> dict[int, tuple[str, int]]:
    """The machine's established IPv4 connections to `port`: socket inode → the peer's (address, port), read from
    /proc/net/tcp once. psutil's `net_connections` reads the whole table for every process it is asked about (9-13
    ms here with the 3,000-5,000 closed connections an outage scenario leaves): a scan of four workers outlasted the
    POST it had found, and the kill scenario caught 0 and 2 of its 6 after the outage (6 of 6 alone)."""
    found, local_port = {}, f":{port:04X} "
    with open("/proc/net/tcp") as table:
        next(table)  # the header
        for line in table:
            if local_port not in line:  # cheap before splitting: most lines are other ports' closed connections
                continue
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state != "01" or not local.endswith(local_port.strip()):  # 01: ESTABLISHED
                continue
            address, _, peer_port = remote.partition(":")
            found[int(inode)] = (socket.inet_ntoa(struct.pack("<I", int(address, 16))), int(peer_port, 16))
    return found


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process `pid` holds open (none once it has gone)."""
    inodes = set()
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def established_peers(worker, port: int, connections: dict | None = None) -> set:
    """The peers of `worker`'s established connections to `port` (from `connections`, one read of the table for
    several workers, or a fresh read)."""
    connections = established_to(port) if connections is None else connections
    return {connections[inode] for inode in socket_inodes(worker.pid) if inode in connections}


def serving_a_completion(context: Context, load):
    """A worker serving a client's submission right now, and that client's address: each client has its own source
    address, so the worker's connection says whose request it is, and the client knows what it sent."""
    connections = established_to(context.args.port)
    for worker in workers_of(context.server):
        for peer in established_peers(worker, context.args.port, connections):
            request = load.in_flight.get(peer[0])
            if request is not None and (request[0] == "submit" or load.one_address):
                return worker, peer, request
    return None


def receiver_down(context: Context) -> Outcome:
    from .webhooks import receiver_down

    return receiver_down(context)


def worker_kill(context: Context) -> Outcome:
    from .webhooks import worker_kill

    return worker_kill(context)


SCENARIOS = {
    "steady": steady,
    "outage": outage,
    "kill": kill,
    "receiver_down": receiver_down,
    "worker_kill": worker_kill,
}


def scenario_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    return names


def verify_audit(url: str) -> Outcome:
    outcome = Outcome("verify_audit")
    result = subprocess.run(
        [PY, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": SETTINGS},
        capture_output=True,
        text=True,
    )
    text = (result.stdout + result.stderr).strip()
    print(f"\nverify_audit: {text.splitlines()[0] if text else result.returncode}")
    outcome.figures["output"] = text
    outcome.require(result.returncode == 0, f"verify_audit failed: {text}")
    return outcome


def server_log(path: Path) -> Outcome:
    """Anything the app logged as an error (an unhandled exception is a 500, whatever the client saw)."""
    outcome = Outcome("server log")
    lines = path.read_text(errors="replace").splitlines()
    errors = [line for line in lines if "unhandled error" in line or line.startswith("Traceback")]
    outcome.figures = {"lines": len(lines), "unhandled_errors": len(errors)}
    print(f"server log: {len(lines)} lines, unhandled errors: {len(errors)}")
    outcome.require(not errors, f"the app logged {len(errors)} unhandled errors, e.g. {errors[:2]}")
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60, help="load per scenario (steady, outage)")
    parser.add_argument("--down", type=float, default=10, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--kill-seconds", type=float, default=30)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8401)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", type=scenario_names, action="append", help="run only these scenarios (comma-separated or repeated)"
    )
    parser.add_argument("--receiver-port", type=int, default=8402, help="the webhook receiver, on 127.0.0.1")
    parser.add_argument("--receiver-down", type=float, default=600, help="seconds the receiver stays down")
    parser.add_argument("--receiver-down-mode", choices=["refused", "503"], default="refused")
    parser.add_argument("--webhook-clients", type=int, default=8, help="clients in receiver_down and worker_kill")
    parser.add_argument("--webhook-seconds", type=float, default=30, help="load in receiver_down")
    parser.add_argument("--webhook-kill-seconds", type=float, default=10, help="load in worker_kill")
    parser.add_argument("--one-address", action="store_true", help="every client from 127.0.0.1, as behind one NAT")
    args = parser.parse_args(argv)
    args.only = [name for names in args.only for name in names] if args.only else None
    if "DATABASE_URL" not in os.environ or not (WORK / "pg" / "postmaster.pid").exists():
        print("run through `make resilience` (DEVDB_DIR=.data/resilience python -m tools.devdb exec -- ...)")
        return 2
    WORK.mkdir(parents=True, exist_ok=True)

    url = ensure_database(os.environ["DATABASE_URL"], args.scale, args.seed)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from .practice import prepare

    plans = prepare(args.clients, args.seed)
    from .webhooks import Worker, worker_log_figures

    log_path = WORK / "gunicorn.log"
    worker_log = WORK / "worker.log"
    worker_log.write_text("")
    env = server_env(url, args.receiver_port)
    outcomes = []
    started = time.monotonic()
    worker = Worker(ROOT, env, worker_log)
    context = None
    try:
        with log_path.open("w") as log:
            server = start_server(env, args.port, args.workers, log)
            worker.start()
            try:
                print(
                    f"gunicorn: {args.workers} sync workers on 127.0.0.1:{args.port}; a procrastinate worker (log in "
                    f"{worker_log.relative_to(ROOT)}); {len(plans)} mobile clients"
                )
                context = Context(args, plans, server, url, worker)
                for name in args.only or list(SCENARIOS):
                    outcomes.append(SCENARIOS[name](context))
            finally:
                worker.stop()
                if context is not None and context._webhooks is not None:
                    context._webhooks.receiver.close()
                server.terminate()
                server.wait(timeout=15)
        outcomes.append(verify_audit(url))
        outcomes.append(server_log(log_path))
        worker_outcome = Outcome("worker")
        worker_outcome.figures = {**worker_log_figures(worker_log), "starts": worker.started}
        worker_outcome.figures["exits_restarted"] = [e["status"] for e in worker.exits]
        print(f"worker: {worker_outcome.figures}")
        outcomes.append(worker_outcome)
    finally:
        from django.db import connections

        connections.close_all()
        if "outage" in (args.only or SCENARIOS):
            # The outage restarted PostgreSQL, and `tools.devdb exec` stops only the server process it started
            # itself: stop this one here, or it would outlive the run.
            devdb("pause")

    failed = [o for o in outcomes if o.problems]
    results = {
        "clients": len(plans),
        "workers": args.workers,
        "scale": args.scale,
        "seconds": round(time.monotonic() - started),
        **{o.name: {"figures": o.figures, "problems": o.problems} for o in outcomes},
    }
    (WORK / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"\nresults written to {(WORK / 'results.json').relative_to(ROOT)} ({results['seconds']} s)")
    for o in outcomes:
        print(f"{o.name:>14}: {'ok' if not o.problems else 'FAILED'}")
        for problem in o.problems[:20]:
            print(f"{'':>16}- {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
