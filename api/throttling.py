"""Rate limits. Counters live in the shared cache (PostgreSQL), so every process and node counts together.

Rates are read at request time (DRF binds them at import), so settings changes apply at once.
"""

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
