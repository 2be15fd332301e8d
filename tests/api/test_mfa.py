"""Two-factor sign-in for staff (docs/security.md, "Two-factor sign-in"): enrolment through me/mfa/, recovery codes,
removal, the admin's reset, and the sign-in that asks for the code before an authorization code is issued; the
password grant refused; codes throttled. Codes are computed by pyotp, a TOTP implementation that is not django-otp's.
"""

import base64
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinical.models import AuditEvent, RecoveryCode, RecoveryCodeSet
from clinical.services.demo import DEMO_SPA_REDIRECT, DEMO_TOTP_SECRET
from clinical.services.mfa import mfa_recovery_codes_regenerate
from tests.api.oauth import allow, bearer, exchange, password_sign_in, password_token, pkce_pair, redirect_query
from tests.factories import PASSWORD, ApplicationFactory
from tests.helpers import assert_problem

MFA = "/api/v1/me/mfa/"
JORDAN = "clinician2@demo.test"  # the demo's enrolled clinician


@pytest.fixture
def no_backoff(settings):
    """django-otp's back-off off (a wrong code locks the device for 1 s, 2 s, ...): for tests that send a wrong
    code and then the right one at once. The back-off has its own tests below."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.fixture
def rates(settings):
    def set_rates(*, user="1000/min", ip="1000/min"):
        rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "mfa_user": user, "mfa_ip": ip}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rates


@pytest.fixture
def password_grant(db):
    """`password_grant(user)`: the password grant of a first-party app for this user (the demo CLI's, outside the
    demo practice): its status."""
    ApplicationFactory(
        client_id="mfa-cli", authorization_grant_type="password", first_party=True, redirect_uris="", client_secret=""
    )

    def grant(user) -> int:
        answer = password_token(Client(), user.email, password=PASSWORD, client_id="mfa-cli")
        assert answer.status_code == 200 or answer.json()["error"] == "invalid_grant", answer.content
        return answer.status_code

    return grant


def wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def enrol(api) -> pyotp.TOTP:
    """Start and confirm an enrolment through the API; the app's TOTP, with the recovery codes as `.codes`."""
    started = api.post(MFA, format="json")
    assert started.status_code == 201, started.content
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = api.post(f"{MFA}confirm/", {"code": totp.now()}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    totp.codes = confirmed.json()["recovery_codes"]
    cache.clear()  # the throttles' counts of the enrolment: each test counts its own requests
    return totp


def status_of(api) -> dict:
    answer = api.get(MFA)
    assert answer.status_code == 200, answer.content
    return answer.json()


def mfa_audit(user) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="mfa", object_ids__contains=[user.pk])
        .order_by("id")  # the chain's order: a heap scan's order is not the insertion order
        .values_list("action", flat=True)
    )


# ---------------------------------------------------------------- enrolment through the API


def test_enrolment_shows_the_secret_once_and_takes_effect_only_with_its_first_code(
    api, clinician, no_backoff, password_grant
):
    assert status_of(api) == {"enrolled": False, "confirmed": False, "required": False, "recovery_codes_left": 0}

    started = api.post(MFA, format="json")

    assert started.status_code == 201, started.content
    body = started.json()
    assert set(body) == {"otpauth_uri", "secret", "qr_code"}
    uri = urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["Couples care"]
    assert unquote(uri.path) == f"/Couples care:{clinician.email}"
    assert body["qr_code"].startswith("data:image/png;base64,")
    assert base64.b64decode(body["qr_code"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert status_of(api)["enrolled"] is True
    assert status_of(api)["confirmed"] is False
    # Not confirmed yet: the password grant still works, and the sign-in asks nothing more.
    assert password_grant(clinician) == 200

    totp = pyotp.TOTP(body["secret"])
    refused = api.post(f"{MFA}confirm/", {"code": wrong(totp.now())}, format="json")
    assert_problem(refused, 400, "mfa_code_invalid")
    assert status_of(api)["confirmed"] is False

    confirmed = api.post(f"{MFA}confirm/", {"code": totp.now()}, format="json")

    assert confirmed.status_code == 200, confirmed.content
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code) for code in codes)
    assert confirmed.json()["confirmed"] is True
    assert status_of(api) == {"enrolled": True, "confirmed": True, "required": False, "recovery_codes_left": 10}
    # Only digests are stored, and nothing of the secret or the codes is in the audit trail.
    stored = " ".join(RecoveryCode.objects.values_list("digest", flat=True))
    assert not any(code.replace("-", "") in stored or code in stored for code in codes)
    trail = str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert body["secret"] not in trail
    assert body["secret"].lower() not in trail
    assert not any(code in trail for code in codes)
    assert mfa_audit(clinician) == ["enrol", "refuse_code", "confirm"]
    # Confirmed: a password alone gets no token any more.
    assert password_grant(clinician) == 400  # invalid_grant, as for a wrong password


def test_starting_again_replaces_an_unconfirmed_enrolment_and_is_refused_once_confirmed(api, no_backoff):
    first = pyotp.TOTP(api.post(MFA, format="json").json()["secret"])
    second = pyotp.TOTP(api.post(MFA, format="json").json()["secret"])
    assert first.secret != second.secret

    assert_problem(api.post(f"{MFA}confirm/", {"code": first.now()}, format="json"), 400, "mfa_code_invalid")
    assert api.post(f"{MFA}confirm/", {"code": second.now()}, format="json").status_code == 200

    assert_problem(api.post(MFA, format="json"), 409, "mfa_already_enrolled")
    assert TOTPDevice.objects.filter(user=api.user).count() == 1


def test_confirming_needs_an_enrolment_and_changing_needs_a_confirmed_one(api):
    assert_problem(api.post(f"{MFA}confirm/", {"code": "123456"}, format="json"), 409, "mfa_not_pending")
    assert_problem(api.post(f"{MFA}recovery-codes/", {"code": "123456"}, format="json"), 409, "mfa_not_enrolled")
    assert_problem(api.post(f"{MFA}remove/", {"code": "123456"}, format="json"), 409, "mfa_not_enrolled")
    assert_problem(api.post(f"{MFA}confirm/", {}, format="json"), 400)
    assert_problem(api.post(f"{MFA}confirm/", {"code": 123456}, format="json"), 400)  # JSON's types: a string
    assert not TOTPDevice.objects.filter(user=api.user).exists()


def test_recovery_codes_are_single_use_and_new_ones_end_the_old_ones(api, no_backoff):
    totp = enrol(api)
    first, second, *_ = totp.codes

    renewed = api.post(f"{MFA}recovery-codes/", {"code": first.upper().replace("-", " ")}, format="json")

    assert renewed.status_code == 200, renewed.content
    fresh = renewed.json()["recovery_codes"]
    assert len(fresh) == 10
    assert not set(fresh) & set(totp.codes)
    assert renewed.json()["recovery_codes_left"] == 10
    # The old codes are gone, the one just used included.
    for old in (first, second):
        assert_problem(api.post(f"{MFA}recovery-codes/", {"code": old}, format="json"), 400, "mfa_code_invalid")
    assert status_of(api)["recovery_codes_left"] == 10
    assert mfa_audit(api.user)[-3:] == ["regenerate_recovery_codes", "refuse_code", "refuse_code"]


def test_removing_needs_a_current_code(api, no_backoff, password_grant):
    totp = enrol(api)

    assert_problem(api.post(f"{MFA}remove/", {"code": wrong(totp.now())}, format="json"), 400, "mfa_code_invalid")
    assert status_of(api)["confirmed"] is True

    removed = api.post(f"{MFA}remove/", {"code": totp.codes[3]}, format="json")

    assert removed.status_code == 200, removed.content
    assert removed.json() == {"enrolled": False, "confirmed": False, "required": False, "recovery_codes_left": 0}
    assert status_of(api) == {"enrolled": False, "confirmed": False, "required": False, "recovery_codes_left": 0}
    assert not RecoveryCodeSet.objects.filter(user=api.user).exists()
    assert password_grant(api.user) == 200
    assert mfa_audit(api.user)[-2:] == ["refuse_code", "remove"]


def test_the_practice_requirement_keeps_the_second_factor(api, settings, no_backoff):
    totp = enrol(api)
    spent = TOTPDevice.objects.get(user=api.user).last_t
    settings.MFA_REQUIRED_FOR_STAFF = True

    assert status_of(api)["required"] is True
    assert_problem(api.post(f"{MFA}remove/", {"code": totp.now()}, format="json"), 409, "mfa_required")
    assert status_of(api)["confirmed"] is True
    assert_problem(api.post(f"{MFA}remove/", {"code": totp.codes[0]}, format="json"), 409, "mfa_required")
    assert TOTPDevice.objects.get(user=api.user).last_t == spent  # no code was even checked
    assert status_of(api)["recovery_codes_left"] == 10


def test_the_admin_resets_a_staff_members_second_factor(api, admin_api, clinician, no_backoff, password_grant):
    enrol(api)
    staff = admin_api.get(f"/api/v1/staff/{clinician.pk}/")
    assert staff.json()["mfa_enabled"] is True

    reset = admin_api.post(f"/api/v1/staff/{clinician.pk}/mfa-reset/", format="json")

    assert reset.status_code == 200, reset.content
    assert reset.json()["mfa_enabled"] is False
    assert status_of(api)["enrolled"] is False
    assert not RecoveryCode.objects.filter(device__user=clinician).exists()
    event = AuditEvent.objects.filter(object_type="mfa", action="reset").get()
    assert (event.actor_id, event.object_ids) == (admin_api.user.pk, [clinician.pk])
    # Nothing left to take: the same answer, no change, no second event.
    again = admin_api.post(f"/api/v1/staff/{clinician.pk}/mfa-reset/", format="json")
    assert again.status_code == 200
    assert AuditEvent.objects.filter(object_type="mfa", action="reset").count() == 1

    assert password_grant(clinician) == 200


def test_the_server_operator_resets_any_account_with_a_command(admin_user, call_as, no_backoff):
    enrol(call_as(admin_user, ["admin"]))

    call_command("mfa_reset", "ADMIN@example.test", stdout=io.StringIO())

    assert not TOTPDevice.objects.filter(user=admin_user).exists()
    assert not RecoveryCodeSet.objects.filter(user=admin_user).exists()
    event = AuditEvent.objects.filter(object_type="mfa", action="reset").get()
    assert (event.actor_id, event.object_ids, event.detail) == (None, [admin_user.pk], {"via": "manage.py mfa_reset"})
    with pytest.raises(CommandError):
        call_command("mfa_reset", "nobody@example.test")


# ---------------------------------------------------------------- throttling


def test_codes_are_throttled_per_account_from_whatever_address(api, rates, no_backoff):
    totp = enrol(api)
    rates(user="2/min")
    for address in ("10.0.0.1", "10.0.0.2"):
        answer = api.post(f"{MFA}remove/", {"code": wrong(totp.now())}, format="json", REMOTE_ADDR=address)
        assert_problem(answer, 400, "mfa_code_invalid")

    throttled = api.post(f"{MFA}remove/", {"code": totp.now()}, format="json", REMOTE_ADDR="10.0.0.3")

    assert_problem(throttled, 429, "throttled")
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert status_of(api)["confirmed"] is True


def test_codes_are_throttled_per_address_whichever_account(api, other_api, rates, no_backoff):
    rates(ip="2/min")
    for caller in (api, other_api):
        assert_problem(caller.post(f"{MFA}confirm/", {"code": "123456"}, format="json"), 409, "mfa_not_pending")

    assert_problem(api.post(f"{MFA}confirm/", {"code": "123456"}, format="json", REMOTE_ADDR="10.9.9.9"), 409)
    assert_problem(other_api.post(f"{MFA}confirm/", {"code": "123456"}, format="json"), 429, "throttled")


def test_a_wrong_code_backs_off_the_device_even_for_the_right_code(api, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    totp = enrol(api)
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    assert_problem(api.post(f"{MFA}remove/", {"code": wrong(totp.now())}, format="json"), 400, "mfa_code_invalid")
    device = TOTPDevice.objects.get(user=api.user)
    assert device.throttling_failure_count == 1  # kept although the request was refused

    locked = api.post(f"{MFA}remove/", {"code": totp.now()}, format="json")

    assert_problem(locked, 429, "throttled")
    assert int(locked["Retry-After"]) == 1
    assert status_of(api)["confirmed"] is True
    # Once the back-off has passed (its failure a few seconds ago), the right code works.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(seconds=5))
    assert api.post(f"{MFA}remove/", {"code": totp.codes[0]}, format="json").status_code == 200


# ---------------------------------------------------------------- signing in: authorization code + PKCE


def start_sign_in(browser, email, challenge):
    """The SPA's authorization request, the sign-in page and the password; where the browser is sent next."""
    authorize = browser.get(password_sign_in(browser, email, challenge, state="mfa-1")["Location"])
    assert authorize.status_code == 302
    return authorize["Location"]


def send_code(browser, step_url, code, **extra):
    page = browser.get(step_url)
    assert page.status_code == 200
    return browser.post(page.request["PATH_INFO"], {"code": code, "next": page.context["next"]}, **extra)


def consent_and_token(browser, after_code, verifier):
    """From the answer to the code (a redirect to the consent page, or that page): allow, exchange, the tokens."""
    consent = browser.get(after_code["Location"]) if after_code.status_code == 302 else after_code
    assert consent.status_code == 200
    assert b"Allow Demo single-page app?" in consent.content
    query = redirect_query(allow(browser, consent))
    tokens = exchange(query, verifier)
    assert tokens.status_code == 200, tokens.content
    return tokens.json()


def test_the_enrolled_clinician_signs_in_with_the_apps_code(demo, no_backoff):
    browser = Client()
    verifier, challenge = pkce_pair()
    step = start_sign_in(browser, JORDAN, challenge)
    assert urlparse(step).path == "/accounts/mfa/"
    assert parse_qs(urlparse(step).query)["next"][0].startswith("/o/authorize/?")
    # Before the code, the consent page (and so an authorization code) is out of reach.
    assert browser.get(parse_qs(urlparse(step).query)["next"][0])["Location"].startswith("/accounts/mfa/")

    totp = pyotp.TOTP(DEMO_TOTP_SECRET)
    refused = send_code(browser, step, wrong(totp.now()))
    assert refused.status_code == 200
    assert b"That code is not right" in refused.content
    assert "Location" not in refused

    tokens = consent_and_token(browser, send_code(browser, step, totp.now()), verifier)

    me = Client().get("/api/v1/me/", **bearer(tokens["access_token"]))
    assert me.json()["email"] == JORDAN
    assert mfa_audit(demo["clinician2"]) == ["refuse_code"]


def test_a_code_signs_in_once(demo, no_backoff):
    code = pyotp.TOTP(DEMO_TOTP_SECRET).now()
    first, second = Client(), Client()
    verifier, challenge = pkce_pair()
    consent_and_token(first, send_code(first, start_sign_in(first, JORDAN, challenge), code), verifier)

    replayed = send_code(second, start_sign_in(second, JORDAN, pkce_pair()[1]), code)

    assert replayed.status_code == 200
    assert b"That code is not right" in replayed.content


def test_a_recovery_code_signs_in_once(demo, no_backoff):
    jordan = demo["clinician2"]
    codes = mfa_recovery_codes_regenerate(actor=jordan, code=pyotp.TOTP(DEMO_TOTP_SECRET).now())
    verifier, challenge = pkce_pair()
    browser = Client()

    consent_and_token(browser, send_code(browser, start_sign_in(browser, JORDAN, challenge), codes[0]), verifier)

    again = Client()
    replayed = send_code(again, start_sign_in(again, JORDAN, pkce_pair()[1]), codes[0])
    assert replayed.status_code == 200
    assert b"That code is not right" in replayed.content
    used = AuditEvent.objects.filter(object_type="mfa", action="use_recovery_code").get()
    assert used.detail == {"recovery_codes_left": 9}


def test_the_password_grant_is_refused_for_an_account_with_a_second_factor(demo):
    refused = password_token(Client(), JORDAN)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert password_token(Client(), "clinician@demo.test").status_code == 200


def test_under_the_requirement_a_staff_member_without_a_second_factor_enrols_while_signing_in(
    demo, settings, no_backoff
):
    settings.MFA_REQUIRED_FOR_STAFF = True
    # Nobody on staff gets a token with a password alone now; clients are not concerned.
    assert password_token(Client(), "clinician@demo.test").json()["error"] == "invalid_grant"
    assert password_token(Client(), "admin@demo.test", scope="admin").json()["error"] == "invalid_grant"
    assert password_token(Client(), "alex@demo.test", scope="homework").status_code == 200
    browser = Client()
    verifier, challenge = pkce_pair()
    step = start_sign_in(browser, "clinician@demo.test", challenge)
    assert urlparse(step).path == "/accounts/mfa/enrol/"

    page = browser.get(step)
    assert page.status_code == 200
    secret = page.context["secret"]
    assert page.context["qr_code"].startswith("data:image/png;base64,")
    assert f'src="{page.context["qr_code"]}"'.encode() in page.content
    assert browser.get(step).context["secret"] == secret  # the same enrolment until it is confirmed
    totp = pyotp.TOTP(secret)
    refused = browser.post("/accounts/mfa/enrol/", {"code": wrong(totp.now()), "next": page.context["next"]})
    assert refused.status_code == 200
    assert b"That code is not right" in refused.content
    assert not TOTPDevice.objects.filter(user=demo["clinician"], confirmed=True).exists()

    done = browser.post("/accounts/mfa/enrol/", {"code": totp.now(), "next": page.context["next"]})

    assert done.status_code == 200
    codes = done.context["recovery_codes"]
    assert len(codes) == 10
    assert all(code.encode() in done.content for code in codes)
    continued = browser.get(page.context["next"])
    tokens = consent_and_token(browser, continued, verifier)
    assert Client().get("/api/v1/me/", **bearer(tokens["access_token"])).json()["email"] == "clinician@demo.test"


def test_a_client_signs_in_without_a_second_factor_whatever_the_requirement(demo, settings):
    settings.MFA_REQUIRED_FOR_STAFF = True
    browser = Client()
    params = {
        "response_type": "code",
        "client_id": "demo-spa",
        "redirect_uri": DEMO_SPA_REDIRECT,
        "scope": "homework",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    browser.force_login(demo["alex"])
    consent = browser.get("/o/authorize/", params)
    assert consent.status_code == 200
    assert b"Allow Demo single-page app?" in consent.content


def test_the_code_page_is_throttled_and_backs_off(demo, rates, settings):
    rates(user="2/min")
    browser = Client()
    step = start_sign_in(browser, JORDAN, pkce_pair()[1])
    totp = pyotp.TOTP(DEMO_TOTP_SECRET)
    settings.OTP_TOTP_THROTTLE_FACTOR = 1

    assert b"That code is not right" in send_code(browser, step, wrong(totp.now())).content
    backed_off = send_code(browser, step, totp.now())
    assert backed_off.status_code == 429
    assert backed_off["Retry-After"] == "1"
    assert b"Too many attempts" in backed_off.content

    throttled = send_code(browser, step, totp.now(), REMOTE_ADDR="10.1.1.1")  # the account's third attempt
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 61
    assert TOTPDevice.objects.get(user=demo["clinician2"]).last_t == -1  # no code was taken


def test_the_sign_in_steps_go_only_to_this_server(demo, no_backoff):
    browser = Client()
    start_sign_in(browser, JORDAN, pkce_pair()[1])
    answer = browser.post(
        "/accounts/mfa/", {"code": pyotp.TOTP(DEMO_TOTP_SECRET).now(), "next": "https://evil.example/"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/api/docs/"
    # Signed out, the code page sends to the sign-in page.
    assert Client().get("/accounts/mfa/")["Location"].startswith("/accounts/login/")
