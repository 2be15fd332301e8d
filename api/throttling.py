"""Rate limits. Counters live in the shared cache (PostgreSQL), so every process and node counts together.

Rates are read at request time (DRF binds them at import), so settings changes apply at once.
"""

import base64
import logging
import math
import pickle
from datetime import UTC, datetime

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, connection, connections, router, transaction
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from kernel.errors import RecordedRefusal

logger = logging.getLogger(__name__)


class ScopedRate(SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def wait(self):
        """Seconds until a request would be allowed: when the oldest request still filling the window leaves it.

        Never None, so a 429 always carries `Retry-After` (DRF's own estimate gives None once the history holds
        more requests than the rate, which concurrent requests or a lowered rate can cause).
        """
        if len(self.history) < self.num_requests:
            return 1
        leaves_at = self.history[self.num_requests - 1] + self.duration
        return max(1, math.ceil(leaves_at - self.now))


class TokenPerAddressThrottle(ScopedRate):
    """Token requests per client address."""

    scope = "token_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenPerAccountThrottle(ScopedRate):
    """Password attempts per account, from whatever address, at the token endpoint (the password grant) and on the
    sign-in page (a form without a grant type), counted together: slows guessing one person's password."""

    scope = "token_user"

    def get_cache_key(self, request, view):
        if request.POST.get("grant_type", "password") != "password":
            return None
        username = request.POST.get("username", "").strip().lower()
        return self.cache_format % {"scope": self.scope, "ident": username} if username else None


class CodePerAccountThrottle(ScopedRate):
    """Two-factor codes per signed-in account, from whatever address: slows guessing one person's codes."""

    scope = "mfa_user"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class CodePerAddressThrottle(ScopedRate):
    """Two-factor codes per client address, whichever accounts send them."""

    scope = "mfa_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def code_throttles():
    """Every request that checks a two-factor code counts, as every password grant does."""
    return [CodePerAccountThrottle(), CodePerAddressThrottle()]


def throttled_for(throttles, request, view=None) -> int | None:
    """Outside DRF's views (the token endpoint, the sign-in pages): the seconds to wait when any of `throttles`
    refuses the request (each one asked, so each counts it), else None."""
    waits = [throttle.wait() or 1 for throttle in throttles if not throttle.allow_request(request, view)]
    return int(max(waits)) + 1 if waits else None


class _Together:
    """The counted throttles of one request: they read their counters in one statement (the first of them to be
    asked reads every one's) and write them in one statement when the request commits."""

    def __init__(self, throttles=()):
        self.throttles = list(throttles)
        self.histories = None
        self.pending: list[tuple[str, list, int]] = []

    def read(self, request, view) -> dict:
        if self.histories is None:
            keys = [
                key
                for throttle in self.throttles
                if throttle.rate is not None and (key := throttle.get_cache_key(request, view)) is not None
            ]
            self.histories = caches["default"].get_many(keys)
        return self.histories

    def count(self, key: str, history: list, duration: int) -> None:
        if not self.pending:
            # robust: the request has committed by then; a count that fails to be written is logged, not a 500.
            transaction.on_commit(self.write, robust=True)
        self.pending.append((key, history, duration))

    def write(self) -> None:
        try:
            write_counts(caches["default"], self.pending)
        except DatabaseError as error:
            # The request has committed; only its counts are lost, as when the database stops between the commit and
            # this write (seen in `make resilience`'s outage). A warning: nothing the request did is undone.
            logger.warning("rate-limit counts not written after the request committed: %s", error)


def write_counts(cache, counts: list[tuple[str, list, int]]) -> None:
    """`cache.set(key, history, duration)` for every count, in one statement where the cache is the database cache:
    an upsert of the rows (stored as DatabaseCache stores them: pickled, base64, expiry to the second) that also
    counts the table's rows, so that the cache is culled as its own `set` culls it when it holds more than
    MAX_ENTRIES (then the rows are written again, since culling may have taken them). Its own `set` takes five
    statements and a transaction per key."""
    if not isinstance(cache, DatabaseCache):
        for key, history, duration in counts:
            cache.set(key, history, duration)
        return
    db = router.db_for_write(cache.cache_model_class)
    conn = connections[db]
    quote = conn.ops.quote_name
    table = quote(cache._table)
    params = []
    for key, history, duration in counts:
        expires = datetime.fromtimestamp(cache.get_backend_timeout(duration), tz=UTC).replace(microsecond=0)
        pickled = pickle.dumps(history, cache.pickle_protocol)
        value = base64.b64encode(pickled).decode("latin1")
        params += [cache.make_and_validate_key(key), value, conn.ops.adapt_datetimefield_value(expires)]
    key, value, expires = quote("cache_key"), quote("value"), quote("expires")
    upsert = (
        f"INSERT INTO {table} ({key}, {value}, {expires}) "  # noqa: S608 - the cache's own table
        f"VALUES {', '.join(['(%s, %s, %s)'] * len(counts))} "
        f"ON CONFLICT ({key}) DO UPDATE SET {value} = EXCLUDED.{value}, {expires} = EXCLUDED.{expires}"
    )
    with conn.cursor() as cursor:
        cursor.execute(f"WITH written AS ({upsert}) SELECT COUNT(*) FROM {table}", params)  # noqa: S608
        (rows,) = cursor.fetchone()
        if rows > cache._max_entries:
            cache._cull(db, cursor, timezone.now().replace(microsecond=0), rows)
            cursor.execute(upsert, params)


class CountedAtCommit(ScopedRate):
    """A rate whose count is written when the request's transaction commits, not when the request is let in.

    The counters are rows of the database cache. Written at once, inside the request's transaction (ATOMIC_REQUESTS),
    the row stays locked until the request ends, so every other request counted on it — the same client, or the
    same address behind a NAT — waits for this one to finish. Written at commit, the lock lasts one statement. A
    request whose transaction rolls back is not counted; a refused one still is (CountsSurviveFailureMixin keeps the
    request's transaction, and with it this write, when it undoes the request's own writes). Two requests running
    at once can each miss the other's count, as they could before: the cache reads without locking.
    """

    def __init__(self, together: _Together | None = None):
        super().__init__()
        self.together = together or _Together([self])

    def allow_request(self, request, view):
        # The counters of the request's throttles, read in one statement: `cache.get(key, [])` is all DRF asks of it.
        self.cache = self.together.read(request, view)
        return super().allow_request(request, view)

    def throttle_success(self):
        self.history.insert(0, self.now)
        self.together.count(self.key, self.history, self.duration)
        return True


class SubmissionPerUserThrottle(CountedAtCommit):
    """Submissions (and amendments) per client account, from whatever address."""

    scope = "submission_user"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class SubmissionPerAddressThrottle(CountedAtCommit):
    """Submissions per client address, whichever accounts send them: slows one machine using many tokens."""

    scope = "submission_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def submission_throttles():
    """Every submission request counts, an idempotent replay included: a replay still costs a transaction, a lock
    and a hash of the body, and a client refused one loses nothing (its submission is stored; the retry after
    `Retry-After` gets the same answer)."""
    together = _Together()
    together.throttles = [SubmissionPerUserThrottle(together), SubmissionPerAddressThrottle(together)]
    return together.throttles


class CountsSurviveFailureMixin:
    """A refused request still counts against its rate limit.

    Each request is one transaction (ATOMIC_REQUESTS) and the counters live in PostgreSQL, so an error that
    rolled the whole request back would also forget that it was made: a flood of bad guesses would never be
    throttled. Throttled views therefore take a savepoint right after the checks, and an error rolls back to
    it: the request's own writes are undone, its count is kept. A RecordedRefusal keeps what the service wrote of
    it (a failed two-factor code: the device's back-off and the audit event), and nothing else was written.
    """

    _checks_savepoint = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.get_throttles() and connection.in_atomic_block:
            self._checks_savepoint = transaction.savepoint()

    def roll_back_own_writes(self) -> None:
        """Undo what the request wrote after its checks, keeping its count (the whole request without checks).
        Blocks inside may take no savepoint of their own (api/idempotency.py): the rollback to this one undoes
        them, and the transaction is usable again from here."""
        if self._checks_savepoint is None:
            transaction.set_rollback(True)
            return
        transaction.set_rollback(False)  # (as Django's own atomic blocks do before rolling back to their savepoint)
        transaction.savepoint_rollback(self._checks_savepoint)

    def handle_exception(self, exc):
        if self._checks_savepoint is not None and not isinstance(exc, RecordedRefusal):
            self.roll_back_own_writes()
            self._checks_savepoint = None
            self.request_rolled_back = True  # the exception handler need not roll back the whole request
        return super().handle_exception(exc)
