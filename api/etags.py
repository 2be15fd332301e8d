"""ETags from the integer `version` column, and the If-Match precondition for changes.

Responses that carry one object carry its ETag. A PATCH must send `If-Match` with the ETag it last
saw: missing → 428, stale → 412 (raised by the service that compares versions under a row lock),
and in both cases nothing changes. `If-Match: *` means "whatever is current".
"""

import re

from rest_framework import status
from rest_framework.exceptions import APIException

from kernel.errors import StaleVersion

ETAG_RE = re.compile(r'^(?:W/)?"(\d+)"$')


class PreconditionRequired(APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "This change needs an If-Match header with the ETag from your last read of the resource."
    default_code = "precondition_required"


def etag_for(obj) -> str:
    """The ETag of a model object or of a plain row (`.values()`)."""
    return f'"{obj["version"] if isinstance(obj, dict) else obj.version}"'


def with_etag(response, obj):
    response["ETag"] = etag_for(obj)
    return response


def expected_version(request, *, required: bool = True) -> int | None:
    """The version an If-Match header asks for; None for `*` (or when absent and not required). An ETag we
    never issued can never match."""
    header = request.headers.get("If-Match")
    if header is None:
        if not required:
            return None
        raise PreconditionRequired()
    header = header.strip()
    if header == "*":
        return None
    match = ETAG_RE.match(header)
    if match is None or header.startswith("W/"):  # weak ETags never match If-Match (RFC 9110 §13.1.1)
        raise StaleVersion("If-Match does not name a current ETag of this resource.")
    return int(match.group(1))
