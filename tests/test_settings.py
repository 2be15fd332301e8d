"""Production settings refuse development secrets, and pass Django's deployment checks."""

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
