"""Production settings: refuse to start with development secrets, debug on, or no allowed hosts."""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import INSECURE_FIELD_ENCRYPTION_KEY, INSECURE_SECRET_KEY, env

if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
if SECRET_KEY == INSECURE_SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY to a random value of at least 50 characters.")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS to the host names this API answers to.")
if INSECURE_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("Set FIELD_ENCRYPTION_KEYS; the development key must not encrypt real records.")

# Static files are collected at build time (`collectstatic`, see the Dockerfile) and served by whitenoise.
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Redirect URIs must be https in production, except schemes an operator adds for native apps.
OAUTH2_PROVIDER = {
    **OAUTH2_PROVIDER,
    "ALLOWED_REDIRECT_URI_SCHEMES": env.list("OAUTH_REDIRECT_URI_SCHEMES", default=["https"]),
}

# Browser apps on other origins: only those DJANGO_CORS_ALLOWED_ORIGINS lists (none by default), each an https
# origin. Tokens travel in the Authorization header, never in cookies, so no credentials cross origins.
for _origin in CORS_ALLOWED_ORIGINS:
    _parts = urlsplit(_origin)
    if _parts.scheme != "https" or not _parts.hostname or "*" in _origin or _parts.path or _parts.query:
        raise ImproperlyConfigured(
            f"DJANGO_CORS_ALLOWED_ORIGINS must list https origins (https://host[:port]), not {_origin!r}."
        )
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOWED_ORIGIN_REGEXES = []
CORS_ALLOW_CREDENTIALS = False

# No browsable API and no form parsing, whatever base.py comes to say: JSON in, JSON out (CSV and PNG only where
# a view declares them).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

SILENCED_SYSTEM_CHECKS = [
    # RFC 9700 discourages the password grant. api.oauth.OAuth2Validator allows it only for
    # applications an admin flagged first-party; every other application is refused.
    "oauth2_provider.W002",
]
