"""The client app's reminder settings through HTTP: me/devices/ (register a push token, list, revoke),
me/notification-preferences/ (time zone, quiet hours, opt-outs) and me/consents/ (consent to electronic
communication, which reminders need); nobody but the client reaches them."""

import pytest

from clinical.models import AuditEvent, Consent, Device, HomeworkAssignment, Role
from tests.factories import UserFactory
from tests.factories.scenes import CoupleInCare
from tests.helpers import assert_problem

API = "/api/v1/"
HOMEWORK = ["homework"]


def register(caller, token="fcm-token-1", platform="android"):
    return caller.post(f"{API}me/devices/", {"platform": platform, "token": token}, format="json")


def test_a_client_registers_a_device_and_the_same_token_again_is_the_same_device(client_api, client_user):
    first = register(client_api)
    assert first.status_code == 201, first.content
    assert set(first.json()) == {"id", "platform", "registered_at"}  # the token is never shown

    again = register(client_api)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    listed = client_api.get(f"{API}me/devices/").json()["results"]
    assert [d["id"] for d in listed] == [first.json()["id"]]

    device = Device.objects.get()
    assert device.token == "fcm-token-1"  # readable by the worker
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM clinical_device")
        [(stored,)] = cursor.fetchall()
    assert "fcm-token-1" not in stored  # encrypted at rest


def test_revoking_a_device_stops_it_and_another_clients_device_is_not_found(call_as, client_user):
    mine = register(call_as(client_user, HOMEWORK)).json()
    someone = UserFactory(role=Role.CLIENT)
    theirs = register(call_as(someone, HOMEWORK), token="apns-token-2", platform="ios").json()
    me = call_as(client_user, HOMEWORK)

    assert_problem(me.delete(f"{API}me/devices/{theirs['id']}/"), 404, "not_found")
    assert Device.objects.get(pk=theirs["id"]).revoked_at is None

    response = me.delete(f"{API}me/devices/{mine['id']}/")
    assert response.status_code == 204
    assert Device.objects.get(pk=mine["id"]).revoked_at is not None
    assert me.get(f"{API}me/devices/").json()["results"] == []
    assert_problem(me.delete(f"{API}me/devices/{mine['id']}/"), 404, "not_found")


def test_a_token_registered_by_the_partner_is_taken_from_the_first_login(call_as, clinician):
    care = CoupleInCare(clinician)
    register(call_as(care.a_user, HOMEWORK), token="shared-tablet")
    register(call_as(care.b_user, HOMEWORK), token="shared-tablet")

    assert not Device.objects.filter(user=care.a_user, revoked_at__isnull=True).exists()
    assert Device.objects.filter(user=care.b_user, revoked_at__isnull=True).count() == 1


def test_staff_never_see_devices(call_as, api, clinician, admin_api):
    care = CoupleInCare(clinician)
    register(call_as(care.a_user, HOMEWORK))

    for caller in (api, admin_api):
        assert_problem(caller.get(f"{API}me/devices/"), 403)
        assert_problem(caller.get(f"{API}me/notification-preferences/"), 403)


def test_a_bad_platform_or_an_empty_token_is_refused(client_api):
    body = assert_problem(register(client_api, platform="blackberry"), 400, "invalid")
    assert "platform" in str(body)
    assert_problem(register(client_api, token=""), 400, "invalid")
    assert Device.objects.count() == 0


def test_preferences_start_with_the_defaults_and_change_with_if_match(client_api):
    response = client_api.get(f"{API}me/notification-preferences/")
    assert response.status_code == 200
    assert response.json() | {"updated_at": None} == {
        "time_zone": "",
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        "opted_out": [],
        "updated_at": None,
        "version": 1,
    }
    body = {"time_zone": "Europe/Berlin", "quiet_hours_start": "22:00", "quiet_hours_end": "07:00"}
    assert_problem(client_api.patch(f"{API}me/notification-preferences/", body, format="json"), 428)

    changed = client_api.patch(
        f"{API}me/notification-preferences/", {**body, "opted_out": ["measures"]}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["time_zone"] == "Europe/Berlin"
    assert (changed.json()["quiet_hours_start"], changed.json()["quiet_hours_end"]) == ("22:00:00", "07:00:00")
    assert changed.json()["opted_out"] == ["measures"]
    assert changed.json()["version"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"opted_out": ["sms"]}, "opted_out"),
    ],
)
def test_preferences_refuse_an_unknown_time_zone_half_quiet_hours_or_an_unknown_kind(client_api, body, field):
    client_api.get(f"{API}me/notification-preferences/")
    response = client_api.patch(f"{API}me/notification-preferences/", body, format="json", HTTP_IF_MATCH='"1"')
    problem = assert_problem(response, 400, "invalid")
    assert field in str(problem["errors"])


def test_the_clinician_sets_a_reminder_time_on_homework(api, clinician, catalog):
    care = CoupleInCare(clinician)
    body = {
        "case": str(care.case.pk),
        "exercise": str(catalog["i-statement-practice"].pk),
        "assignees": [str(care.a.pk)],
        "frequency": "daily",
        "reminder_time": "07:30",
    }
    created = api.post(f"{API}assignments/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["reminder_time"] == "07:30:00"

    url = f"{API}assignments/{created.json()['id']}/"
    changed = api.patch(url, {"reminder_time": None}, format="json", HTTP_IF_MATCH=f'"{created.json()["version"]}"')
    assert changed.status_code == 200, changed.content
    assert changed.json()["reminder_time"] is None  # the default, 18:00 in each client's time zone
    assert HomeworkAssignment.objects.get().reminder_time is None


def test_a_client_consents_to_electronic_communication_once(call_as, clinician):
    care = CoupleInCare(clinician)
    app = call_as(care.a_user, HOMEWORK)

    given = app.post(f"{API}me/consents/", {"kind": "electronic_communication"}, format="json")
    assert given.status_code == 201, given.content
    assert given.json()["kind"] == "electronic_communication"
    assert given.json()["revoked_at"] is None
    again = app.post(f"{API}me/consents/", {"kind": "electronic_communication"}, format="json")
    assert again.json()["id"] == given.json()["id"]
    assert [c["id"] for c in app.get(f"{API}me/consents/").json()["results"]] == [given.json()["id"]]
    assert Consent.objects.get().client == care.a

    partner = call_as(care.b_user, HOMEWORK).get(f"{API}me/consents/")
    assert partner.json()["results"] == []  # the partner's consents are their own


def test_a_client_revokes_their_consent_in_the_app_and_only_their_own(call_as, clinician):
    care = CoupleInCare(clinician)
    app = call_as(care.a_user, HOMEWORK)
    given = app.post(f"{API}me/consents/", {"kind": "electronic_communication"}, format="json").json()

    partner = call_as(care.b_user, HOMEWORK).post(f"{API}me/consents/{given['id']}/revoke/")
    assert_problem(partner, 404, "not_found")  # the partner's consent is not within the other's reach
    assert Consent.objects.get().revoked_at is None

    revoked = app.post(f"{API}me/consents/{given['id']}/revoke/")
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["id"] == given["id"]
    assert revoked.json()["revoked_at"] is not None
    again = app.post(f"{API}me/consents/{given['id']}/revoke/")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # kept as it was: revoked once
    assert AuditEvent.objects.filter(action="revoke", object_type="consent", object_ids=[given["id"]]).count() == 1

    anew = app.post(f"{API}me/consents/", {"kind": "electronic_communication"}, format="json")
    assert anew.status_code == 201
    assert anew.json()["id"] != given["id"]  # consenting again is a new consent


def test_only_a_client_in_care_consents_and_staff_use_other_paths(call_as, client_user, api):
    no_record = call_as(client_user, HOMEWORK).post(
        f"{API}me/consents/", {"kind": "electronic_communication"}, format="json"
    )
    assert_problem(no_record, 403, "not_a_client")
    assert_problem(call_as(api.user, HOMEWORK).get(f"{API}me/consents/"), 403, "role_not_allowed")
    assert_problem(
        call_as(client_user, HOMEWORK).post(f"{API}me/consents/", {"kind": "marketing"}, format="json"), 400, "invalid"
    )
