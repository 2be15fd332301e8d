"""OAuth 2 (django-oauth-toolkit): the grant-type and scope policy, the throttled token endpoint, the sign-in pages
(password, then the second factor where it applies: its code, or its enrolment) and the consent page, the server
metadata."""

import json

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views import View
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider import oauth2_validators
from oauth2_provider import views as oauth_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from clinical.selectors import mfa_sign_in_step
from clinical.services import mfa as mfa_services
from kernel.errors import RecordedRefusal, TooManyAttempts

from .errors import ProblemResponse
from .renderers import qr_code_data_uri
from .throttling import TokenPerAccountThrottle, TokenPerAddressThrottle, code_throttles, throttled_for


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

    def validate_user(self, username, password, client, request, *args, **kwargs):
        """The password grant: refused (`invalid_grant`, as for a wrong password) for an account that signs in with a
        second factor, or must (MFA_REQUIRED_FOR_STAFF): a password alone never gets its tokens."""
        if not super().validate_user(username, password, client, request, *args, **kwargs):
            return False
        return mfa_sign_in_step(request.user) is None

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
        wait = throttled_for([throttle() for throttle in self.throttles], request, self)
        if wait:
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

    def post(self, request, *args, **kwargs):
        """Passwords are throttled here as at the token endpoint: per address and per account (one count for both)."""
        wait = throttled_for([TokenPerAddressThrottle(), TokenPerAccountThrottle()], request, self)
        if wait:
            context = self.get_context_data(form=self.get_form(), throttled=wait)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)


def _next(request) -> str:
    """Where a sign-in page goes on to: the `next` it was given, on this server only."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if safe else settings.LOGIN_REDIRECT_URL


def _to_step(step: str, next_url: str) -> HttpResponseRedirect:
    page = "mfa-verify" if step == "verify" else "mfa-enrol"
    return HttpResponseRedirect(f"{reverse(page)}?{urlencode({'next': next_url})}")


class SecondFactorFirst:
    """A signed-in person whose account signs in with a second factor (or must) passes it before the page: to the
    code page, or to enrolment. Passing it marks the browser session verified (django-otp)."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and not user.is_verified():
            step = mfa_sign_in_step(user)
            if step:
                return _to_step(step, request.get_full_path())
        return super().dispatch(request, *args, **kwargs)


class AuthorizationView(OpenerAllowedMixin, SecondFactorFirst, oauth_views.AuthorizationView):
    """/o/authorize/: consent for an application, after sign-in and the second factor where it applies. The page
    shows, and the form carries, only the requested scopes the signed-in person's role may hold; none of them sends
    the client `invalid_scope`."""

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


class SecondFactorPage(OpenerAllowedMixin, View):
    """A sign-in step after the password, for the signed-in person only. Codes are throttled per account and per
    address as passwords are at the token endpoint, and django-otp's back-off applies on top: a refused page answers
    429 with Retry-After."""

    template_name = ""
    step = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        step = None if request.user.is_verified() else mfa_sign_in_step(request.user)
        if step != self.step:
            return _to_step(step, _next(request)) if step else HttpResponseRedirect(_next(request))
        return super().dispatch(request, *args, **kwargs)

    def page(self, request, status=200, **context):
        response = render(request, self.template_name, {"next": _next(request), **context}, status=status)
        if status == 429:
            response["Retry-After"] = str(context["retry_after"])
        return response

    def post(self, request):
        wait = throttled_for(code_throttles(), request, self)
        if wait:
            return self.refused_for(request, wait)
        try:
            return self.checked(request, request.POST.get("code", "")[:64])
        except RecordedRefusal:
            return self.get(request, error="That code is not right. Check it and try again.")
        except TooManyAttempts as refused:
            return self.refused_for(request, refused.retry_after)

    def refused_for(self, request, wait: int):
        return self.get(request, status=429, retry_after=wait, error=f"Too many attempts: wait {wait} seconds.")


class SecondFactorView(SecondFactorPage):
    """/accounts/mfa/: the code of the account's authenticator app, or one of its recovery codes."""

    template_name = "registration/mfa_verify.html"
    step = "verify"

    def get(self, request, status=200, **context):
        return self.page(request, status, **context)

    def checked(self, request, code: str):
        otp_login(request, mfa_services.mfa_sign_in_verify(user=request.user, code=code))
        return HttpResponseRedirect(_next(request))


class EnrolmentView(SecondFactorPage):
    """/accounts/mfa/enrol/: where the practice requires a second factor and the account has none yet, an
    authenticator app is added (its QR code and secret), confirmed with its first code, and the recovery codes are
    shown once; then the sign-in goes on. The same enrolment is shown again until it is confirmed."""

    template_name = "registration/mfa_enrol.html"
    step = "enrol"
    SESSION_KEY = "mfa_enrolment"

    def get(self, request, status=200, **context):
        pending = request.session.get(self.SESSION_KEY)
        device = TOTPDevice.objects.filter(pk=pending, user=request.user, confirmed=False).first() if pending else None
        enrolment = mfa_services.enrolment_of(device) if device else mfa_services.mfa_enrol_start(actor=request.user)
        request.session[self.SESSION_KEY] = enrolment.device.pk
        qr_code = qr_code_data_uri(enrolment.otpauth_uri)
        return self.page(request, status, secret=enrolment.secret, qr_code=qr_code, **context)

    def checked(self, request, code: str):
        codes = mfa_services.mfa_enrol_confirm(actor=request.user, code=code)
        otp_login(request, TOTPDevice.objects.get(user=request.user, confirmed=True))
        request.session.pop(self.SESSION_KEY, None)
        return self.page(request, recovery_codes=codes)


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
