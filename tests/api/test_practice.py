"""Clinician accounts and supervision, managed by the practice admin."""

import pytest
from oauth2_provider.models import AccessToken, RefreshToken

from clinical.models import AuditEvent, Case, Role, Supervision, User
from tests.factories import CaseFactory, ClientFactory, SupervisionFactory, UserFactory


def test_admin_lists_staff_with_their_supervisor(admin_api, clinician, supervisor, other_clinician, client_user):
    response = admin_api.get("/api/v1/staff/")

    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert set(rows) == {
        str(clinician.id),
        str(supervisor.id),
        str(other_clinician.id),
    }  # no client, no admin
    assert rows[str(clinician.id)]["supervisor"] == str(supervisor.id)
    assert rows[str(other_clinician.id)]["supervisor"] is None


@pytest.mark.parametrize("value", ["yes", "1", "null", "True"])
def test_a_boolean_filter_takes_true_or_false_only(admin_api, clinician, value):
    # Found by the contract fuzzer: django-filter ignored `?is_active=null` and answered every row.
    response = admin_api.get("/api/v1/staff/", {"is_active": value})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["is_active"]
    assert admin_api.get("/api/v1/staff/", {"is_active": "true"}).status_code == 200


def test_staff_list_query_count_does_not_grow(admin_api, count_queries):
    UserFactory(role=Role.CLINICIAN)
    one = count_queries(lambda: admin_api.get("/api/v1/staff/"))
    for _ in range(20):
        SupervisionFactory()
    many = count_queries(lambda: admin_api.get("/api/v1/staff/"))
    assert one == many
    assert len(admin_api.get("/api/v1/staff/").json()["results"]) == 41


def test_admin_creates_a_clinician_who_can_then_sign_in(admin_api):
    response = admin_api.post(
        "/api/v1/staff/",
        {"email": "New.Person@Example.test", "display_name": "New Person", "password": "a-long-pass-phrase"},
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "new.person@example.test"
    assert body["role"] == "clinician"
    assert body["version"] == 1
    assert response["ETag"] == '"1"'
    assert "password" not in body
    assert User.objects.get(id=body["id"]).check_password("a-long-pass-phrase")


def test_duplicate_email_is_a_field_error(admin_api, clinician):
    response = admin_api.post("/api/v1/staff/", {"email": clinician.email.upper(), "display_name": "Twin"})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "email",
            "code": "invalid",
            "message": "An account with this e-mail address already exists.",
        }
    ]


def test_weak_password_is_refused(admin_api):
    response = admin_api.post(
        "/api/v1/staff/", {"email": "a@example.test", "display_name": "A", "password": "123456789012"}
    )

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"password"}
    assert not User.objects.filter(email="a@example.test").exists()


def test_clinician_role_cannot_be_client_or_admin(admin_api):
    response = admin_api.post("/api/v1/staff/", {"email": "x@example.test", "display_name": "X", "role": "admin"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "role"


def test_server_owned_fields_are_ignored_on_create(admin_api):
    response = admin_api.post(
        "/api/v1/staff/",
        {
            "email": "y@example.test",
            "display_name": "Y",
            "version": 99,
            "id": "00000000-0000-0000-0000-000000000001",
            "created_at": "2000-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 201
    assert response.json()["version"] == 1
    assert response.json()["id"] != "00000000-0000-0000-0000-000000000001"
    assert not response.json()["created_at"].startswith("2000")


def test_only_the_admin_manages_clinicians(call_as, clinician, supervisor):
    for user in (clinician, supervisor):
        response = call_as(user, ["admin", "clinical:read"]).get("/api/v1/staff/")
        assert response.status_code == 403
        assert response.json()["code"] == "role_not_allowed"


def test_admin_needs_the_admin_scope(call_as, admin_user):
    response = call_as(admin_user, ["clinical:read"]).get("/api/v1/staff/")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert response.json()["required_scopes"] == [["admin"]]


def test_start_and_end_a_supervision(admin_api, supervisor, other_clinician):
    started = admin_api.post(
        "/api/v1/supervisions/", {"supervisor": str(supervisor.id), "supervisee": str(other_clinician.id)}
    )
    assert started.status_code == 201, started.json()
    assert started.json()["active"] is True

    ended = admin_api.post(f"/api/v1/supervisions/{started.json()['id']}/end/", {})
    assert ended.status_code == 200
    assert ended.json()["active"] is False
    assert ended.json()["version"] == 2

    again = admin_api.post(f"/api/v1/supervisions/{started.json()['id']}/end/", {})
    assert again.status_code == 409
    assert again.json()["code"] == "supervision_ended"


def test_a_clinician_has_one_active_supervisor(admin_api, clinician):
    second = UserFactory(role=Role.SUPERVISOR)

    response = admin_api.post("/api/v1/supervisions/", {"supervisor": str(second.id), "supervisee": str(clinician.id)})

    assert response.status_code == 409
    assert response.json()["code"] == "already_supervised"
    assert Supervision.objects.filter(supervisee=clinician).count() == 1


@pytest.mark.parametrize(
    ("supervisor_role", "supervisee_role", "field"),
    [(Role.CLINICIAN, Role.CLINICIAN, "supervisor"), (Role.SUPERVISOR, Role.CLIENT, "supervisee")],
)
def test_supervision_roles_are_checked(admin_api, supervisor_role, supervisee_role, field):
    sup = UserFactory(role=supervisor_role)
    sub = UserFactory(role=supervisee_role)

    response = admin_api.post("/api/v1/supervisions/", {"supervisor": str(sup.id), "supervisee": str(sub.id)})

    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not Supervision.objects.filter(supervisee=sub).exists()


def test_nobody_supervises_themselves(admin_api, supervisor):
    response = admin_api.post(
        "/api/v1/supervisions/", {"supervisor": str(supervisor.id), "supervisee": str(supervisor.id)}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "supervisee"


def test_supervisors_and_clinicians_see_only_their_own_supervisions(call_as, clinician, supervisor, other_clinician):
    others = SupervisionFactory(supervisee=other_clinician)
    mine = Supervision.objects.get(supervisee=clinician)

    for user in (clinician, supervisor):
        api = call_as(user, ["clinical:read"])
        listed = api.get("/api/v1/supervisions/").json()["results"]
        assert [row["id"] for row in listed] == [str(mine.id)]
        assert api.get(f"/api/v1/supervisions/{mine.id}/").status_code == 200
        assert api.get(f"/api/v1/supervisions/{others.id}/").status_code == 404


def test_supervision_list_filters(admin_api, clinician, supervisor, other_clinician):
    SupervisionFactory(supervisee=other_clinician)

    response = admin_api.get("/api/v1/supervisions/", {"supervisor": str(supervisor.id)})

    assert [row["supervisee"] for row in response.json()["results"]] == [str(clinician.id)]
    assert admin_api.get("/api/v1/supervisions/", {"active": "false"}).json()["results"] == []


def test_deactivating_staff_revokes_their_tokens_at_once(admin_api, call_as, other_clinician):
    api = call_as(other_clinician, ["clinical:read"])
    assert api.get("/api/v1/me/").status_code == 200
    refresh = RefreshToken.objects.create(
        user=other_clinician, token="r-123", application=AccessToken.objects.get(user=other_clinician).application
    )

    response = admin_api.patch(f"/api/v1/staff/{other_clinician.id}/", {"is_active": False}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    after = api.get("/api/v1/me/")
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_token"
    assert not AccessToken.objects.filter(user=other_clinician).exists()
    refresh.refresh_from_db()
    assert refresh.revoked is not None


def test_a_deactivated_account_cannot_use_a_token_it_still_holds(call_as, other_clinician):
    api = call_as(other_clinician, ["clinical:read"])
    User.objects.filter(pk=other_clinician.pk).update(is_active=False)  # e.g. deactivated by hand

    assert api.get("/api/v1/me/").status_code == 401


def test_no_supervision_cycles(admin_api):
    top = UserFactory(role=Role.SUPERVISOR)
    middle = UserFactory(role=Role.SUPERVISOR)
    bottom = UserFactory(role=Role.SUPERVISOR)
    assert (
        admin_api.post("/api/v1/supervisions/", {"supervisor": str(top.id), "supervisee": str(middle.id)}).status_code
        == 201
    )
    assert (
        admin_api.post(
            "/api/v1/supervisions/", {"supervisor": str(middle.id), "supervisee": str(bottom.id)}
        ).status_code
        == 201
    )

    for supervisor, supervisee in ((bottom, top), (middle, top), (bottom, middle)):
        response = admin_api.post(
            "/api/v1/supervisions/", {"supervisor": str(supervisor.id), "supervisee": str(supervisee.id)}
        )
        assert response.status_code in (400, 409), (supervisor, supervisee)
    assert not Supervision.objects.filter(supervisee=top).exists()


def test_reassign_caseload_moves_open_cases_and_clients_only(admin_api, clinician, other_clinician):
    open_case = CaseFactory(clinician=clinician)
    paused = CaseFactory(clinician=clinician, status="paused")
    closed = CaseFactory(clinician=clinician, status="closed", closed_on="2026-01-01", closing_reason="done")
    lone_client = ClientFactory(primary_clinician=clinician)

    response = admin_api.post(f"/api/v1/staff/{clinician.id}/reassign-caseload/", {"to": str(other_clinician.id)})

    assert response.status_code == 200
    assert response.json() == {"cases_moved": 2, "clients_moved": 4}  # the 3 cases' clients + the lone one
    for case in (open_case, paused):
        case.refresh_from_db()
        assert case.clinician == other_clinician
        assert case.version == 2
    closed.refresh_from_db()
    assert closed.clinician == clinician  # history stays with who held it
    lone_client.refresh_from_db()
    assert lone_client.primary_clinician == other_clinician
    event = AuditEvent.objects.get(action="reassign")
    assert event.actor_role == "admin"
    assert set(event.object_ids) == {open_case.id, paused.id}
    assert "closing_reason" not in response.content.decode()


def test_reassign_caseload_validates_the_receiver(admin_api, clinician, client_user):
    CaseFactory(clinician=clinician)
    for to in (clinician.id, client_user.id, "00000000-0000-0000-0000-000000000000"):
        response = admin_api.post(f"/api/v1/staff/{clinician.id}/reassign-caseload/", {"to": str(to)})
        assert response.status_code == 400, to
        assert response.json()["errors"][0]["field"] == "to"
    inactive = UserFactory(role=Role.CLINICIAN, is_active=False)
    response = admin_api.post(f"/api/v1/staff/{clinician.id}/reassign-caseload/", {"to": str(inactive.id)})
    assert response.status_code == 400
    assert Case.objects.get().clinician == clinician


def test_only_the_admin_reassigns(call_as, supervisor, clinician, other_clinician):
    response = call_as(supervisor, ["admin"]).post(
        f"/api/v1/staff/{clinician.id}/reassign-caseload/", {"to": str(other_clinician.id)}
    )
    assert response.status_code == 403


# ---------------------------------------------------------------- the admin's changes are in the audit trail


def _events(**lookup):
    return list(AuditEvent.objects.filter(**lookup).order_by("id"))


def test_creating_and_deactivating_an_account_is_audited_with_the_admin_as_actor(admin_api, admin_user):
    created = admin_api.post("/api/v1/staff/", {"email": "riley@example.test", "display_name": "Riley"}).json()

    changed = admin_api.patch(f"/api/v1/staff/{created['id']}/", {"is_active": False}, HTTP_IF_MATCH='"1"')

    assert changed.status_code == 200
    [create, deactivate] = _events(object_type="staff", object_ids__contains=[created["id"]])
    assert (create.action, create.actor_id, create.detail) == ("create", admin_user.pk, {"role": "clinician"})
    assert (deactivate.action, deactivate.actor_id) == ("deactivate", admin_user.pk)
    assert deactivate.detail == {"fields": ["is_active"], "is_active": False}
    assert "riley" not in str(create.detail) + str(deactivate.detail)  # no names or addresses in the trail


def test_starting_and_ending_a_supervision_is_audited(admin_api, admin_user, supervisor, other_clinician):
    started = admin_api.post(
        "/api/v1/supervisions/", {"supervisor": str(supervisor.id), "supervisee": str(other_clinician.id)}
    ).json()

    ended = admin_api.post(f"/api/v1/supervisions/{started['id']}/end/", {}, HTTP_IF_MATCH='"1"')

    assert ended.status_code == 200
    [start, end] = _events(object_type="supervision")
    assert (start.action, start.actor_id, start.object_ids) == ("create", admin_user.pk, [Supervision.objects.get().pk])
    assert start.detail == {"supervisor": str(supervisor.id), "supervisee": str(other_clinician.id)}
    assert (end.action, end.actor_id) == ("end", admin_user.pk)


def test_ending_a_supervision_honours_if_match(admin_api, clinician):
    supervision = Supervision.objects.get(supervisee=clinician)

    stale = admin_api.post(f"/api/v1/supervisions/{supervision.id}/end/", {}, HTTP_IF_MATCH='"7"')

    assert stale.status_code == 412
    assert stale.json()["code"] == "stale_version"
    supervision.refresh_from_db()
    assert supervision.ended_on is None
    assert _events(object_type="supervision", action="end") == []
