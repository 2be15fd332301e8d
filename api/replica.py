"""Reads that may be served by a PostgreSQL streaming replica, with read-your-writes (docs/scaling.md).

With DATABASE_REPLICA_URL set, the reports and a case's outcomes (JSON and chart) read their figures from the
replica; who may see what is still decided on the primary, every audit event is written there, and everything
else reads and writes there too. Nothing here keeps state in the process, so any number of nodes agree:

- After a caller's successful change (an unsafe method answered below 400), the primary's WAL position is stored
  for that caller in the shared cache, which lives in PostgreSQL (WritePositionMiddleware).
- A routed read asks the replica how far it has replayed. If it has not reached the caller's last change, or is
  not a standby, or cannot be reached, the primary answers, and the last two are logged as warnings. A replica
  that could not be reached is not asked again for a few seconds (a mark in the shared cache), so an outage costs
  one pool timeout per interval, not one per request. A replica failing in the middle of a read also falls back.

Without a replica none of this runs: routed reads use the primary and no extra query is made.
"""

import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, Error, InterfaceError, OperationalError, connections
from drf_spectacular.utils import OpenApiParameter

logger = logging.getLogger(__name__)

REPLICA = "replica"  # the alias config/settings/base.py defines from DATABASE_REPLICA_URL
SERVED_BY_HEADER = "X-Served-By"
SERVED_BY_PARAMETER = OpenApiParameter(
    SERVED_BY_HEADER,
    str,
    OpenApiParameter.HEADER,
    response=[200],
    enum=["replica", "primary"],
    description=(
        "Which database served the figures: `replica` (a streaming replica that had replayed your own last "
        "change) or `primary`."
    ),
)
# How long a caller's last write position is kept: the longest replica lag read-your-writes covers.
WRITE_POSITION_TTL = 3600
# How long a replica that could not be reached is left alone before it is tried again.
UNREACHABLE_RETRY_SECONDS = 10
UNREACHABLE_KEY = "replica:unreachable"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")

T = TypeVar("T")


def replica_configured() -> bool:
    # Read on every call (not at import): settings decide, and a test may add the alias at run time.
    return REPLICA in settings.DATABASES


def _position_key(user) -> str:
    return f"replica:write-position:{user.pk}"


def wal_position(text: str) -> int:
    """A pg_lsn ('16/B374D848') as a number that orders like it."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def remember_write(user) -> None:
    """Store the primary's current WAL position as `user`'s last write (never moving it backwards)."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (position,) = cursor.fetchone()
    key = _position_key(user)
    previous = cache.get(key)
    if previous is None or wal_position(previous) < wal_position(position):
        cache.set(key, position, WRITE_POSITION_TTL)


class WritePositionMiddleware:
    """After a successful change (its transaction has committed by now), remember where the primary's WAL was."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method in SAFE_METHODS or response.status_code >= 400 or not replica_configured():
            return response
        user = getattr(request, "user", None)  # DRF sets the authenticated caller on the Django request too
        if user is not None and user.is_authenticated:
            try:
                remember_write(user)
            except Error as error:
                # The change itself has committed: answer it. Reads may then be served slightly stale.
                logger.warning("could not record the write position of user %s: %s", user.pk, error)
        return response


def _forget_replica_connection() -> None:
    """Give a failed replica connection back to the pool, which drops it if broken."""
    with contextlib.suppress(Error):
        connections[REPLICA].close()


def _choose(user) -> str:
    """The replica if it may serve `user` now, else the primary."""
    marks = cache.get_many([_position_key(user), UNREACHABLE_KEY])
    if marks.get(UNREACHABLE_KEY):
        return DEFAULT_DB_ALIAS
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn()::text")
            (replayed,) = cursor.fetchone()
    except Error as error:
        logger.warning("read replica unreachable, reading from the primary: %s", error)
        _forget_replica_connection()
        cache.set(UNREACHABLE_KEY, True, UNREACHABLE_RETRY_SECONDS)
        return DEFAULT_DB_ALIAS
    if replayed is None:
        logger.warning("the read replica is not a standby (pg_last_wal_replay_lsn() is null), reading from the primary")
        return DEFAULT_DB_ALIAS
    written = marks.get(_position_key(user))
    if written is not None and wal_position(replayed) < wal_position(written):
        return DEFAULT_DB_ALIAS  # the caller changed something the replica has not replayed yet
    return REPLICA


def routed_read(request, read: Callable[[str], T]) -> tuple[T, str]:
    """`read(using)` on the replica when it may serve this caller, else on the primary.

    Returns the result and which served it ("replica" or "primary", for the X-Served-By header).
    """
    if replica_configured() and _choose(request.user) == REPLICA:
        try:
            return read(REPLICA), "replica"
        except (OperationalError, InterfaceError) as error:  # the replica's trouble, not a bad query
            logger.warning("read replica failed during a read, reading from the primary: %s", error)
            _forget_replica_connection()
    return read(DEFAULT_DB_ALIAS), "primary"


def with_served_by(response, served_by: str):
    response[SERVED_BY_HEADER] = served_by
    return response
