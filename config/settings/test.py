"""Settings for pytest: the same stack as production, with a fast password hasher."""

from .base import *

DEBUG = False
# The benchmark's practice generator is tested too (tests/bench).
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
# Several test runs may share one PostgreSQL server; each can name its own test database.
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run many requests per second from one address; each throttle test sets the rate it checks.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "token_ip": "1000/min",
        "token_user": "1000/min",
        "invitation_accept": "1000/min",
        "submission_user": "1000/min",
        "submission_ip": "1000/min",
        "mfa_user": "1000/min",
        "mfa_ip": "1000/min",
    },
}
OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "ALWAYS_RELOAD_OAUTHLIB_CORE": True}
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}
