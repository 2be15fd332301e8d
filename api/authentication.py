from types import SimpleNamespace

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.exceptions import AuthenticationFailed

from .token_cache import cached_validator_class


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth 2 bearer tokens in the Authorization header (RFC 6750 §2.1), checked by django-oauth-toolkit's
    own validator (`validate_bearer_token`: the hashed token, expiry, RFC 8707 audience, the application).

    It calls the validator directly instead of through oauthlib's resource endpoint, which rebuilds the
    request and parses headers and body for the other token transports; our API takes the header only (tokens
    in a query string or a form body are refused by RFC 9700 anyway). That plumbing was a fifth of a cached
    read's time. A token that was sent but is unknown, expired or revoked is an explicit 401 `invalid_token`
    (RFC 6750 §3.1), not the same answer as sending none.

    The validator's one query (token, application, user) is answered from this process's token cache when it holds
    the token (api/token_cache.py: what is cached, and how every revocation reaches every process).
    """

    def authenticate(self, request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        carrier = SimpleNamespace(uri=request.build_absolute_uri())
        validator = cached_validator_class()()
        if not validator.validate_bearer_token(token.strip(), [], carrier):
            request.oauth2_error = getattr(carrier, "oauth2_error", {})
            raise AuthenticationFailed("The access token is invalid, expired or revoked.", code="invalid_token")
        if not carrier.user.is_active:  # deactivated accounts lose access at once
            request.oauth2_error = {"error": "invalid_token"}
            raise AuthenticationFailed("This account is deactivated.", code="invalid_token")
        return carrier.user, carrier.access_token

    def authenticate_header(self, request):
        # RFC 6750 §3: when a token was sent and refused, the challenge says so; without one it stays bare.
        if hasattr(request, "oauth2_error"):
            return 'Bearer realm="api", error="invalid_token"'
        return 'Bearer realm="api"'
