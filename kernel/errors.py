"""Exceptions the domain apps raise. The API maps each class to one HTTP status, once, in api/errors.py."""


class DomainError(Exception):
    """A rule of the practice refused the operation. `code` is stable; `detail` is for people."""

    code = "domain_error"

    def __init__(self, detail: str, *, code: str | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra


class NotFound(DomainError):
    """The object does not exist or is outside the caller's reach (never say which)."""

    code = "not_found"


class Conflict(DomainError):
    """The object's current state does not allow the operation (a signed note, a closed case)."""

    code = "conflict"


class StaleVersion(DomainError):
    """The caller changed an object on the strength of a version that is no longer current."""

    code = "stale_version"


class InvalidInput(DomainError):
    """Input that passed the HTTP layer's checks but breaks a domain rule; `errors` maps field → messages."""

    code = "invalid"

    def __init__(self, errors: dict[str, list[str]], *, detail: str = "The input is not valid.", **extra):
        super().__init__(detail, **extra)
        self.errors = errors


class NotAllowed(DomainError):
    """The caller may see the object but not do this to it (a supervisor editing a supervisee's case)."""

    code = "not_allowed"


class TooManyAttempts(DomainError):
    """Too many failed attempts in a row at a secret (a two-factor code): checks pause for `retry_after` seconds."""

    code = "throttled"

    def __init__(self, detail: str, *, retry_after: int, **extra):
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class RecordedRefusal(InvalidInput):
    """Input refused whose refusal is itself part of the record (an attempt to aim a webhook inside the network is
    audited). The service writes nothing but that record before raising it, so the request's transaction keeps it."""
