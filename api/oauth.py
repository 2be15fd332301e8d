"""OAuth 2 (django-oauth-toolkit): the grant-type policy, the throttled token endpoint, the login page."""

from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.templatetags.static import static
from django.views import View
from oauth2_provider import oauth2_validators
from oauth2_provider import views as oauth_views

from .errors import ProblemResponse
from .throttling import TokenPerAccountThrottle, TokenPerAddressThrottle


class OAuth2Validator(oauth2_validators.OAuth2Validator):
    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        """The password grant only for applications the practice flagged first-party (its own CLI)."""
        if grant_type == "password" and not getattr(client, "first_party", False):
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)


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
    """/o/authorize/: consent for an application, after sign-in."""


class SwaggerOAuthRedirectView(OpenerAllowedMixin, View):
    """Where Swagger UI's sign-in popup lands with the code; its script hands the code to the docs page."""

    def get(self, request):
        script = static("drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.js")
        return HttpResponse(f'<!doctype html><html lang="en-US"><body><script src="{script}"></script></body></html>')
