"""Request limits, checked before anything parses the request.

- The request head (RequestHeadLimitMiddleware): a request target over API_MAX_URL_BYTES answers 414; a header
  field over API_MAX_HEADER_FIELD_BYTES, all fields over API_MAX_HEADER_BYTES, or more than API_MAX_HEADER_FIELDS
  fields answer 431. gunicorn's own limits are set above these (config/gunicorn.py) so that the application, not
  gunicorn's HTML error page, answers.
- The body (RequestBodyLimitMiddleware): over API_MAX_BODY_BYTES answers 413 before a byte of it is read; JSON
  nested deeper than API_MAX_JSON_DEPTH answers 400 `nesting_too_deep` before any parser (or the Idempotency-Key
  fingerprint) recurses into it: Python's JSON decoder raises RecursionError at about 1,000 levels.
"""

import re
from itertools import accumulate

from django.conf import settings

from .errors import PROBLEM_TYPES, ProblemResponse

# A JSON string, escapes included: the brackets inside one are text, not structure.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether `body`, read as JSON, nests arrays and objects more than `limit` levels deep.

    Cheap for ordinary bodies: with no more than `limit` opening brackets in all it cannot be deeper (two C-speed
    counts). Otherwise strings are dropped and only the brackets left are walked, up to the first level too deep:
    about 10 ms here for 256 KiB of small objects, the worst case that passes. Brackets that a malformed body
    leaves unbalanced count too; the parser would refuse that body anyway.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    structure = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return any(depth > limit for depth in accumulate(_STEP[b] for b in structure))


def _parsed_as_json(request) -> bool:
    # Under /api/ every body may reach a JSON parser: the Idempotency-Key fingerprint reads any body as JSON,
    # whatever its declared type. Elsewhere (sign-in and OAuth forms) only bodies declared as JSON.
    if request.path.startswith("/api/"):
        return True
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return ProblemResponse(
                400, detail="Content-Length is not a number.", code="malformed_request", instance=request.path
            )
        if length > settings.API_MAX_BODY_BYTES:
            return ProblemResponse(
                413,
                detail=f"The request body is {length} bytes; the limit is {settings.API_MAX_BODY_BYTES}.",
                instance=request.path,
                max_bytes=settings.API_MAX_BODY_BYTES,
            )
        depth = settings.API_MAX_JSON_DEPTH
        if length and _parsed_as_json(request) and json_nesting_exceeds(request.body, depth):
            return ProblemResponse(
                400,
                detail=f"The body nests arrays and objects more than {depth} levels deep.",
                code="nesting_too_deep",
                problem_type=PROBLEM_TYPES["malformed"],
                instance=request.path,
                max_depth=depth,
            )
        return self.get_response(request)


def _header_name(meta_key: str) -> str:
    name = meta_key[5:] if meta_key.startswith("HTTP_") else meta_key
    return "-".join(part.capitalize() for part in name.split("_"))


class RequestHeadLimitMiddleware:
    """414 for a request target over API_MAX_URL_BYTES; 431 for header fields over their limits.

    The request target is what the client sent after the method (gunicorn passes it as RAW_URI); a field's size
    is its name, ": " and its value, as on the wire.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        target = meta.get("RAW_URI") or request.get_full_path()
        target_bytes = len(target.encode("latin-1", "replace"))
        if target_bytes > settings.API_MAX_URL_BYTES:
            return ProblemResponse(
                414,
                detail=f"The request target is {target_bytes} bytes; the limit is {settings.API_MAX_URL_BYTES}. "
                "Send long input in a request body.",
                code="uri_too_long",
                problem_type=PROBLEM_TYPES["uri-too-long"],
                instance=request.path,
                max_bytes=settings.API_MAX_URL_BYTES,
            )
        total = fields = 0
        for key, value in meta.items():
            if not (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) or not isinstance(value, str):
                continue
            name = _header_name(key)
            size = len(name) + 2 + len(value)
            fields += 1
            total += size
            if size > settings.API_MAX_HEADER_FIELD_BYTES:
                return self._too_large(
                    request,
                    f"The header field {name} is {size} bytes; the limit is {settings.API_MAX_HEADER_FIELD_BYTES}.",
                )
        if total > settings.API_MAX_HEADER_BYTES:
            return self._too_large(
                request, f"The header fields are {total} bytes in all; the limit is {settings.API_MAX_HEADER_BYTES}."
            )
        if fields > settings.API_MAX_HEADER_FIELDS:
            return self._too_large(
                request, f"The request has {fields} header fields; the limit is {settings.API_MAX_HEADER_FIELDS}."
            )
        return self.get_response(request)

    @staticmethod
    def _too_large(request, detail: str) -> ProblemResponse:
        return ProblemResponse(
            431,
            detail=detail,
            code="header_fields_too_large",
            problem_type=PROBLEM_TYPES["header-fields-too-large"],
            instance=request.path,
            max_field_bytes=settings.API_MAX_HEADER_FIELD_BYTES,
            max_total_bytes=settings.API_MAX_HEADER_BYTES,
            max_fields=settings.API_MAX_HEADER_FIELDS,
        )
