"""Talking to the authorization server as the apps do: PKCE, the password grant, the consent page's form and
where it sends the browser back (tests/api/test_oauth*.py)."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlparse

from django.test import Client

from clinical.services.demo import DEMO_PASSWORD, DEMO_SPA_REDIRECT

TOKEN_URL = "/o/token/"


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def password_token(client, username, scope="clinical:read", client_id="demo-cli", password=DEMO_PASSWORD, **extra):
    return client.post(
        TOKEN_URL,
        {
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": client_id,
            "scope": scope,
        },
        **extra,
    )


def tokens_for(username, scope="clinical:read clinical:write"):
    """A fresh access and refresh token of the demo CLI's, by the password grant (the answer's JSON)."""
    response = password_token(Client(), username, scope=scope)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def password_sign_in(browser, email, challenge, *, scope="clinical:read clinical:write", state="s-123"):
    """The demo SPA's authorization request (PKCE), sent to the sign-in page, and the password; the answer to the
    password (a redirect to where the flow goes on)."""
    params = {
        "response_type": "code",
        "client_id": "demo-spa",
        "redirect_uri": DEMO_SPA_REDIRECT,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = browser.get("/o/authorize/", params)
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    login_page = browser.get(page["Location"])
    assert login_page.status_code == 200
    login = browser.post(
        "/accounts/login/", {"username": email, "password": DEMO_PASSWORD, "next": login_page.context["next"]}
    )
    assert login.status_code == 302, login.content[:300]
    return login


def allow(browser, consent):
    """Press "Allow" on the consent page (its form's hidden fields carry the request)."""
    form = consent.context["form"]
    hidden = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    return browser.post("/o/authorize/", {**hidden, "allow": "Authorize"})


def redirect_query(response):
    """The query parameters of the redirect back to the demo SPA."""
    assert response.status_code == 302, response.content[:300]
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == DEMO_SPA_REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(query, verifier):
    """Trade the code of an authorization redirect for tokens, as the demo SPA does (PKCE)."""
    return Client().post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": DEMO_SPA_REDIRECT,
            "client_id": "demo-spa",
            "code_verifier": verifier,
        },
    )
