"""Key rotation for encrypted columns."""

from django.apps import apps
from django.db import connection, transaction

from clinical.fields import EncryptedTextField, FieldDecryptionError, fernet

BATCH = 1000


def encrypted_columns():
    """(model, field) for every encrypted column in the project."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def reencrypt_all() -> dict[str, int]:
    """Re-encrypt every stored value with the first key in FIELD_ENCRYPTION_KEYS.

    Rotation: put the new key first, keep the old ones after it, run this, then drop the old keys.
    Works on ciphertext (Fernet rotate), so plaintext never leaves the database driver's buffers here.
    A value no configured key decrypts stops the run: nothing would be gained by skipping it.
    """
    from cryptography.fernet import InvalidToken

    keys = fernet()
    counts = {}
    for model, field in encrypted_columns():
        table, column, pk = model._meta.db_table, field.column, model._meta.pk.column
        quote = connection.ops.quote_name
        done, last = 0, None
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                where = f"WHERE {quote(column)} IS NOT NULL" + (f" AND {quote(pk)} > %s" if last is not None else "")
                cursor.execute(
                    f"SELECT {quote(pk)}, {quote(column)} FROM {quote(table)} {where} "  # noqa: S608 - names from the model
                    f"ORDER BY {quote(pk)} LIMIT {BATCH} FOR UPDATE",
                    [last] if last is not None else [],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                try:
                    rotated = [(keys.rotate(value.encode()).decode(), key) for key, value in rows]
                except InvalidToken as exc:
                    raise FieldDecryptionError(f"{model.__name__}.{field.name} holds a value no key decrypts") from exc
                cursor.executemany(
                    f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE {quote(pk)} = %s",  # noqa: S608
                    rotated,
                )
                done += len(rows)
                last = rows[-1][0]
        counts[f"{model._meta.label}.{field.name}"] = done
    return counts
