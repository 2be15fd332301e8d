"""Triggers that tell every process's token cache (api/token_cache.py) what changed: any UPDATE or DELETE of an
access token, an application or a user, and a TRUNCATE of those tables, sends `pg_notify('token_cache', ...)`,
delivered when the transaction commits. Hand-written because two of the tables belong to django-oauth-toolkit."""

from django.conf import settings
from django.db import migrations

TABLES = [
    # (table, payload prefix, column named in the payload)
    ("oauth2_provider_accesstoken", "t", "token_checksum"),
    ("clinical_oauthapplication", "a", "id"),
    ("clinical_user", "u", "id"),
]

FUNCTION = """
CREATE OR REPLACE FUNCTION token_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('token_cache', '*');
    ELSE
        PERFORM pg_notify('token_cache', TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
    END IF;
    RETURN NULL;
END
$$;
"""


def triggers(table, prefix, column):
    return f"""
CREATE TRIGGER token_cache_notify AFTER UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION token_cache_notify('{prefix}', '{column}');
CREATE TRIGGER token_cache_notify_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION token_cache_notify();
"""


def drop(table):
    return f"""
DROP TRIGGER IF EXISTS token_cache_notify ON {table};
DROP TRIGGER IF EXISTS token_cache_notify_truncate ON {table};
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [
        migrations.RunSQL(
            FUNCTION + "".join(triggers(*spec) for spec in TABLES),
            "".join(drop(table) for table, _, _ in TABLES) + "DROP FUNCTION IF EXISTS token_cache_notify();",
        ),
    ]
