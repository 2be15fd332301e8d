"""Request body limit: anything over API_MAX_BODY_BYTES answers 413 before a byte of it is read."""

from django.conf import settings

from .errors import ProblemResponse


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
        return self.get_response(request)
