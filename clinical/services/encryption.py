"""Key rotation for encrypted columns."""

import pgtrigger
from cryptography.fernet import InvalidToken, MultiFernet
from django.apps import apps
from django.db import connection, transaction

from clinical.fields import EncryptedTextField, FieldDecryptionError, fernet

BATCH = 1000


def encrypted_columns():
    """(model, field) for every encrypted column in the project, row-history event tables included."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def reencrypt_all() -> dict[str, int]:
    """Re-encrypt every stored value with the first key in FIELD_ENCRYPTION_KEYS.

    Rotation: put the new key first, keep the old ones after it, run this, then drop the old keys.
    Works on ciphertext (Fernet rotate): plaintext is never handed to Python objects here. A value no
    configured key decrypts stops the run: nothing would be gained by skipping it.
    """
    keys = fernet()
    counts = {}
    # Re-encryption changes no content, so the signed-note immutability trigger and the row-history triggers
    # stand aside for it (pgtrigger.ignore is scoped to this block and this connection).
    with pgtrigger.ignore():
        for model, field in encrypted_columns():
            counts[f"{model._meta.label}.{field.name}"] = _reencrypt_column(model, field, keys)
    return counts


def _reencrypt_column(model, field, keys: MultiFernet) -> int:
    quote = connection.ops.quote_name
    table, column, pk = quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)
    done, last = 0, None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            after = f" AND {pk} > %s" if last is not None else ""
            cursor.execute(
                f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL{after} "  # noqa: S608 - model names
                f"ORDER BY {pk} LIMIT {BATCH} FOR UPDATE",
                [last] if last is not None else [],
            )
            rows = cursor.fetchall()
            if not rows:
                return done
            try:
                rotated = [(keys.rotate(value.encode()).decode(), key) for key, value in rows]
            except InvalidToken as exc:
                raise FieldDecryptionError(f"{model.__name__}.{field.name} holds a value no key decrypts") from exc
            # One statement per batch (pgtrigger.ignore works per statement, not with executemany).
            pk_type = model._meta.pk.db_type(connection)
            cursor.execute(
                f"UPDATE {table} SET {column} = v.value FROM unnest(%s::text[], %s::{pk_type}[]) AS v(value, id) "  # noqa: S608
                f"WHERE {table}.{pk} = v.id",
                [[value for value, _ in rotated], [key for _, key in rotated]],
            )
            done += len(rows)
            last = rows[-1][0]
