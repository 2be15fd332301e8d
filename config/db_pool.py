"""How the primary database's connection pool (psycopg_pool, as Django runs it) behaves while PostgreSQL is down.

Left to itself the pool keeps a request waiting for its whole `timeout` when the server is down (it never tells the
requests waiting for a connection that its attempts to connect fail), so under load every worker is held that long
per request and the requests queued behind them wait far longer; and it retries with a backoff that doubles up to
minutes, so once the server is back requests keep failing until its next scheduled attempt (measured: no answer
for 10 s during a 10 s outage, first success 4.6 s after the return; docs/reliability.md). With POOL_OPTIONS:

- `reconnect_timeout=0`: after a failed attempt and one immediate retry, the pool gives up instead of backing off;
  the next request that needs a connection makes a fresh attempt, so service resumes as soon as the server does;
- `reconnect_failed=fail_waiting_requests`: when it gives up, the requests waiting for a connection fail at once
  (api.errors answers 503 with Retry-After) instead of at the end of their timeout.
"""

import logging

from psycopg import OperationalError

logger = logging.getLogger(__name__)


def fail_waiting_requests(pool) -> None:
    """The pool's `reconnect_failed` callback: fail every request waiting for a connection from it."""
    error = OperationalError(f"the database cannot be reached (pool {pool.name!r} gave up connecting)")
    # psycopg_pool has no public call for this; its own close() fails the waiting clients the same way.
    with pool._lock:
        waiting = list(pool._waiting)
        pool._waiting.clear()
    failed = sum(1 for client in waiting if client.fail(error))
    logger.warning("database unreachable: %d waiting requests failed at once", failed)


POOL_OPTIONS = {"reconnect_timeout": 0, "reconnect_failed": fail_waiting_requests}


def application_name(pid: int) -> str:
    """How process `pid` names its connections in PostgreSQL (`pg_stat_activity.application_name`): the settings
    name each process's own, and `make resilience` finds a gunicorn worker's connection by it."""
    return f"couples-api {pid}"
