"""`Idempotency-Key` on POST: a retried request gets the first response and changes nothing twice.

- same key, same body: the stored response, with `Idempotent-Replayed: true`;
- same key, another body (or another endpoint): 422;
- same key while the first request is still running: 409 (retry shortly);
- a key is kept for IDEMPOTENCY_KEY_TTL (7 days), then it may be used again.

The check, the handler's writes and the stored response share one transaction, so a crash at any
point leaves either everything or nothing: there is never a created object without its stored key,
nor a stored key without its object. Only 2xx responses are stored; a failed request can be retried.
"""

import functools
import hashlib
import json

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from kernel.changes import insert_plain
from kernel.erasure import Erased

from .etags import PreconditionRequired
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Location", "ETag")


class IdempotencyKeyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."
    default_code = "idempotency_key_in_use"


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used for a different request; use a new key for a new request."
    default_code = "idempotency_key_reused"


# 1 to 255 visible ASCII characters (what the schema declares, so clients and fuzzers know the rule).
KEY_PATTERN = r"^[!-~]{1,255}$"


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(33 <= ord(ch) <= 126 for ch in key)


def _fingerprint(request) -> str:
    body = request._request.body  # read before DRF parses it; Django caches it for the parser
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), canonical):
        digest.update(part + b"\0")
    return digest.hexdigest()


def _lock_id(user_id, key: str) -> int:
    digest = hashlib.sha256(f"{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _replay(record: IdempotencyRecord) -> Response:
    data = json.loads(record.response_body) if record.response_body else None
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    return Response(data, status=record.status_code, headers=headers)


# The key's lock and its record in one round trip, as two statements: the record is read by the second, whose
# snapshot is taken after the first took (or failed to take) the lock, so it sees a record that the key's previous
# holder committed. Whether the lock was taken travels to the second statement in a transaction-local setting.
_CLAIM_LOCK = "SELECT set_config('api.idempotency_lock', pg_try_advisory_xact_lock(%s)::text, true)"
_RECORD_FIELDS = ("id", "fingerprint", "status_code", "response_body", "response_headers", "created_at")


@functools.cache
def _claim_statement() -> str:
    meta, quote = IdempotencyRecord._meta, connection.ops.quote_name
    columns = ", ".join(f"r.{quote(meta.get_field(name).column)}" for name in _RECORD_FIELDS)
    return (
        f"{_CLAIM_LOCK}; SELECT current_setting('api.idempotency_lock')::boolean, {columns} "  # noqa: S608 - the model's own names
        f"FROM (SELECT 1) AS one LEFT JOIN {quote(meta.db_table)} r "
        f"ON r.{quote(meta.get_field('user').column)} = %s AND r.{quote(meta.get_field('key').column)} = %s"
    )


def _claim(user, key: str) -> tuple[bool, IdempotencyRecord | None]:
    """(whether this request now holds the key, its stored record if any)."""
    with connection.cursor() as cursor:
        cursor.execute(_claim_statement(), [_lock_id(user.pk, key), user.pk, key])
        while cursor.nextset():  # the second statement's row (pghistory's wrapper may have moved there already)
            pass
        locked, *values = cursor.fetchone()
    if values[0] is None:
        return locked, None
    fields = [IdempotencyRecord._meta.get_field(name) for name in _RECORD_FIELDS]
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return locked, IdempotencyRecord.from_db(connection.alias, [f.attname for f in fields], values)


def run_idempotently(request, handler, *, required: bool, roll_back=None):
    key = request.headers.get(HEADER)
    if key is None:
        if required:
            raise PreconditionRequired(f"This operation needs an {HEADER} header (a fresh UUID per request).")
        return handler()
    if not _valid_key(key):
        raise ValidationError({HEADER: ["1 to 255 visible ASCII characters, e.g. a UUID."]})
    fingerprint = _fingerprint(request)
    user = request.user
    # No savepoint of its own: whatever raises here is undone with the request's writes (api/throttling.py
    # CountsSurviveFailureMixin rolls back to the savepoint after the checks, or the whole request is rolled back).
    with transaction.atomic(savepoint=False):
        locked, record = _claim(user, key)
        if not locked:
            raise IdempotencyKeyInUse()
        if record is not None and record.created_at < timezone.now() - settings.IDEMPOTENCY_KEY_TTL:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            record = None
        if record is not None:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            return _replay(record)

        response = handler()
        if not 200 <= response.status_code < 300:
            # Nothing of a refused request is kept: the view undoes its own writes (`roll_back`), or the whole
            # request is rolled back.
            (roll_back or functools.partial(transaction.set_rollback, True))()
            return response
        insert_plain(
            IdempotencyRecord(
                user=user,
                key=key,
                fingerprint=fingerprint,
                status_code=response.status_code,
                response_body=json.dumps(response.data, cls=JSONEncoder) if response.data is not None else None,
                response_headers={h: response[h] for h in KEPT_HEADERS if response.has_header(h)},
            )
        )
        return response


def idempotent(handler=None, *, required=False):
    """Decorate a view handler (`create`, or an `@action`) to honour Idempotency-Key.

    `required` is a bool, a function of the request (e.g. required of client apps only), or "view": the view's
    own `idempotency_required` says which (the one viewset base's create, api/viewsets.py).
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(self, request, *args, **kwargs):
            needed = idempotency_of(self, required)
            needed = needed(request) if callable(needed) else needed
            return run_idempotently(
                request,
                lambda: func(self, request, *args, **kwargs),
                required=needed,
                roll_back=getattr(self, "roll_back_own_writes", None),
            )

        wrapper.idempotency = required
        return wrapper

    return decorate(handler) if handler is not None else decorate


def idempotency_of(view, required):
    """What a handler's `required` means for this view."""
    return getattr(view, "idempotency_required", False) if required == "view" else required


def idempotency_label(view, handler) -> str | None:
    """For the contract: `required`, `conditional` (required of some callers), `optional`, or None (no key)."""
    if not hasattr(handler, "idempotency"):
        return None
    required = idempotency_of(view, handler.idempotency)
    return "required" if required is True else ("conditional" if callable(required) else "optional")


def purge_expired(now=None) -> int:
    """Delete records older than the TTL; returns how many."""
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def forget_client(client_id, user_id) -> Erased:
    """An erased client's copies in the stored answers (kernel.erasure): every answer stored for their login, and
    every answer stored for anyone else that names them (a clinician's `POST clients/` answer holds their name and
    contact details). The stored bodies are encrypted, so they are read to be searched; a key whose answer is
    deleted may be used again (a retry within the TTL would act again)."""
    mine = IdempotencyRecord.objects.filter(user_id=user_id) if user_id else IdempotencyRecord.objects.none()
    naming = [
        record.pk
        for record in IdempotencyRecord.objects.exclude(user_id=user_id)
        .exclude(response_body=None)
        .only("id", "response_body")
        .iterator(chunk_size=500)
        if str(client_id) in record.response_body
    ]
    count = mine.delete()[0] + IdempotencyRecord.objects.filter(pk__in=naming).delete()[0]
    return Erased(
        "idempotency_record",
        count,
        "Stored answers to retried requests: the client's own, and others' that name the client. They exist only so "
        "that a retry is answered the same; nothing of the care is lost with them.",
    )
