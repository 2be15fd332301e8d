from django.contrib.auth.views import LogoutView
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from oauth2_provider import urls as oauth_urls
from oauth2_provider import views as oauth_views

from api import oauth
from api.urls import problem_urls, v1

oauth_patterns = [
    path("authorize/", oauth.AuthorizationView.as_view(), name="authorize"),
    path("token/", oauth.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("api/v1/", include(v1)),
    path("api/problems/", include(problem_urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/docs/oauth2-redirect.html",
        oauth.SwaggerOAuthRedirectView.as_view(),
        name="swagger-oauth-redirect",
    ),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("o/", include((oauth_patterns, "oauth2_provider"))),
    path("", include((oauth_urls.metadata_urlpatterns, "oauth2_provider_metadata"))),
    path("accounts/login/", oauth.LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
]
