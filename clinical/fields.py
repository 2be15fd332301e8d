"""Encrypted columns for PHI: note sections, free-text answers, stored responses.

Built on django-fernet-encrypted-fields, with two changes the project needs:
- keys come from FIELD_ENCRYPTION_KEYS (Fernet keys; the first encrypts, all decrypt), not from SECRET_KEY;
- a value that does not decrypt raises instead of being returned as ciphertext, so a wrong key can never
  lead to ciphertext being shown, or encrypted a second time on the next save.
"""

import functools
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models
from encrypted_fields.fields import EncryptedFieldMixin


class FieldDecryptionError(RuntimeError):
    """A stored value did not decrypt with any configured key: the key set is wrong or incomplete."""


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    """The configured keys: the first encrypts, all decrypt."""
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


class GuardedEncryptionMixin(EncryptedFieldMixin):
    @property
    def keys(self) -> list[bytes]:
        return [key.encode() for key in settings.FIELD_ENCRYPTION_KEYS]

    @property
    def f(self) -> MultiFernet:
        return fernet()

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            return self.f.decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise FieldDecryptionError(
                f"{self.model.__name__}.{self.name} holds a value no configured key decrypts; "
                "check FIELD_ENCRYPTION_KEYS."
            ) from exc

    def to_python(self, value):
        # Values reaching to_python come from Python code, never from the database (see from_db_value).
        return models.TextField.to_python(self, value)


class EncryptedTextField(GuardedEncryptionMixin, models.TextField):
    """Text stored as a Fernet token. Empty strings are stored as NULL, so declare the column null=True."""


class EncryptedJSONField(EncryptedTextField):
    """A JSON document (e.g. a note's sections) stored as one Fernet token."""

    def get_prep_value(self, value):
        if value is None:
            return None
        return self.f.encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).decode()

    def from_db_value(self, value, expression, connection):
        text = super().from_db_value(value, expression, connection)
        return None if text is None else json.loads(text)

    def to_python(self, value):
        return json.loads(value) if isinstance(value, str) else value
