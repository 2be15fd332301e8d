"""What a caller needs: a valid token, the scopes the operation declares, and a role it admits."""

from django.core.exceptions import ImproperlyConfigured
from oauth2_provider.contrib.rest_framework import TokenMatchesOASRequirements
from rest_framework.permissions import SAFE_METHODS, BasePermission


def handles(view, method: str) -> bool:
    """Whether the view has an operation for this method (else DRF answers 405 once the checks pass)."""
    if getattr(view, "action_map", None) is not None:  # a viewset: routed methods have an action
        return getattr(view, "action", None) is not None
    return hasattr(view, method.lower())


class TokenHasScopes(TokenMatchesOASRequirements):
    """Scopes declared per view: `read_scopes` for safe methods, `write_scopes` otherwise, and
    `action_scopes = {"action": [...]}` where one action needs something else.

    A declaration is a list of scopes that are all needed (`["clinical:write"]`), or a list of such
    lists, any one of which suffices (`[["admin"], ["clinical:read"]]`). drf-spectacular reads the same
    declaration for each operation's OpenAPI security requirement.
    """

    code = "insufficient_scope"

    @staticmethod
    def _alternatives(view, request) -> list[list[str]]:
        action = getattr(view, "action", None)
        action_scopes = getattr(view, "action_scopes", {})
        if action in action_scopes:
            declared = action_scopes[action]
        elif not handles(view, request.method):
            return [[]]  # a method the view does not handle: DRF answers 405 right after the permission checks
        else:
            attribute = "read_scopes" if request.method in SAFE_METHODS else "write_scopes"
            try:
                declared = getattr(view, attribute)
            except AttributeError:
                raise ImproperlyConfigured(f"{type(view).__name__} must declare {attribute}") from None
        if declared and isinstance(declared[0], (list, tuple)):
            return [list(group) for group in declared]
        return [list(declared)]

    def get_required_alternate_scopes(self, request, view):
        return {request.method.upper(): self._alternatives(view, request)}

    def has_permission(self, request, view):
        allowed = super().has_permission(request, view)
        if not allowed:
            alternatives = self._alternatives(view, request)
            wanted = " or ".join(" + ".join(group) for group in alternatives)
            self.message = {
                "detail": f"This operation needs a token with the scope {wanted}.",
                "required_scopes": alternatives,
            }
        return allowed


class RoleAllowed(BasePermission):
    """The caller's role must be one the view admits (`allowed_roles`, or `action_roles` per action)."""

    code = "role_not_allowed"
    message = "Your role may not use this operation."

    def has_permission(self, request, view):
        action = getattr(view, "action", None)
        roles = getattr(view, "action_roles", {}).get(action)
        if roles is None:
            try:
                roles = view.allowed_roles
            except AttributeError:
                raise ImproperlyConfigured(f"{type(view).__name__} must declare allowed_roles") from None
        return request.user.role in roles
