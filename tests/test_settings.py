"""Production settings refuse development secrets, and pass Django's deployment checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-secret-key-that-is-long-enough-0123456789",
    "DJANGO_ALLOWED_HOSTS": "api.practice.example",
    "FIELD_ENCRYPTION_KEYS": "fhVWw0qN2h0oUq4n2JfQYk0r0qL3bKp8B7iQ9cS8W5E=",
    "DATABASE_URL": "postgres://app@db.invalid/app",
}


def manage(*args, **env_changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(GOOD)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be off"),
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"FIELD_ENCRYPTION_KEYS": None}, "FIELD_ENCRYPTION_KEYS"),
    ],
)
def test_production_refuses_to_start(change, complaint):
    result = manage("check", **change)

    assert result.returncode != 0
    assert complaint in result.stderr


def test_invalid_encryption_key_is_refused_at_start():
    result = manage("check", FIELD_ENCRYPTION_KEYS="not-a-fernet-key")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stdout + result.stderr


REALISTIC = {
    **GOOD,
    "DJANGO_ALLOWED_HOSTS": "api.practice.example",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://api.practice.example",
    "DJANGO_CORS_ALLOWED_ORIGINS": "https://app.practice.example,https://supervision.practice.example:8443",
}
SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "X_FRAME_OPTIONS",
    "CORS_ALLOWED_ORIGINS",
    "CORS_ALLOWED_ORIGIN_REGEXES",
    "CORS_ALLOW_ALL_ORIGINS",
    "CORS_ALLOW_CREDENTIALS",
    "CORS_URLS_REGEX",
    "API_MAX_BODY_BYTES",
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "MIDDLEWARE",
    "REST_FRAMEWORK",
    "SILENCED_SYSTEM_CHECKS",
]


def production_settings(**env_changes) -> dict:
    """The production settings as a process started with this environment sees them."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name, None) for name in {SECURITY_SETTINGS!r}}}, default=str))"
    )
    result = manage("shell", "-c", code, **{**REALISTIC, **env_changes})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_a_realistic_environment():
    """Every deployment check runs, none warns; the one silenced check is the password grant (see
    production.py)."""
    result = manage("check", "--deploy", "--fail-level", "DEBUG", **REALISTIC)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."
    assert "WARNING" not in result.stderr


def test_production_is_https_only_with_secure_cookies():
    configured = production_settings()

    assert configured["DEBUG"] is False
    assert configured["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert configured["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert configured["SECURE_HSTS_PRELOAD"] is True
    assert configured["SECURE_SSL_REDIRECT"] is True
    assert configured["SECURE_REDIRECT_EXEMPT"] == [r"^api/v1/health/"]  # the load balancer's plain-HTTP probe
    assert configured["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert configured["SECURE_REFERRER_POLICY"] == "same-origin"
    assert configured["X_FRAME_OPTIONS"] == "DENY"
    for cookie in ("SESSION", "CSRF"):
        assert configured[f"{cookie}_COOKIE_SECURE"] is True
        assert configured[f"{cookie}_COOKIE_HTTPONLY"] is True


def test_production_has_no_browsable_api_and_limits_request_bodies():
    configured = production_settings()

    assert configured["REST_FRAMEWORK"]["DEFAULT_RENDERER_CLASSES"] == ["api.renderers.JSONRenderer"]
    assert configured["REST_FRAMEWORK"]["DEFAULT_PARSER_CLASSES"] == ["rest_framework.parsers.JSONParser"]
    assert configured["API_MAX_BODY_BYTES"] == configured["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 256 * 1024
    middleware = configured["MIDDLEWARE"]
    # the body limit answers before anything reads a body; CORS headers go on every answer, errors included
    assert middleware.index("api.limits.RequestBodyLimitMiddleware") < middleware.index(
        "django.middleware.common.CommonMiddleware"
    )
    assert middleware.index("corsheaders.middleware.CorsMiddleware") < middleware.index(
        "api.errors.ProblemDetailsMiddleware"
    )


def test_production_cors_allows_exactly_the_origins_in_the_environment():
    configured = production_settings()

    assert configured["CORS_ALLOWED_ORIGINS"] == [
        "https://app.practice.example",
        "https://supervision.practice.example:8443",
    ]
    assert configured["CORS_ALLOWED_ORIGIN_REGEXES"] == []
    assert configured["CORS_ALLOW_ALL_ORIGINS"] is False
    assert configured["CORS_ALLOW_CREDENTIALS"] is False


def test_production_cors_allows_no_origin_by_default():
    assert production_settings(DJANGO_CORS_ALLOWED_ORIGINS=None)["CORS_ALLOWED_ORIGINS"] == []


@pytest.mark.parametrize(
    "origins",
    ["*", "http://app.practice.example", "https://app.practice.example/", "https://*.practice.example", "app.example"],
)
def test_production_refuses_a_loose_cors_allowlist(origins):
    result = manage("check", **{**REALISTIC, "DJANGO_CORS_ALLOWED_ORIGINS": origins})

    assert result.returncode != 0
    assert "DJANGO_CORS_ALLOWED_ORIGINS" in result.stderr


RUNTIME_SETTINGS = [
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
]


@pytest.mark.django_db
def test_production_answers_carry_hsts_and_secure_cookies(settings):
    """The production values above, applied to real requests: plain HTTP is redirected (except the health
    probe), HTTPS answers carry HSTS, and cookies (the sign-in page's CSRF cookie) are Secure."""
    from django.test import Client

    configured = production_settings()
    for name in RUNTIME_SETTINGS:
        setattr(settings, name, configured[name])
    browser = Client()

    plain = browser.get("/api/v1/cases/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/api/v1/cases/"
    assert browser.get("/api/v1/health/live/").status_code == 200

    secure = browser.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure.cookies["csrftoken"]["secure"] is True
    assert secure.cookies["csrftoken"]["httponly"] is True
    api = browser.get("/api/v1/cases/", HTTP_X_FORWARDED_PROTO="https")
    assert api.status_code == 401
    assert api["Strict-Transport-Security"].startswith("max-age=31536000")
