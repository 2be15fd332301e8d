"""Every error under /api/ is RFC 9457 problem+json with a stable `code`.

Three entry points share one builder: DRF's exception handler (errors raised in views), the
middleware that rewrites anything else under /api/ (Django's own 404/500 pages, CSRF failures),
and direct use by middleware that answers before a view runs (413).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from django.urls import is_valid_path
from psycopg_pool import PoolTimeout
from rest_framework import exceptions
from rest_framework.views import set_rollback

from kernel import errors as domain

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/api/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str


PROBLEM_TYPES = {
    p.slug: p
    for p in [
        ProblemType("invalid", 400, "Invalid input", "The request's body or query failed validation; see `errors`."),
        ProblemType("malformed", 400, "Malformed request", "The body could not be parsed as the declared media type."),
        ProblemType(
            "not-authenticated",
            401,
            "Not authenticated",
            "No valid access token: it is missing, expired or revoked. Obtain one at /o/token/.",
        ),
        ProblemType(
            "forbidden",
            403,
            "Forbidden",
            "The token lacks a scope this operation needs, or the caller's role may not use it.",
        ),
        ProblemType("not-found", 404, "Not found", "No such resource within the caller's reach."),
        ProblemType("method-not-allowed", 405, "Method not allowed", "The resource does not support this method."),
        ProblemType("not-acceptable", 406, "Not acceptable", "No representation matches the Accept header."),
        ProblemType(
            "conflict",
            409,
            "Conflict",
            "The resource's current state does not allow this change; `code` says which rule applies.",
        ),
        ProblemType(
            "precondition-failed",
            412,
            "Precondition failed",
            "The If-Match ETag is not the current "
            "one: someone changed the resource. Fetch it again and reapply the change.",
        ),
        ProblemType("payload-too-large", 413, "Payload too large", "The request body exceeds the limit."),
        ProblemType("unsupported-media-type", 415, "Unsupported media type", "Send JSON (application/json)."),
        ProblemType(
            "unprocessable",
            422,
            "Unprocessable request",
            "The request is well formed but cannot be processed, e.g. an Idempotency-Key reused with a different body.",
        ),
        ProblemType(
            "precondition-required",
            428,
            "Precondition required",
            "This change needs an If-Match header with the resource's current ETag.",
        ),
        ProblemType("throttled", 429, "Too many requests", "Slow down; retry after `Retry-After` seconds."),
        ProblemType(
            "uri-too-long",
            414,
            "URI too long",
            "The request target (path and query) exceeds 8 KiB; send long input in a request body.",
        ),
        ProblemType(
            "header-fields-too-large",
            431,
            "Request header fields too large",
            "A header field exceeds 8 KiB, all of them together exceed 32 KiB, or there are more than 100.",
        ),
        ProblemType(
            "server-error",
            500,
            "Internal server error",
            "An unexpected error; nothing was changed. The error was logged.",
        ),
        ProblemType(
            "service-unavailable",
            503,
            "Service unavailable",
            "The database cannot be reached; retry after `Retry-After` seconds.",
        ),
    ]
}
TYPE_BY_STATUS = {p.status: p for p in PROBLEM_TYPES.values() if p.slug != "malformed"}

DEFAULT_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    428: "precondition_required",
    429: "throttled",
    500: "server_error",
    503: "database_unavailable",
}

DATABASE_RETRY_AFTER_SECONDS = 5

DOMAIN_STATUSES = [
    (domain.NotFound, 404),
    (domain.NotAllowed, 403),
    (domain.StaleVersion, 412),
    (domain.Conflict, 409),
    (domain.TooManyAttempts, 429),
    (domain.DomainError, 409),
]


class ProblemResponse(HttpResponse):
    """An `application/problem+json` response; rendered here so that no content negotiation can turn it into
    CSV or HTML."""

    def __init__(
        self,
        status: int,
        *,
        detail: str,
        code: str | None = None,
        problem_type: ProblemType | None = None,
        instance: str | None = None,
        errors: list | None = None,
        headers: dict | None = None,
        **extra,
    ):
        problem_type = problem_type or TYPE_BY_STATUS.get(status) or TYPE_BY_STATUS[500 if status >= 500 else 400]
        body = {
            "type": PROBLEM_TYPE_BASE + problem_type.slug,
            "title": problem_type.title,
            "status": status,
            "detail": detail,
            "code": code or DEFAULT_CODES.get(status, problem_type.slug.replace("-", "_")),
        }
        if instance:
            body["instance"] = instance
        if errors is None and status == 400:
            # Every 400 lists its problems (the contract's ValidationProblem), a malformed body as one of them.
            errors = [{"field": None, "code": body["code"], "message": detail}]
        if errors is not None:
            body["errors"] = errors
        body.update(extra)
        super().__init__(json.dumps(body, default=str), status=status, content_type=PROBLEM_MEDIA_TYPE, headers=headers)
        self.problem = body


def flatten_errors(detail, field: str | None = None) -> list[dict]:
    """DRF's nested error detail → `[{field, code, message}]`; nested fields are dotted (`partners.1`)."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            key = None if key in ("non_field_errors", "__all__") else str(key)
            out += flatten_errors(value, f"{field}.{key}" if field and key else (key or field))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [_error_item(field, item) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item:  # many=True serializers give an empty dict for valid items
                out += flatten_errors(item, f"{field}.{index}" if field else str(index))
        return out
    return [_error_item(field, detail)]


def _error_item(field, message) -> dict:
    return {"field": field, "code": getattr(message, "code", None) or "invalid", "message": str(message)}


def _domain_problem(exc: domain.DomainError, instance: str | None) -> ProblemResponse:
    if isinstance(exc, domain.InvalidInput):
        errors = [
            {"field": None if f == "non_field_errors" else f, "code": "invalid", "message": m}
            for f, messages in exc.errors.items()
            for m in messages
        ]
        return ProblemResponse(400, detail=exc.detail, code=exc.code, errors=errors, instance=instance, **exc.extra)
    status = next(s for cls, s in DOMAIN_STATUSES if isinstance(exc, cls))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, domain.TooManyAttempts) else None
    return ProblemResponse(status, detail=exc.detail, code=exc.code, instance=instance, headers=headers, **exc.extra)


def problem_for_exception(exc: Exception, instance: str | None = None) -> ProblemResponse | None:
    """The problem response for an exception, or None when it is unexpected (a bug)."""
    if isinstance(exc, domain.DomainError):
        return _domain_problem(exc, instance)
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        logger.warning("database unavailable: %s", exc)
        return ProblemResponse(
            503,
            detail="The database cannot be reached. Nothing was changed; retry shortly.",
            instance=instance,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        return ProblemResponse(413, detail="The request body is too large.", instance=instance)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return ProblemResponse(400, detail="The input is not valid.", errors=flatten_errors(detail), instance=instance)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    status = exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        return ProblemResponse(
            400,
            detail="The input is not valid.",
            errors=flatten_errors(exc.detail),
            instance=instance,
            headers=headers,
        )
    if isinstance(exc, exceptions.ParseError):
        return ProblemResponse(
            400,
            detail=str(exc.detail),
            code="malformed_body",
            problem_type=PROBLEM_TYPES["malformed"],
            instance=instance,
        )
    detail = exc.detail
    extra = {}
    if isinstance(detail, dict):  # DOT's scope failure: {"detail": ..., "required_scopes": [...]}
        extra = {k: v for k, v in detail.items() if k != "detail"}
        detail = detail.get("detail", "")
    code = getattr(detail, "code", None)
    if isinstance(exc, exceptions.AuthenticationFailed):
        code = "invalid_token"
    elif isinstance(exc, exceptions.NotAuthenticated):
        code = "not_authenticated"
    elif code in (None, "error"):
        code = DEFAULT_CODES.get(status, "error")
    return ProblemResponse(status, detail=str(detail), code=code, instance=instance, headers=headers, **extra)


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: map every exception to problem+json; unexpected ones are logged as 500."""
    request = context.get("request")
    instance = request.path if request is not None else None
    response = problem_for_exception(exc, instance)
    if response is None:
        logger.exception("unhandled error on %s", instance, exc_info=exc)
        response = ProblemResponse(500, detail="An unexpected error occurred; nothing was changed.", instance=instance)
    # A recorded refusal keeps the record the service wrote of it (and nothing else was written).
    if not getattr(context.get("view"), "request_rolled_back", False) and not isinstance(exc, domain.RecordedRefusal):
        set_rollback()
    return response


class ProblemDetailsMiddleware:
    """Rewrites any error response that is not JSON (Django's 404, 405 and 500 pages, CSRF failures) as
    problem+json, whatever the path: this is a headless API.

    Kept: JSON errors (the OAuth endpoints answer RFC 6749 JSON), and the error pages of the two pages a person
    reads in a browser, sign-in and consent (`BROWSER_PAGES`): when an authorization request names no valid
    client or redirect URI, RFC 6749 §4.1.2.1 says to tell that person, not to redirect. A 404 or 405 there is
    an edge no browser reaches by following the flow, and is rewritten too.

    No route is redirected to the path with a trailing slash (APPEND_SLASH is off: such a redirect drops a POST's
    body); the 404 names that path instead (`did_you_mean`) where it exists.
    """

    BROWSER_PAGES = ("/o/authorize/", "/accounts/")

    def __init__(self, get_response):
        self.get_response = get_response

    def process_exception(self, request, exc):
        """Errors raised around a view (e.g. opening its transaction while the database is down)."""
        if request.path.startswith("/api/"):
            return problem_for_exception(exc, request.path)
        return None

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code >= 400 and self._rewrites(request, response):
            status = response.status_code
            extra = {}
            detail = {
                404: "No such resource.",
                405: f"Method {request.method} is not allowed here.",
                500: "An unexpected error occurred; nothing was changed.",
            }.get(status, TYPE_BY_STATUS.get(status, TYPE_BY_STATUS[500]).title)
            if status == 404 and (with_slash := self._path_with_slash(request)):
                detail = f"No such resource. Paths here end with a slash: did you mean {with_slash}?"
                extra["did_you_mean"] = with_slash
            headers = {k: response[k] for k in ("Allow", "Retry-After", "WWW-Authenticate") if response.has_header(k)}
            return ProblemResponse(status, detail=detail, instance=request.path, headers=headers, **extra)
        return response

    def _rewrites(self, request, response) -> bool:
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if content_type in (PROBLEM_MEDIA_TYPE, "application/fhir+json"):  # FHIR answers OperationOutcome
            return False
        if request.path.startswith("/api/"):
            return True
        if content_type == "application/json":
            return False
        if request.path.startswith(self.BROWSER_PAGES):
            return response.status_code in (404, 405)
        return True

    @staticmethod
    def _path_with_slash(request) -> str | None:
        if request.path_info.endswith("/"):
            return None
        if not is_valid_path(request.path_info + "/", getattr(request, "urlconf", None)):
            return None
        return request.path + "/"
