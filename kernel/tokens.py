"""Bearer secrets handed to a person once (an invitation, a calendar feed's URL) or received from a device (a push
token): only their SHA-256 digest is stored and looked up, so a copy of the database opens nothing."""

import hashlib
import secrets


def new_token() -> str:
    """256 random bits, URL-safe (43 characters): unguessable, and fit for a path or a query string."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The hex SHA-256 of a token: what is stored, and what a token presented later is looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()
