"""Client app access: the clinician invites (a single-use token, valid 72 hours, stored hashed), the client
accepts with a new password and gets a login linked to their client record, then signs in."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as Browser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clinical.models import AuditEvent, Client, ClientInvitation, Role, User
from clinical.services import homework as homework_services
from clinical.services.demo import seed_demo
from tests.factories import CaseFactory, ClientFactory, UserFactory
from tests.helpers import READ_WRITE, error_fields, problem

ACCEPT = "/api/v1/invitations/accept/"
PASSWORD = "violet-kettle-morning-42"


def invite_url(client):
    return f"/api/v1/clients/{client.pk}/invite/"


def accept(anonymous, token, email="river@example.test", password=PASSWORD, **extra):
    return anonymous.post(ACCEPT, {"token": token, "email": email, "password": password}, format="json", **extra)


def state():
    """What a refused invite or accept must leave as it was."""
    return (
        sorted(User.objects.values_list("id", "email", "role")),
        sorted(Client.objects.values_list("id", "user_id", "version")),
        sorted(ClientInvitation.objects.values_list("id", "token_hash", "used_at", "revoked_at", "expires_at")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def person(clinician):
    """A client on `clinician`'s caseload, without an app login."""
    return ClientFactory(primary_clinician=clinician, given_name="River", preferred_name="Riv")


@pytest.fixture
def invited(api, person):
    """(response body, token) of the clinician's invitation of `person`."""
    response = api.post(invite_url(person))
    assert response.status_code == 201, response.content
    return response.json()


# ---------------------------------------------------------------- inviting


def test_the_clinician_invites_and_gets_a_token_valid_72_hours(api, person, clinician):
    before = timezone.now()

    response = api.post(invite_url(person))

    after = timezone.now()
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"client", "token", "expires_at"}
    assert body["client"] == str(person.pk)
    assert len(body["token"]) >= 32
    expires_at = parse_datetime(body["expires_at"])
    assert before + timedelta(hours=72) <= expires_at <= after + timedelta(hours=72)
    invitation = ClientInvitation.objects.get()
    assert (invitation.client_id, invitation.created_by_id, invitation.used_at, invitation.revoked_at) == (
        person.pk,
        clinician.pk,
        None,
        None,
    )
    assert invitation.expires_at == expires_at
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.actor_id, event.action, event.object_type, event.object_ids) == (
        clinician.pk,
        "invite",
        "client",
        [person.pk],
    )


def test_only_the_hash_of_the_token_is_stored(invited):
    token = invited["token"]

    assert ClientInvitation.objects.get().token_hash == hashlib.sha256(token.encode()).hexdigest()
    quote = connection.ops.quote_name
    holding = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT count(*) FROM {quote(table)} AS r WHERE strpos(r::text, %s) > 0", [token])
            if cursor.fetchone()[0]:
                holding.append(table)
    assert holding == []


def test_inviting_again_replaces_the_previous_invitation(api, person, invited, anonymous):
    again = api.post(invite_url(person))

    assert again.status_code == 201
    assert again.json()["token"] != invited["token"]
    old, new = ClientInvitation.objects.order_by("created_at")
    assert old.revoked_at is not None
    assert (new.revoked_at, new.used_at) == (None, None)
    before = state()

    refused = accept(anonymous, invited["token"])

    assert refused.status_code == 400
    assert error_fields(refused) == ["token"]
    assert state() == before
    assert accept(anonymous, again.json()["token"]).status_code == 201


def test_a_client_who_already_has_a_login_is_not_invited(api, person):
    person.user = UserFactory(role=Role.CLIENT)
    person.save(update_fields=["user"])
    before = state()

    response = api.post(invite_url(person))

    assert response.status_code == 409
    assert problem(response)["code"] == "client_has_login"
    assert state() == before


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("other_clinician", 404, "not_found"),
        ("supervisor", 403, "not_allowed"),
        ("admin", 403, "role_not_allowed"),
        ("a_client", 403, "role_not_allowed"),
        ("clinician_read_only_token", 403, "insufficient_scope"),
    ],
)
def test_only_the_clients_clinician_invites(who, status, code, call_as, person, clinician, supervisor, other_clinician):
    callers = {
        "other_clinician": lambda: call_as(other_clinician, READ_WRITE),
        "supervisor": lambda: call_as(supervisor, READ_WRITE),
        "admin": lambda: call_as(UserFactory(role=Role.ADMIN), ["admin", *READ_WRITE]),
        "a_client": lambda: call_as(UserFactory(role=Role.CLIENT), ["homework", *READ_WRITE]),
        "clinician_read_only_token": lambda: call_as(clinician, ["clinical:read"]),
    }
    api = callers[who]()
    before = state()

    response = api.post(invite_url(person))

    assert response.status_code == status, response.content
    assert problem(response)["code"] == code
    assert "token" not in response.json()
    assert state() == before


def test_the_clinician_of_a_case_invites_a_client_whose_primary_clinician_is_someone_else(
    call_as, other_clinician, clinician
):
    someone = ClientFactory(primary_clinician=other_clinician)
    CaseFactory(clinician=clinician, client=someone)

    response = call_as(clinician, READ_WRITE).post(invite_url(someone))

    assert response.status_code == 201, response.content


# ---------------------------------------------------------------- accepting


def test_accepting_creates_the_clients_login(anonymous, person, invited):
    response = accept(anonymous, invited["token"], email="River.Stone@Example.test")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "email": "river.stone@example.test",
        "role": "client",
        "display_name": "Riv",
    }
    user = User.objects.get(pk=body["id"])
    assert user.role == Role.CLIENT
    assert user.check_password(PASSWORD)
    person.refresh_from_db()
    assert person.user_id == user.pk
    invitation = ClientInvitation.objects.get()
    assert invitation.used_at is not None
    assert invitation.revoked_at is None
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.actor_id, event.action, event.object_type, event.object_ids) == (
        user.pk,
        "accept_invitation",
        "client",
        [person.pk],
    )


def test_a_used_token_is_refused(anonymous, invited):
    assert accept(anonymous, invited["token"]).status_code == 201
    before = state()

    again = accept(anonymous, invited["token"], email="someone.else@example.test")

    assert again.status_code == 400
    assert error_fields(again) == ["token"]
    assert state() == before


def test_an_expired_token_is_refused(anonymous, invited):
    ClientInvitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = state()

    response = accept(anonymous, invited["token"])

    assert response.status_code == 400
    assert error_fields(response) == ["token"]
    assert state() == before


def test_a_token_just_before_expiry_still_works(anonymous, invited):
    ClientInvitation.objects.update(expires_at=timezone.now() + timedelta(minutes=1))

    assert accept(anonymous, invited["token"]).status_code == 201


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 43])
def test_an_unknown_token_is_refused(anonymous, invited, token):
    before = state()

    response = accept(anonymous, token)

    assert response.status_code == 400
    assert error_fields(response) == ["token"]
    assert state() == before


def test_a_token_is_refused_once_the_client_got_a_login_another_way(anonymous, person, invited):
    person.user = UserFactory(role=Role.CLIENT)
    person.save(update_fields=["user"])
    before = state()

    response = accept(anonymous, invited["token"])

    assert response.status_code == 400
    assert error_fields(response) == ["token"]
    assert state() == before


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("short-1", id="too-short"),
        pytest.param("password1234", id="common"),
        pytest.param("736194028573", id="numeric"),
        pytest.param("river@example.test", id="like-the-email"),
    ],
)
def test_a_weak_password_is_refused_and_nothing_is_created(anonymous, invited, password):
    before = state()

    response = accept(anonymous, invited["token"], password=password)

    assert response.status_code == 400
    assert set(error_fields(response)) == {"password"}
    assert state() == before
    # The invitation is still good.
    assert accept(anonymous, invited["token"]).status_code == 201


@pytest.mark.parametrize("taken", ["taken@example.test", "Taken@Example.TEST"])
def test_an_email_already_in_use_is_refused(anonymous, invited, taken):
    UserFactory(email="taken@example.test", role=Role.CLINICIAN)
    before = state()

    response = accept(anonymous, invited["token"], email=taken)

    assert response.status_code == 400
    assert error_fields(response) == ["email"]
    assert state() == before
    assert accept(anonymous, invited["token"]).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": "abc", "password": PASSWORD},
        {"token": "abc", "email": "not-an-email", "password": PASSWORD},
    ],
)
def test_a_malformed_accept_is_400(anonymous, invited, body):
    before = state()

    response = anonymous.post(ACCEPT, body, format="json")

    assert response.status_code == 400
    assert problem(response)["code"] == "invalid"
    assert state() == before


# ---------------------------------------------------------------- then the app


def test_the_new_login_signs_in_and_reads_its_homework(anonymous, api, clinician, person, catalog):
    seed_demo()  # the first-party `demo-cli` application
    case = CaseFactory(clinician=clinician, client=person)
    assignment = homework_services.assignment_create(
        actor=clinician, case=case, exercise=catalog["i-statement-practice"], assignees=[person]
    )
    token = api.post(invite_url(person)).json()["token"]
    assert accept(anonymous, token, email="riv@example.test").status_code == 201

    browser = Browser()
    granted = browser.post(
        "/o/token/",
        {
            "grant_type": "password",
            "username": "riv@example.test",
            "password": PASSWORD,
            "client_id": "demo-cli",
            "scope": "homework",
        },
    )

    assert granted.status_code == 200, granted.content
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {granted.json()['access_token']}"}
    me = browser.get("/api/v1/me/", **bearer)
    assert (me.json()["email"], me.json()["role"]) == ("riv@example.test", "client")
    mine = browser.get("/api/v1/me/assignments/", **bearer)
    assert mine.status_code == 200, mine.content
    assert [row["id"] for row in mine.json()["results"]] == [str(assignment.pk)]
    # The old password does not exist, a wrong one is refused.
    wrong = browser.post(
        "/o/token/",
        {"grant_type": "password", "username": "riv@example.test", "password": "nope", "client_id": "demo-cli"},
    )
    assert wrong.status_code == 400


def test_accepting_is_throttled(anonymous, settings, invited):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "invitation_accept": "2/min"},
    }
    assert [accept(anonymous, f"guess-{i}").status_code for i in range(2)] == [400, 400]
    before = state()

    throttled = accept(anonymous, invited["token"])

    assert throttled.status_code == 429
    assert problem(throttled)["code"] == "throttled"
    assert int(throttled["Retry-After"]) >= 1
    assert state() == before  # even the right token waits
    # Another address is counted apart.
    assert accept(anonymous, invited["token"], REMOTE_ADDR="10.9.8.7").status_code == 201


def test_successful_accepts_count_towards_the_limit_too(anonymous, settings, api, clinician):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "invitation_accept": "2/min"},
    }
    tokens = [api.post(invite_url(ClientFactory(primary_clinician=clinician))).json()["token"] for _ in range(3)]

    statuses = [accept(anonymous, token, email=f"person{i}@app.test").status_code for i, token in enumerate(tokens)]

    assert statuses == [201, 201, 429]
    assert not User.objects.filter(email="person2@app.test").exists()
