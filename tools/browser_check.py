"""`make browser-check`: the demo SPA's sign-in (authorization code + PKCE) for the demo's enrolled clinician, in a
real headless browser.

Prepares the demo practice as `make run` does (run it through `python -m tools.devdb exec --`), serves it with
gunicorn, and drives Debian's chromium through Playwright as a person would: the SPA's authorization request, the
sign-in page with Jordan Lee's e-mail and password, then the code page. A wrong code first: the page says so and the
browser is not sent back to the SPA; then the code computed from the enrolment secret (pyotp, as the README shows):
the consent page, Allow, and the SPA's redirect URI with the authorization code, which is exchanged for a token
(PKCE) that reads `me/`. The redirect URI (http://127.0.0.1:8765/callback) is answered inside the browser, so nothing
needs to listen there. Screenshots of each step go to .data/browser-check/ (look at them). `make test` covers the same
flow without a browser (tests/api/test_mfa.py); this needs chromium from apt-get, as `make docs-check` does.
"""

import json
import os
import sys
import time
import urllib.parse
import urllib.request

from tools.docs_check import CHROMIUM, serving_in_chromium, verdict
from tools.serve import ROOT

OUT = ROOT / ".data" / "browser-check"
STEP_SECONDS = 15.0


def prepare_practice() -> dict:
    """Migrate and seed the demo practice (as `make run` does); what the check needs of it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("load_exercises")
    call_command("load_instruments")
    call_command("seed_demo")  # also resets the enrolled clinician's app: no code used yet, no back-off
    from django.core.cache import cache
    from django.db import connections

    from clinical.services.demo import DEMO_MFA_ACCOUNT, DEMO_PASSWORD, DEMO_SPA_REDIRECT, DEMO_TOTP_SECRET

    cache.clear()  # the throttles' counts of an earlier run
    connections.close_all()
    return {
        "email": DEMO_MFA_ACCOUNT,
        "password": DEMO_PASSWORD,
        "redirect_uri": DEMO_SPA_REDIRECT,
        "secret": DEMO_TOTP_SECRET,
    }


def pkce_pair() -> tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def post_form(url: str, fields: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (our own http://127.0.0.1 server)
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.load(answer)


def sign_in(browser, base: str, demo: dict) -> list[str]:
    """Walk the sign-in as a person would; the problems found (empty: fine). Prints each step."""
    import pyotp

    problems: list[str] = []
    verifier, challenge = pkce_pair()
    state = "browser-check"
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "demo-spa",
            "redirect_uri": demo["redirect_uri"],
            "scope": "clinical:read clinical:write",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    callbacks: list[str] = []
    context = browser.new_context(viewport={"width": 900, "height": 900})
    # The SPA's redirect URI, answered in the browser: every arrival there is recorded.
    context.route(
        demo["redirect_uri"] + "**",
        lambda route: (
            callbacks.append(route.request.url),
            route.fulfill(status=200, content_type="text/html", body="<h1>The SPA got its code</h1>"),
        ),
    )
    page = context.new_page()
    page.set_default_timeout(STEP_SECONDS * 1000)

    def shot(name: str) -> None:
        page.screenshot(path=str(OUT / f"{name}.png"))

    page.goto(f"{base}/o/authorize/?{query}")
    page.wait_for_selector("#id_username")
    print(f"1. the SPA's authorization request: the sign-in page ({urllib.parse.urlsplit(page.url).path})")
    shot("1-sign-in")
    page.fill("#id_username", demo["email"])
    page.fill("#id_password", demo["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#id_code")
    path = urllib.parse.urlsplit(page.url).path
    print(f"2. after the password: {page.locator('h1').inner_text()!r} at {path}")
    shot("2-code-asked")
    if path != "/accounts/mfa/":
        problems.append(f"after the password the browser is at {path}, not the code page")

    totp = pyotp.TOTP(demo["secret"])
    right = totp.now()
    page.fill("#id_code", f"{(int(right) + 500_000) % 1_000_000:06d}")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    message = page.locator("[role=alert]").inner_text()
    print(f"3. a wrong code: {message!r}; redirects to the SPA so far: {len(callbacks)}")
    shot("3-wrong-code")
    if callbacks or urllib.parse.urlsplit(page.url).path != "/accounts/mfa/":
        problems.append(f"a wrong code went on: {page.url}, SPA reached {len(callbacks)} times")
    if "not right" not in message:
        problems.append(f"a wrong code said {message!r}")

    time.sleep(2.5)  # django-otp's back-off after a wrong code (1 s), with room to spare
    page.fill("#id_code", totp.now())
    page.click("button[type=submit]")
    page.wait_for_selector("button[name=allow]")
    print(f"4. the right code: {page.locator('h1').inner_text()!r}")
    shot("4-consent")
    page.click("button[name=allow]")
    deadline = time.monotonic() + STEP_SECONDS
    while not callbacks and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    shot("5-back-at-the-spa")
    context.close()
    if len(callbacks) != 1:
        return [*problems, f"after Allow the SPA was reached {len(callbacks)} times"]
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callbacks[0]).query))
    print(f"5. back at the SPA with an authorization code (state {answer.get('state')!r})")
    if answer.get("state") != state or "code" not in answer:
        return [*problems, f"the SPA got {answer}"]

    status, tokens = post_form(
        f"{base}/o/token/",
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": demo["redirect_uri"],
            "client_id": "demo-spa",
            "code_verifier": verifier,
        },
    )
    if status != 200:
        return [*problems, f"the code exchange answered {status}: {tokens}"]
    me = get_json(f"{base}/api/v1/me/", tokens["access_token"])
    print(f"6. the code exchanged (PKCE) for a token of {me['email']} ({tokens['scope']})")
    if me["email"] != demo["email"]:
        problems.append(f"the token is {me['email']}'s")
    return problems


def main() -> int:
    if not os.path.exists(CHROMIUM):
        print(f"no chromium at {CHROMIUM}: apt-get install chromium (make browser-check does)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    demo = prepare_practice()
    with serving_in_chromium(OUT) as (browser, base):
        problems = sign_in(browser, base, demo)
    print(f"screenshots in {OUT.relative_to(ROOT)}/")
    return verdict("browser check", problems)


if __name__ == "__main__":
    sys.exit(main())
