"""OAuth 2 (django-oauth-toolkit): the grant-type and scope policy, the throttled token endpoint, the login and
consent pages, the server metadata."""

import json

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.templatetags.static import static
from django.views import View
from oauth2_provider import oauth2_validators
from oauth2_provider import views as oauth_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from .errors import ProblemResponse
from .throttling import TokenPerAccountThrottle, TokenPerAddressThrottle


def role_scopes(user) -> list[str]:
    """The scopes a token of `user` may hold (settings.OAUTH_ROLE_SCOPES)."""
    return list(settings.OAUTH_ROLE_SCOPES.get(getattr(user, "role", None), []))


def granted_scopes(user, requested: list[str] | None) -> list[str]:
    """What a token of `user` gets: the requested scopes its role may hold, in the order asked (RFC 6749 §3.3 lets
    the server grant fewer; the token response's `scope` says which). Nothing requested: the default scopes
    where the role may hold them, else the role's own one (an admin's or a client's), never one that must be asked
    for by name (OAUTH_EXPLICIT_SCOPES: the bulk export's)."""
    allowed = role_scopes(user)
    if not requested:
        implicit = [s for s in allowed if s not in settings.OAUTH_EXPLICIT_SCOPES]
        return [s for s in oauth2_settings.DEFAULT_SCOPES if s in implicit] or implicit
    return [s for s in dict.fromkeys(requested) if s in allowed]


class OAuth2Validator(oauth2_validators.OAuth2Validator):
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        """Only the grants the metadata lists (OAUTH2_GRANT_TYPES_SUPPORTED), and the password grant only for
        applications the practice flagged first-party (its own CLI)."""
        if grant_type not in oauth2_settings.OAUTH2_GRANT_TYPES_SUPPORTED:
            return False
        if grant_type == "password" and not getattr(client, "first_party", False):
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        if getattr(request, "user", None) is not None:
            return granted_scopes(request.user, None)
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """Narrow the scopes to what the user's role may hold, once the user is known: after the password check
        (password grant) and when the signed-in person allows (authorization code). None left: invalid_scope."""
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False  # a scope this server does not know at all is the client's mistake: invalid_scope
        if getattr(request, "user", None) is not None:
            request.scopes = granted_scopes(request.user, scopes)
            return bool(request.scopes)
        return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        """A refresh keeps only the original scopes the user's role may still hold; none left: invalid_scope."""
        original = super().get_original_scopes(refresh_token, request, *args, **kwargs)
        original = original.split() if isinstance(original, str) else list(original)
        kept = [s for s in original if s in role_scopes(request.user)]
        if not kept:
            raise oauth_errors.InvalidScopeError(
                description="The user's role may hold none of this grant's scopes.", request=request
            )
        return kept


class TokenView(oauth_views.TokenView):
    """/o/token/, throttled per client address and, for the password grant, per account."""

    throttles = (TokenPerAddressThrottle, TokenPerAccountThrottle)

    def post(self, request, *args, **kwargs):
        waits = []
        for throttle_class in self.throttles:
            throttle = throttle_class()
            if not throttle.allow_request(request, self):
                waits.append(throttle.wait() or 1)
        if waits:
            wait = int(max(waits)) + 1
            return ProblemResponse(
                429,
                detail=f"Too many token requests; retry in {wait} seconds.",
                instance=request.path,
                headers={"Retry-After": str(wait)},
            )
        grant_type = request.POST.get("grant_type")
        if grant_type and grant_type not in oauth2_settings.OAUTH2_GRANT_TYPES_SUPPORTED:
            # django-oauth-toolkit serves the device grant before oauthlib and the validator see the request
            # (and answers 500 without a device_code): refuse every grant not offered here first.
            error = oauth_errors.UnsupportedGrantTypeError()
            return HttpResponse(error.json, status=error.status_code, content_type="application/json")
        return super().post(request, *args, **kwargs)


class OpenerAllowedMixin:
    """Pages of the sign-in popup keep their link to the window that opened it.

    Browser-based clients (Swagger UI among them) open /o/authorize/ in a popup and read the code back
    through `window.opener`; Django's default `Cross-Origin-Opener-Policy: same-origin` would sever that
    link as soon as the popup reached one of these pages.
    """

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response["Cross-Origin-Opener-Policy"] = "unsafe-none"
        return response


class LoginView(OpenerAllowedMixin, auth_views.LoginView):
    """The sign-in page the authorization endpoint sends people to (authorization code + PKCE)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


class AuthorizationView(OpenerAllowedMixin, oauth_views.AuthorizationView):
    """/o/authorize/: consent for an application, after sign-in. The page shows, and the form carries, only the
    requested scopes the signed-in person's role may hold; none of them sends the client `invalid_scope`."""

    def validate_authorization_request(self, request):
        scopes, credentials = super().validate_authorization_request(request)
        requested = request.GET.get("scope", "").split() if request.method == "GET" else scopes
        granted = granted_scopes(request.user, requested)
        if not granted:
            error = oauth_errors.InvalidScopeError(
                description="Your account may grant none of the requested scopes.", state=credentials.get("state")
            )
            raise OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"])
        return granted, credentials


class ServerMetadataView(oauth_views.OAuthServerMetadataView):
    """RFC 8414 metadata. django-oauth-toolkit gives every endpoint the token endpoint's authentication methods;
    introspection here takes a confidential client's credentials only (a resource server's), never `none`."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        if "introspection_endpoint_auth_methods_supported" in data:
            data["introspection_endpoint_auth_methods_supported"] = [
                m for m in data["introspection_endpoint_auth_methods_supported"] if m != "none"
            ]
        response.content = json.dumps(data)
        return response


class SwaggerOAuthRedirectView(OpenerAllowedMixin, View):
    """Where Swagger UI's sign-in popup lands with the code; its script hands the code to the docs page."""

    def get(self, request):
        script = static("drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.js")
        return HttpResponse(f'<!doctype html><html lang="en-US"><body><script src="{script}"></script></body></html>')
