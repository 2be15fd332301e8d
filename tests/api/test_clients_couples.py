"""Clients and couples through HTTP: caseload scoping, If-Match, validation, the one-active-couple rule."""

import uuid

import pytest
import yaml
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import IdempotencyRecord
from clinical.models import AuditEvent, Client, Couple, CoupleMember, Role, SubjectType, Supervision
from tests.factories import CaseFactory, ClientFactory, CoupleFactory, UserFactory
from tools import schema

CLIENTS = "/api/v1/clients/"
COUPLES = "/api/v1/couples/"


def client_url(client):
    return f"{CLIENTS}{client.pk}/"


def couple_url(couple):
    return f"{COUPLES}{couple.pk}/"


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def client_row(client) -> dict:
    return Client.objects.filter(pk=client.pk).values().get()


def couple_rows(couple) -> tuple[dict, list[dict]]:
    return (
        Couple.objects.filter(pk=couple.pk).values().get(),
        list(CoupleMember.objects.filter(couple=couple).order_by("position").values()),
    )


def membership_rows() -> list[dict]:
    return list(CoupleMember.objects.order_by("id").values())


def couple_case(*, clinician, partners_of):
    """A couple case held by `clinician` whose two partners have `partners_of` as primary clinician."""
    couple = CoupleFactory(partners__clinician=partners_of)
    CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, client=None, couple=couple)
    return couple


def pair(api, *partners, relationship_type="partnered", **extra):
    return api.post(
        COUPLES,
        {"partners": [str(p.pk) for p in partners], "relationship_type": relationship_type, **extra},
    )


# ================================================================= clients: create


def test_clinician_creates_a_client_on_their_own_caseload(api, clinician, other_clinician, client_user):
    forged_id = str(uuid.uuid4())
    response = api.post(
        CLIENTS,
        {
            "given_name": "Alex",
            "family_name": "Rivera",
            "preferred_name": "Lex",
            "pronouns": "he/him",
            "date_of_birth": "1988-04-02",
            "email": "alex@example.test",
            "phone": "+44 20 7946 0000",
            # server-owned: ignored
            "id": forged_id,
            "primary_clinician": str(other_clinician.pk),
            "user": str(client_user.pk),
            "version": 42,
            "created_at": "2000-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 201, response.json()
    assert response["ETag"] == '"1"'
    body = response.json()
    client = Client.objects.get()
    assert body == {
        "id": str(client.pk),
        "given_name": "Alex",
        "family_name": "Rivera",
        "preferred_name": "Lex",
        "pronouns": "he/him",
        "date_of_birth": "1988-04-02",
        "email": "alex@example.test",
        "phone": "+44 20 7946 0000",
        "status": "active",
        "primary_clinician": str(clinician.pk),
        "user": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "version": 1,
    }
    assert body["id"] != forged_id
    assert not body["created_at"].startswith("2000")
    assert client.primary_clinician == clinician
    assert client.user is None
    assert client.version == 1
    event = AuditEvent.objects.get(action="create")
    assert (event.actor, event.object_type, event.object_ids) == (clinician, "client", [client.pk])


def test_supervisor_creates_a_client_on_their_own_caseload(supervisor_api, supervisor):
    response = supervisor_api.post(CLIENTS, {"given_name": "Sam", "family_name": "Okafor"})

    assert response.status_code == 201, response.json()
    assert response.json()["primary_clinician"] == str(supervisor.pk)
    assert Client.objects.get().primary_clinician == supervisor


def test_create_needs_the_names(api):
    response = api.post(CLIENTS, {"preferred_name": "Nobody"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid"
    assert {e["field"] for e in response.json()["errors"]} == {"given_name", "family_name"}
    assert not Client.objects.exists()


def test_create_with_invalid_fields_lists_each_and_creates_nothing(api):
    response = api.post(
        CLIENTS,
        {
            "given_name": "Alex",
            "family_name": "Rivera",
            "email": "not-an-email",
            "date_of_birth": "31/12/1990",
            "status": "deceased",
        },
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert {e["field"] for e in response.json()["errors"]} == {"email", "date_of_birth", "status"}
    assert not Client.objects.exists()
    assert not AuditEvent.objects.filter(action="create").exists()


def test_create_needs_the_write_scope(call_as, clinician):
    response = call_as(clinician, ["clinical:read"]).post(CLIENTS, {"given_name": "A", "family_name": "B"})

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert not Client.objects.exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLIENT])
def test_admin_and_client_roles_cannot_create_clients(call_as, role):
    user = UserFactory(role=role)
    response = call_as(user).post(CLIENTS, {"given_name": "A", "family_name": "B"})

    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"
    assert not Client.objects.exists()


# ================================================================= clients: idempotency


def test_idempotency_key_replays_the_created_client_and_creates_one_row(api):
    key = str(uuid.uuid4())
    payload = {"given_name": "Robin", "family_name": "Hale"}

    first = api.post(CLIENTS, payload, HTTP_IDEMPOTENCY_KEY=key)
    second = api.post(CLIENTS, payload, HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["ETag"] == first["ETag"] == '"1"'
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert list(Client.objects.values_list("pk", flat=True)) == [uuid.UUID(first.json()["id"])]
    assert AuditEvent.objects.filter(action="create", object_type="client").count() == 1
    assert IdempotencyRecord.objects.filter(key=key).count() == 1


def test_idempotency_key_with_another_body_is_422_and_creates_nothing_more(api):
    key = str(uuid.uuid4())
    api.post(CLIENTS, {"given_name": "Robin", "family_name": "Hale"}, HTTP_IDEMPOTENCY_KEY=key)

    response = api.post(CLIENTS, {"given_name": "Other", "family_name": "Person"}, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(Client.objects.values_list("given_name", flat=True)) == ["Robin"]


def test_without_a_key_each_post_creates_a_client(api):
    payload = {"given_name": "Robin", "family_name": "Hale"}
    first = api.post(CLIENTS, payload)
    second = api.post(CLIENTS, payload)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert Client.objects.count() == 2


# ================================================================= clients: who sees what


@pytest.fixture
def caseload(clinician, other_clinician):
    """The clinician's caseload: an own client, a client on one of their individual cases, and the two
    partners of a couple on one of their couple cases (those three have another primary clinician);
    plus a client that is not theirs at all."""
    own = ClientFactory(primary_clinician=clinician)
    on_case = ClientFactory(primary_clinician=other_clinician)
    CaseFactory(clinician=clinician, client=on_case)
    couple = couple_case(clinician=clinician, partners_of=other_clinician)
    partner_a, partner_b = (m.client for m in couple.members.order_by("position"))
    foreign = ClientFactory(primary_clinician=other_clinician)
    return {
        "own": own,
        "on_case": on_case,
        "partner_a": partner_a,
        "partner_b": partner_b,
        "couple": couple,
        "foreign": foreign,
    }


def test_clinician_lists_exactly_their_caseload(api, clinician, caseload):
    response = api.get(CLIENTS)

    assert response.status_code == 200
    expected = [caseload[k] for k in ("own", "on_case", "partner_a", "partner_b")]
    assert sorted(ids(response)) == sorted(str(c.pk) for c in expected)
    assert str(caseload["foreign"].pk) not in response.content.decode()
    event = AuditEvent.objects.get(action="read", object_type="client")
    assert event.actor == clinician
    assert sorted(event.object_ids) == sorted(c.pk for c in expected)


def test_other_clinician_sees_only_their_own_clients(other_api, caseload):
    response = other_api.get(CLIENTS)

    # Primary clinician of everyone but the clinician's own client.
    expected = [caseload[k] for k in ("on_case", "partner_a", "partner_b", "foreign")]
    assert sorted(ids(response)) == sorted(str(c.pk) for c in expected)
    assert str(caseload["own"].pk) not in response.content.decode()


def test_clinician_retrieves_a_caseload_client_with_its_etag(api, caseload):
    for key in ("own", "on_case", "partner_a"):
        client = caseload[key]
        response = api.get(client_url(client))
        assert response.status_code == 200, key
        assert response["ETag"] == '"1"'
        assert response.json()["id"] == str(client.pk)
        assert response.json()["given_name"] == client.given_name


def test_another_clinicians_client_is_404_on_retrieve_and_patch(api, caseload):
    foreign = caseload["foreign"]
    before = client_row(foreign)

    got = api.get(client_url(foreign))
    patched = api.patch(client_url(foreign), {"given_name": "Hacked"}, HTTP_IF_MATCH='"1"')
    patched_without_etag = api.patch(client_url(foreign), {"given_name": "Hacked"})

    for response in (got, patched, patched_without_etag):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert foreign.given_name not in response.content.decode()
        assert foreign.family_name not in response.content.decode()
    assert client_row(foreign) == before


def test_unknown_client_id_is_404_like_a_foreign_one(api):
    response = api.get(f"{CLIENTS}{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_supervisor_reads_supervisees_clients_but_not_others(supervisor_api, supervisor, caseload):
    own = ClientFactory(primary_clinician=supervisor)

    response = supervisor_api.get(CLIENTS)

    expected = [own, *(caseload[k] for k in ("own", "on_case", "partner_a", "partner_b"))]
    assert sorted(ids(response)) == sorted(str(c.pk) for c in expected)
    assert supervisor_api.get(client_url(caseload["own"])).status_code == 200
    assert supervisor_api.get(client_url(caseload["foreign"])).status_code == 404


def test_supervisor_cannot_change_a_supervisees_client(supervisor_api, caseload):
    client = caseload["own"]
    before = client_row(client)

    response = supervisor_api.patch(client_url(client), {"given_name": "Changed"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    assert client_row(client) == before
    assert not AuditEvent.objects.filter(action="update").exists()


def test_supervisor_changes_their_own_client(supervisor_api, supervisor):
    own = ClientFactory(primary_clinician=supervisor)

    response = supervisor_api.patch(client_url(own), {"pronouns": "she/her"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200
    assert response.json()["pronouns"] == "she/her"


def test_an_ended_supervision_ends_the_supervisors_view(supervisor_api, clinician, caseload):
    Supervision.objects.filter(supervisee=clinician).update(ended_on=timezone.localdate())

    assert supervisor_api.get(CLIENTS).json()["results"] == []
    assert supervisor_api.get(client_url(caseload["own"])).status_code == 404


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLIENT])
def test_admin_and_client_roles_get_no_clients(call_as, caseload, role):
    api = call_as(UserFactory(role=role))
    client = caseload["own"]
    before = client_row(client)

    for response in (
        api.get(CLIENTS),
        api.get(client_url(client)),
        api.patch(client_url(client), {"given_name": "X"}, HTTP_IF_MATCH='"1"'),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "role_not_allowed"
        assert client.given_name not in response.content.decode()
    assert client_row(client) == before
    assert not AuditEvent.objects.exists()


def test_the_client_whose_login_this_is_cannot_read_their_record(call_as, client_user, clinician):
    mine = ClientFactory(primary_clinician=clinician, user=client_user)

    response = call_as(client_user).get(client_url(mine))

    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"


def test_admin_with_only_the_admin_scope_lacks_the_clinical_scope(admin_api):
    response = admin_api.get(CLIENTS)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_anonymous_is_401(anonymous):
    assert anonymous.get(CLIENTS).status_code == 401


# ================================================================= clients: filters


def test_filter_by_status(api, clinician):
    active = ClientFactory(primary_clinician=clinician)
    discharged = ClientFactory(primary_clinician=clinician, status="discharged")
    ClientFactory(status="discharged")  # another clinician's

    assert ids(api.get(CLIENTS, {"status": "discharged"})) == [str(discharged.pk)]
    assert ids(api.get(CLIENTS, {"status": "active"})) == [str(active.pk)]
    assert ids(api.get(CLIENTS, {"status": "inactive"})) == []


def test_unknown_status_filter_is_400(api, clinician):
    ClientFactory(primary_clinician=clinician)

    response = api.get(CLIENTS, {"status": "deceased"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert [e["field"] for e in response.json()["errors"]] == ["status"]
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("query", ["status=", "status=%20"])
def test_a_filter_named_without_a_value_is_400_not_every_row(api, clinician, query):
    # Found by the contract fuzzer: django-filter read `?status=` as no filter and answered every row.
    ClientFactory(primary_clinician=clinician)

    response = api.get(f"{CLIENTS}?{query}")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["status"]


def test_an_empty_free_text_search_is_no_filter(api, clinician):
    client = ClientFactory(primary_clinician=clinician)

    assert ids(api.get(f"{CLIENTS}?search=")) == [str(client.pk)]


def test_search_is_case_insensitive_on_given_family_and_preferred_name(api, clinician, other_clinician):
    by_given = ClientFactory(primary_clinician=clinician, given_name="Alexandra", family_name="Ng")
    by_family = ClientFactory(primary_clinician=clinician, given_name="Sam", family_name="McALEXander")
    by_preferred = ClientFactory(primary_clinician=clinician, given_name="Robin", preferred_name="alex")
    ClientFactory(primary_clinician=clinician, given_name="Jordan", family_name="Lee", email="alex@example.test")
    ClientFactory(primary_clinician=other_clinician, given_name="Alex", family_name="Foreign")

    response = api.get(CLIENTS, {"search": "aLeX"})

    assert response.status_code == 200
    assert sorted(ids(response)) == sorted(str(c.pk) for c in (by_given, by_family, by_preferred))
    assert "Foreign" not in response.content.decode()


def test_search_and_status_combine(api, clinician):
    ClientFactory(primary_clinician=clinician, given_name="Kai", status="active")
    inactive = ClientFactory(primary_clinician=clinician, given_name="Kai", status="inactive")

    assert ids(api.get(CLIENTS, {"search": "kai", "status": "inactive"})) == [str(inactive.pk)]


def test_updated_since_returns_only_clients_changed_since(api, clinician):
    clients = [ClientFactory(primary_clinician=clinician) for _ in range(3)]
    checkpoint = timezone.now()
    assert api.patch(client_url(clients[1]), {"phone": "555"}, HTTP_IF_MATCH='"1"').status_code == 200

    response = api.get(CLIENTS, {"updated_since": checkpoint.isoformat()})

    assert response.status_code == 200
    assert ids(response) == [str(clients[1].pk)]
    assert len(ids(api.get(CLIENTS, {"updated_since": "2000-01-01T00:00:00Z"}))) == 3


def test_updated_since_without_offset_is_400(api):
    response = api.get(CLIENTS, {"updated_since": "2026-01-01T00:00:00"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "updated_since"


def test_client_list_query_count_is_the_same_for_1_and_20(api, clinician, other_clinician, count_queries):
    ClientFactory(primary_clinician=clinician)
    one = count_queries(lambda: api.get(CLIENTS))

    for _ in range(14):
        ClientFactory(primary_clinician=clinician)
    for _ in range(3):
        CaseFactory(clinician=clinician, client=ClientFactory(primary_clinician=other_clinician))
    couple_case(clinician=clinician, partners_of=other_clinician)
    many = count_queries(lambda: api.get(CLIENTS))

    assert len(ids(api.get(CLIENTS))) == 20
    assert one == many


# ================================================================= clients: PATCH


@pytest.fixture
def own_client(clinician):
    return ClientFactory(primary_clinician=clinician, given_name="Alex", email="alex@example.test")


def test_patch_without_if_match_is_428_and_changes_nothing(api, own_client):
    before = client_row(own_client)

    response = api.patch(client_url(own_client), {"given_name": "Changed"})

    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "precondition_required"
    assert client_row(own_client) == before


def test_patch_with_current_etag_applies_and_bumps_the_version(api, clinician, own_client):
    response = api.patch(client_url(own_client), {"given_name": "Alexis", "status": "inactive"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"2"'
    assert response.json()["given_name"] == "Alexis"
    assert response.json()["status"] == "inactive"
    assert response.json()["version"] == 2
    own_client.refresh_from_db()
    assert (own_client.given_name, own_client.status, own_client.version) == ("Alexis", "inactive", 2)
    event = AuditEvent.objects.get(action="update")
    assert (event.actor, event.object_ids, event.detail) == (
        clinician,
        [own_client.pk],
        {"fields": ["given_name", "status"]},
    )

    again = api.patch(client_url(own_client), {"pronouns": "he/him"}, HTTP_IF_MATCH='"2"')
    assert again.status_code == 200
    assert again.json()["version"] == 3


def test_patch_with_stale_etag_is_412_and_changes_nothing(api, own_client):
    api.patch(client_url(own_client), {"given_name": "First"}, HTTP_IF_MATCH='"1"')
    before = client_row(own_client)

    response = api.patch(client_url(own_client), {"given_name": "Second"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 412
    assert response.json()["code"] == "stale_version"
    assert response.json()["current_version"] == 2
    assert client_row(own_client) == before
    assert before["given_name"] == "First"


def test_patch_ignores_server_owned_fields(api, clinician, other_clinician, client_user, own_client):
    response = api.patch(
        client_url(own_client),
        {
            "phone": "555-0100",
            "primary_clinician": str(other_clinician.pk),
            "user": str(client_user.pk),
            "version": 99,
            "id": str(uuid.uuid4()),
        },
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 200
    own_client.refresh_from_db()
    assert own_client.phone == "555-0100"
    assert own_client.primary_clinician == clinician
    assert own_client.user is None
    assert own_client.version == 2


def test_invalid_patch_lists_the_fields_and_changes_nothing(api, own_client):
    before = client_row(own_client)

    response = api.patch(
        client_url(own_client),
        {"email": "not-an-email", "date_of_birth": "1990-02-31", "status": "deceased", "given_name": "Fine"},
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid"
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"email", "date_of_birth", "status"}
    assert all(e["message"] for e in errors)
    assert client_row(own_client) == before
    assert not AuditEvent.objects.filter(action="update").exists()


@pytest.mark.parametrize(("field", "value"), [("phone", 5551234), ("given_name", 7), ("date_of_birth", 19900101)])
def test_a_value_of_another_json_type_is_400_not_converted(api, field, value):
    # Found by the contract fuzzer: DRF stored the number 5551234 sent for a text field as "5551234".
    body = {"given_name": "Riley", "family_name": "Chen", field: value}

    response = api.post(CLIENTS, body)

    assert response.status_code == 400, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Client.objects.exists()


def test_a_client_without_an_email_answers_the_documented_empty_string(api, clinician):
    # Found by the contract fuzzer: the schema promised an e-mail address and the answer held "".
    client = ClientFactory(primary_clinician=clinician, email="")

    assert api.get(client_url(client)).json()["email"] == ""
    email = yaml.safe_load(schema.SCHEMA_FILE.read_text())["components"]["schemas"]["Client"]["properties"]["email"]
    assert {"type": "string", "maxLength": 0} in email["oneOf"]


def test_blank_required_name_is_400(api, own_client):
    before = client_row(own_client)

    response = api.patch(client_url(own_client), {"family_name": ""}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["family_name"]
    assert client_row(own_client) == before


def test_client_on_a_clinicians_case_is_writable_by_that_clinician(api, caseload):
    client = caseload["on_case"]

    response = api.patch(client_url(client), {"pronouns": "xe/xem"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200
    client.refresh_from_db()
    assert client.pronouns == "xe/xem"


# ================================================================= couples: create


@pytest.fixture
def partners(clinician):
    return [ClientFactory(primary_clinician=clinician) for _ in range(4)]


def test_clinician_pairs_two_of_their_clients(api, clinician, partners):
    a, b = partners[:2]

    response = pair(api, b, a, relationship_type="married", together_since="2015-06-20", status="ended")

    assert response.status_code == 201, response.json()
    assert response["ETag"] == '"1"'
    body = response.json()
    couple = Couple.objects.get()
    assert body == {
        "id": str(couple.pk),
        "partners": [str(b.pk), str(a.pk)],  # in the order given
        "relationship_type": "married",
        "together_since": "2015-06-20",
        "status": "active",  # server-owned on create
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "version": 1,
    }
    assert list(CoupleMember.objects.order_by("position").values_list("client", "position", "couple_active")) == [
        (b.pk, 1, True),
        (a.pk, 2, True),
    ]
    event = AuditEvent.objects.get(action="create")
    assert (event.actor, event.object_type, event.object_ids) == (clinician, "couple", [couple.pk])


def test_clients_on_the_clinicians_cases_can_be_paired(api, caseload):
    own, on_case = caseload["own"], caseload["on_case"]

    response = pair(api, own, on_case)

    assert response.status_code == 201, response.json()
    assert response.json()["partners"] == [str(own.pk), str(on_case.pk)]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_couple_is_exactly_two_partners(api, partners, count):
    response = pair(api, *partners[:count])

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert [e["field"] for e in response.json()["errors"]] == ["partners"]
    assert not Couple.objects.exists()
    assert not CoupleMember.objects.exists()


def test_the_same_client_twice_is_not_a_couple(api, partners):
    response = pair(api, partners[0], partners[0])

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert [e["field"] for e in response.json()["errors"]] == ["partners"]
    assert not Couple.objects.exists()
    assert not CoupleMember.objects.exists()


@pytest.mark.parametrize("body", [{"relationship_type": "situationship"}, {"together_since": "last summer"}])
def test_invalid_couple_fields_are_400(api, partners, body):
    response = pair(api, *partners[:2], **{"relationship_type": "dating", **body})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == list(body)
    assert not Couple.objects.exists()


def test_relationship_type_is_required(api, partners):
    response = api.post(COUPLES, {"partners": [str(p.pk) for p in partners[:2]]})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["relationship_type"]
    assert not Couple.objects.exists()


@pytest.mark.parametrize("position", [0, 1])
def test_a_partner_off_the_caseload_is_400_naming_the_position_without_leaking(api, partners, caseload, position):
    foreign = caseload["foreign"]
    unknown = uuid.uuid4()

    def attempt(outsider_id):
        ids_ = [str(partners[0].pk)]
        ids_.insert(position, str(outsider_id))
        return api.post(COUPLES, {"partners": ids_, "relationship_type": "dating"})

    with_foreign = attempt(foreign.pk)
    with_unknown = attempt(unknown)

    for response in (with_foreign, with_unknown):
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == [f"partners.{position}"]
    # Same answer whether the client exists elsewhere or not at all.
    assert with_foreign.json()["errors"][0]["code"] == with_unknown.json()["errors"][0]["code"]
    assert with_foreign.content.decode().replace(str(foreign.pk), "ID") == with_unknown.content.decode().replace(
        str(unknown), "ID"
    )
    assert foreign.given_name not in with_foreign.content.decode()
    assert list(Couple.objects.values_list("pk", flat=True)) == [caseload["couple"].pk]
    assert CoupleMember.objects.count() == 2


def test_a_foreign_partner_already_in_an_active_couple_is_400_not_409(api, other_clinician, partners):
    # A 409 would tell the caller that the other clinician's client exists and is paired.
    foreign_couple = CoupleFactory(partners__clinician=other_clinician)
    paired_elsewhere = foreign_couple.members.get(position=1).client
    members_before = membership_rows()

    response = pair(api, partners[0], paired_elsewhere)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert [e["field"] for e in response.json()["errors"]] == ["partners.1"]
    assert list(Couple.objects.values_list("pk", flat=True)) == [foreign_couple.pk]
    assert membership_rows() == members_before


def test_a_caseload_client_paired_through_a_couple_case_is_409(api, partners, caseload):
    # partner_a's primary clinician is someone else, but the clinician holds the couple's case: writable.
    members_before = membership_rows()

    response = pair(api, partners[0], caseload["partner_a"])

    assert response.status_code == 409
    assert response.json()["code"] == "client_in_active_couple"
    assert list(Couple.objects.values_list("pk", flat=True)) == [caseload["couple"].pk]
    assert membership_rows() == members_before


def test_supervisor_cannot_pair_a_supervisees_clients(supervisor_api, partners):
    response = pair(supervisor_api, partners[0], partners[1])

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["partners.0", "partners.1"]
    assert not Couple.objects.exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLIENT])
def test_admin_and_client_roles_cannot_pair(call_as, partners, role):
    response = pair(call_as(UserFactory(role=role)), partners[0], partners[1])

    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"
    assert not Couple.objects.exists()


def test_a_client_in_an_active_couple_cannot_be_paired_again(api, partners):
    a, b, c = partners[:3]
    assert pair(api, a, b).status_code == 201
    couples_before = list(Couple.objects.values())
    members_before = membership_rows()

    for attempt in ((a, c), (c, b)):
        response = pair(api, *attempt)
        assert response.status_code == 409
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "client_in_active_couple"

    assert list(Couple.objects.values()) == couples_before
    assert membership_rows() == members_before
    assert AuditEvent.objects.filter(action="create", object_type="couple").count() == 1


def test_idempotency_key_on_couples_replays_the_first_couple(api, partners):
    key = str(uuid.uuid4())
    body = {"partners": [str(partners[0].pk), str(partners[1].pk)], "relationship_type": "dating"}

    first = api.post(COUPLES, body, HTTP_IDEMPOTENCY_KEY=key)
    second = api.post(COUPLES, body, HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Couple.objects.count() == 1


# ================================================================= couples: the database constraint


def test_the_database_refuses_a_second_active_membership(partners):
    a, b, c = partners[:3]
    CoupleFactory(partners=[a, b])
    other = Couple.objects.create(relationship_type="dating")

    with pytest.raises(IntegrityError, match="client_in_one_active_couple"), transaction.atomic():
        CoupleMember.objects.create(couple=other, client=a, position=1, couple_active=True)

    assert not CoupleMember.objects.filter(couple=other).exists()
    # An inactive membership (an ended couple) is allowed alongside the active one.
    CoupleMember.objects.create(couple=other, client=a, position=1, couple_active=False)
    CoupleMember.objects.create(couple=other, client=c, position=2, couple_active=False)
    assert CoupleMember.objects.filter(client=a).count() == 2


# ================================================================= couples: PATCH, ending and re-activating


@pytest.fixture
def couple_ab(api, partners):
    response = pair(api, partners[0], partners[1], relationship_type="married")
    assert response.status_code == 201
    return Couple.objects.get(pk=response.json()["id"])


def test_patch_couple_needs_if_match(api, couple_ab):
    before = couple_rows(couple_ab)

    missing = api.patch(couple_url(couple_ab), {"status": "ended"})
    stale = api.patch(couple_url(couple_ab), {"status": "ended"}, HTTP_IF_MATCH='"7"')

    assert missing.status_code == 428
    assert missing.json()["code"] == "precondition_required"
    assert stale.status_code == 412
    assert stale.json()["code"] == "stale_version"
    assert couple_rows(couple_ab) == before


def test_patch_couple_details(api, couple_ab):
    response = api.patch(
        couple_url(couple_ab), {"relationship_type": "separated", "together_since": "2010-01-01"}, HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    assert response.json()["relationship_type"] == "separated"
    assert response.json()["together_since"] == "2010-01-01"
    assert response.json()["status"] == "active"
    couple_ab.refresh_from_db()
    assert (couple_ab.relationship_type, couple_ab.version) == ("separated", 2)
    assert list(CoupleMember.objects.filter(couple=couple_ab).values_list("couple_active", flat=True)) == [True, True]


def test_invalid_couple_patch_changes_nothing(api, couple_ab):
    before = couple_rows(couple_ab)

    response = api.patch(
        couple_url(couple_ab), {"status": "paused", "relationship_type": "situationship"}, HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"status", "relationship_type"}
    assert couple_rows(couple_ab) == before


def test_ending_a_couple_frees_both_partners(api, partners, couple_ab):
    a, b, c, d = partners

    ended = api.patch(couple_url(couple_ab), {"status": "ended"}, HTTP_IF_MATCH='"1"')

    assert ended.status_code == 200, ended.json()
    assert ended.json()["status"] == "ended"
    assert ended.json()["version"] == 2
    assert ended.json()["partners"] == [str(a.pk), str(b.pk)]
    assert list(CoupleMember.objects.filter(couple=couple_ab).values_list("couple_active", flat=True)) == [
        False,
        False,
    ]

    with_c = pair(api, a, c)
    with_d = pair(api, d, b)

    assert with_c.status_code == 201, with_c.json()
    assert with_d.status_code == 201, with_d.json()
    assert CoupleMember.objects.filter(client=a, couple_active=True).get().couple_id == uuid.UUID(with_c.json()["id"])
    assert CoupleMember.objects.filter(client=b, couple_active=True).get().couple_id == uuid.UUID(with_d.json()["id"])


def test_reactivating_while_a_partner_is_paired_elsewhere_is_409_and_changes_nothing(api, partners, couple_ab):
    b, c = partners[1:3]
    assert api.patch(couple_url(couple_ab), {"status": "ended"}, HTTP_IF_MATCH='"1"').status_code == 200
    assert pair(api, b, c).status_code == 201
    before = couple_rows(couple_ab)
    members_before = membership_rows()
    updates_before = AuditEvent.objects.filter(action="update").count()

    response = api.patch(couple_url(couple_ab), {"status": "active"}, HTTP_IF_MATCH='"2"')

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "client_in_active_couple"
    assert couple_rows(couple_ab) == before
    assert before[0]["status"] == "ended"
    assert before[0]["version"] == 2
    assert membership_rows() == members_before
    assert AuditEvent.objects.filter(action="update").count() == updates_before


def test_reactivating_when_both_partners_are_free_works(api, couple_ab):
    api.patch(couple_url(couple_ab), {"status": "ended"}, HTTP_IF_MATCH='"1"')

    response = api.patch(couple_url(couple_ab), {"status": "active"}, HTTP_IF_MATCH='"2"')

    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["version"] == 3
    assert list(CoupleMember.objects.filter(couple=couple_ab).values_list("couple_active", flat=True)) == [True, True]


# ================================================================= couples: who sees what


def test_clinician_lists_their_couples_only(api, partners, caseload):
    own = CoupleFactory(partners=partners[:2])
    CoupleFactory(partners__clinician=UserFactory(role=Role.CLINICIAN))  # nobody's of theirs

    response = api.get(COUPLES)

    assert response.status_code == 200
    assert sorted(ids(response)) == sorted([str(own.pk), str(caseload["couple"].pk)])
    rows = {row["id"]: row for row in response.json()["results"]}
    assert rows[str(own.pk)]["partners"] == [str(partners[0].pk), str(partners[1].pk)]


def test_couple_status_filter(api, partners):
    active = CoupleFactory(partners=partners[:2])
    ended = CoupleFactory(partners=partners[2:], status="ended")

    assert ids(api.get(COUPLES, {"status": "ended"})) == [str(ended.pk)]
    assert ids(api.get(COUPLES, {"status": "active"})) == [str(active.pk)]
    bad = api.get(COUPLES, {"status": "divorced"})
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["status"]


def test_couples_updated_since(api, partners):
    first = CoupleFactory(partners=partners[:2])
    second = CoupleFactory(partners=partners[2:])
    checkpoint = timezone.now()
    api.patch(couple_url(second), {"relationship_type": "dating"}, HTTP_IF_MATCH='"1"')

    assert ids(api.get(COUPLES, {"updated_since": checkpoint.isoformat()})) == [str(second.pk)]
    assert sorted(ids(api.get(COUPLES))) == sorted([str(first.pk), str(second.pk)])


def test_another_clinicians_couple_is_404_on_retrieve_and_patch(other_api, partners):
    couple = CoupleFactory(partners=partners[:2])
    before = couple_rows(couple)

    for response in (
        other_api.get(couple_url(couple)),
        other_api.patch(couple_url(couple), {"status": "ended"}, HTTP_IF_MATCH='"1"'),
        other_api.patch(couple_url(couple), {"status": "ended"}),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert str(partners[0].pk) not in response.content.decode()
    assert str(couple.pk) not in other_api.get(COUPLES).content.decode()
    assert couple_rows(couple) == before


def test_clinician_retrieves_their_couple(api, partners):
    couple = CoupleFactory(partners=partners[:2])

    response = api.get(couple_url(couple))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["partners"] == [str(partners[0].pk), str(partners[1].pk)]
    assert AuditEvent.objects.get(action="read").object_ids == [couple.pk]


def test_supervisor_reads_supervisees_couples_but_cannot_change_them(supervisor_api, partners, caseload):
    own = CoupleFactory(partners=partners[:2])
    before = couple_rows(own)

    listed = supervisor_api.get(COUPLES)
    got = supervisor_api.get(couple_url(own))
    patched = supervisor_api.patch(couple_url(own), {"status": "ended"}, HTTP_IF_MATCH='"1"')

    assert sorted(ids(listed)) == sorted([str(own.pk), str(caseload["couple"].pk)])
    assert got.status_code == 200
    assert patched.status_code == 403
    assert patched.json()["code"] == "not_allowed"
    assert couple_rows(own) == before


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLIENT])
def test_admin_and_client_roles_get_no_couples(call_as, partners, role):
    couple = CoupleFactory(partners=partners[:2])
    api = call_as(UserFactory(role=role))
    before = couple_rows(couple)

    for response in (
        api.get(COUPLES),
        api.get(couple_url(couple)),
        api.patch(couple_url(couple), {"status": "ended"}, HTTP_IF_MATCH='"1"'),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "role_not_allowed"
    assert couple_rows(couple) == before


def test_couple_list_query_count_is_the_same_for_1_and_20(api, clinician, other_clinician, count_queries):
    CoupleFactory(partners__clinician=clinician)
    one = count_queries(lambda: api.get(COUPLES))

    for _ in range(18):
        CoupleFactory(partners__clinician=clinician)
    couple_case(clinician=clinician, partners_of=other_clinician)
    many = count_queries(lambda: api.get(COUPLES))

    response = api.get(COUPLES)
    assert len(ids(response)) == 20
    assert all(len(row["partners"]) == 2 for row in response.json()["results"])
    assert one == many


def test_a_couple_never_reveals_a_partner_the_caller_cannot_see(api, clinician, other_api, other_clinician):
    """A pairs their own client x with y, who is on A's case but whose primary clinician is B. B sees y, not x, so
    B sees neither the couple nor x's id in it, and cannot end it."""
    x = ClientFactory(primary_clinician=clinician)
    y = ClientFactory(primary_clinician=other_clinician)
    CaseFactory(clinician=clinician, client=y)
    couple_id = pair(api, x, y).json()["id"]

    assert other_api.get(f"{CLIENTS}{y.pk}/").status_code == 200
    assert other_api.get(f"{CLIENTS}{x.pk}/").status_code == 404
    listed = other_api.get(COUPLES)
    assert str(x.pk) not in listed.content.decode()
    assert other_api.get(f"{COUPLES}{couple_id}/").status_code == 404
    ended = other_api.patch(f"{COUPLES}{couple_id}/", {"status": "ended"}, HTTP_IF_MATCH="*")
    assert ended.status_code == 404
    assert Couple.objects.get(pk=couple_id).status == "active"


def test_a_date_of_birth_in_the_future_is_400(api):
    tomorrow = timezone.localdate().replace(year=timezone.localdate().year + 1)
    response = api.post(CLIENTS, {"given_name": "Fut", "family_name": "Ure", "date_of_birth": tomorrow.isoformat()})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "date_of_birth"
    assert not Client.objects.filter(given_name="Fut").exists()
