from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.exceptions import AuthenticationFailed


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth 2 bearer tokens. A token that was sent but is unknown, expired or revoked is an explicit
    401 `invalid_token` (RFC 6750 §3.1), not the same answer as sending none."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None and request.headers.get("Authorization", "").lower().startswith("bearer "):
            raise AuthenticationFailed("The access token is invalid, expired or revoked.", code="invalid_token")
        if result is not None and not result[0].is_active:  # deactivated accounts lose access at once
            raise AuthenticationFailed("This account is deactivated.", code="invalid_token")
        return result

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
