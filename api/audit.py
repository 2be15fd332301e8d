"""Request context for the audit trail and row history, and the audited read path of clinical viewsets."""

import ipaddress
import re
import uuid

import pghistory
from pghistory.middleware import HistoryMiddleware

from kernel.audit import RequestContext, audit_append, request_context

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` if well formed, else a new one), echoes it in
    the response, and makes id, address and user agent available to the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        context = RequestContext(
            request_id=request.request_id,
            ip_address=_ip_address(request.META.get("REMOTE_ADDR")),
            user_agent=request.headers.get("User-Agent", "")[:300],
        )
        with request_context(context):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def _ip_address(value: str | None) -> str | None:
    """The client address as the server saw it, or None when that is not an IP address (a unix socket, a proxy
    that wrote something else): an odd address must never make a clinical read fail."""
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


class RowHistoryMiddleware(HistoryMiddleware):
    """Row-history context for each change (django-pghistory): user (once DRF authenticates), URL, request id."""

    def get_context(self, request):
        return {**super().get_context(request), "request_id": getattr(request, "request_id", "")}


def audit_read(request, object_type: str, object_ids, *, detail=None) -> None:
    """Record that the caller read these records (a list read records every id it returned). Used by the one
    viewset base (api/viewsets.py), and nowhere else."""
    audit_append(actor=request.user, action="read", object_type=object_type, object_ids=object_ids, detail=detail)


__all__ = ["RequestContextMiddleware", "RowHistoryMiddleware", "audit_read", "pghistory"]
