"""Rate limits. Counters live in the shared cache (PostgreSQL), so every process and node counts together.

Rates are read at request time (DRF binds them at import), so settings changes apply at once.
"""

from django.db import connection, transaction
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ScopedRate(SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


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
