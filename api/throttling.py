"""Rate limits. Counters live in the shared cache (PostgreSQL), so every process and node counts together.

Rates are read at request time (DRF binds them at import), so settings changes apply at once.
"""

import math

from django.db import connection, transaction
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


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
    """Password-grant attempts per account, from whatever address: slows guessing one person's password."""

    scope = "token_user"

    def get_cache_key(self, request, view):
        if request.POST.get("grant_type") != "password":
            return None
        username = request.POST.get("username", "").strip().lower()
        return self.cache_format % {"scope": self.scope, "ident": username} if username else None


class CountedAtCommit(ScopedRate):
    """A rate whose count is written when the request's transaction commits, not when the request is let in.

    The counters are rows of the database cache. Written at once, inside the request's transaction (ATOMIC_REQUESTS),
    the row stays locked until the request ends, so every other request counted on it — the same client, or the
    same address behind a NAT — waits for this one to finish. Written at commit, the lock lasts one statement. A
    request whose transaction rolls back is not counted; a refused one still is (CountsSurviveFailureMixin keeps the
    request's transaction, and with it this write, when it undoes the request's own writes). Two requests running
    at once can each miss the other's count, as they could before: the cache reads without locking.
    """

    def throttle_success(self):
        self.history.insert(0, self.now)
        cache, key, history, duration = self.cache, self.key, self.history, self.duration
        # robust: the request has committed by then; a count that fails to be written is logged, not a 500.
        transaction.on_commit(lambda: cache.set(key, history, duration), robust=True)
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
    return [SubmissionPerUserThrottle(), SubmissionPerAddressThrottle()]


class CountsSurviveFailureMixin:
    """A refused request still counts against its rate limit.

    Each request is one transaction (ATOMIC_REQUESTS) and the counters live in PostgreSQL, so an error that
    rolled the whole request back would also forget that it was made: a flood of bad guesses would never be
    throttled. Throttled views therefore take a savepoint right after the checks, and an error rolls back to
    it: the request's own writes are undone, its count is kept.
    """

    _checks_savepoint = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.get_throttles() and connection.in_atomic_block:
            self._checks_savepoint = transaction.savepoint()

    def handle_exception(self, exc):
        if self._checks_savepoint is not None:
            transaction.savepoint_rollback(self._checks_savepoint)
            self._checks_savepoint = None
            self.request_rolled_back = True  # the exception handler need not roll back the whole request
        return super().handle_exception(exc)
