from .identity import STAFF_ROLES, OAuthApplication, Role, Supervision, User

__all__ = ["STAFF_ROLES", "OAuthApplication", "Role", "Supervision", "User"]
