"""The connection pool while PostgreSQL cannot be reached (config/db_pool.py), with the options the settings give it:
a request waiting for a connection fails as soon as the pool's attempts fail, not at the end of its timeout, and
the first request after the server is back gets a connection instead of waiting for the pool's next backoff attempt.

An unreachable server is a socket directory with no server in it (what a stopped PostgreSQL leaves); the server
coming back is the pool's connection arguments turning to the suite's own server.
"""

import time

import pytest
from django.conf import settings
from django.db import connection
from psycopg import OperationalError
from psycopg_pool import ConnectionPool, PoolTimeout


def open_pool(kwargs, **overrides) -> ConnectionPool:
    pool = ConnectionPool(
        kwargs=kwargs, open=False, **{**settings.DATABASES["default"]["OPTIONS"]["pool"], **overrides}
    )
    pool.open()
    return pool


def server_kwargs() -> dict:
    return {**connection.get_connection_params(), "dbname": "postgres"}


def test_a_request_waiting_for_an_unreachable_server_fails_at_once(tmp_path):
    # A timeout no request would wait out: without the fix, getconn() would sit here for a minute and then raise
    # PoolTimeout.
    pool = open_pool({**server_kwargs(), "host": str(tmp_path)}, timeout=60)
    try:
        with pytest.raises(OperationalError, match="cannot be reached") as caught:
            pool.getconn()
        assert not isinstance(caught.value, PoolTimeout)
    finally:
        pool.close()


def test_the_first_request_after_the_server_is_back_gets_a_connection(tmp_path):
    reachable = False

    def kwargs():
        return server_kwargs() if reachable else {**server_kwargs(), "host": str(tmp_path)}

    pool = open_pool(kwargs, timeout=0.5)
    try:
        with pytest.raises(OperationalError):
            pool.getconn()
        # The outage lasts past the pool's first backoff delay (1 s): a backing-off pool would next try at 3 s,
        # after this request's half second.
        time.sleep(1.5)
        reachable = True
        conn = pool.getconn()
        assert conn.execute("SELECT 1").fetchone() == (1,)
        pool.putconn(conn)
    finally:
        pool.close()
