from django.contrib.auth.views import LogoutView
from django.urls import include, path
from django.views.generic import RedirectView
from oauth2_provider import urls as oauth_urls
from oauth2_provider import views as oauth_views

from api import docs, oauth
from api.urls import problem_urls, v1
from fhir_r4 import urls as fhir_urls

oauth_patterns = [
    path("authorize/", oauth.AuthorizationView.as_view(), name="authorize"),
    path("token/", oauth.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
]

# django-oauth-toolkit's metadata routes, with our view of the authorization server's metadata (api.oauth).
metadata_patterns = [
    path(str(p.pattern), oauth.ServerMetadataView.as_view(), name=p.name)
    if p.name.startswith("oauth-server-metadata")
    else p
    for p in oauth_urls.metadata_urlpatterns
]

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("api/v1/", include(v1)),
    path("api/problems/", include(problem_urls)),
    path("fhir/r4/", include(fhir_urls)),
    path("api/schema/", docs.SchemaView.as_view(), name="schema"),
    path("api/docs/", docs.SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/docs/oauth2-redirect.html",
        oauth.SwaggerOAuthRedirectView.as_view(),
        name="swagger-oauth-redirect",
    ),
    path("api/redoc/", docs.RedocView.as_view(url_name="schema"), name="redoc"),
    path("api/redoc/redoc.standalone.js", docs.RedocBundleView.as_view(), name="redoc-bundle"),
    path("o/", include((oauth_patterns, "oauth2_provider"))),
    path("", include((metadata_patterns, "oauth2_provider_metadata"))),
    path("accounts/login/", oauth.LoginView.as_view(), name="login"),
    path("accounts/mfa/", oauth.SecondFactorView.as_view(), name="mfa-verify"),
    path("accounts/mfa/enrol/", oauth.EnrolmentView.as_view(), name="mfa-enrol"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
]
