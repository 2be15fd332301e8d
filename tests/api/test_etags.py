"""ETag / If-Match on PATCH: 428 without it, 412 when stale, and nothing changes in either case."""

from clinical.models import User


def url(user):
    return f"/api/v1/staff/{user.id}/"


def test_get_carries_the_etag(admin_api, clinician):
    response = admin_api.get(url(clinician))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["version"] == 1


def test_patch_with_the_current_etag_applies_and_bumps_the_version(admin_api, clinician):
    response = admin_api.patch(url(clinician), {"display_name": "Renamed"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200
    assert response.json()["display_name"] == "Renamed"
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'


def test_patch_without_if_match_is_428_and_changes_nothing(admin_api, clinician):
    response = admin_api.patch(url(clinician), {"display_name": "Renamed"})

    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "precondition_required"
    clinician.refresh_from_db()
    assert (clinician.display_name, clinician.version) != ("Renamed", 2)
    assert clinician.version == 1


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(admin_api, clinician):
    admin_api.patch(url(clinician), {"display_name": "First"}, HTTP_IF_MATCH='"1"')

    response = admin_api.patch(url(clinician), {"display_name": "Second"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 412
    assert response.json()["code"] == "stale_version"
    assert response.json()["current_version"] == 2
    clinician.refresh_from_db()
    assert clinician.display_name == "First"
    assert clinician.version == 2


def test_weak_or_foreign_etags_never_match(admin_api, clinician):
    for header in ('W/"1"', "1", '"abc"'):
        response = admin_api.patch(url(clinician), {"display_name": "X"}, HTTP_IF_MATCH=header)
        assert response.status_code == 412, header
    assert User.objects.get(pk=clinician.pk).version == 1


def test_if_match_star_means_whatever_is_current(admin_api, clinician):
    response = admin_api.patch(url(clinician), {"display_name": "Any"}, HTTP_IF_MATCH="*")

    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_invalid_patch_with_current_etag_changes_nothing(admin_api, clinician):
    response = admin_api.patch(url(clinician), {"role": "client"}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 400
    clinician.refresh_from_db()
    assert clinician.role == "clinician"
    assert clinician.version == 1


def test_precondition_checked_only_after_scope(call_as, clinician, other_clinician):
    # Out of scope comes first: the ETag says nothing about a record the caller cannot see.
    response = call_as(other_clinician, ["admin"]).patch(url(clinician), {"display_name": "X"})
    assert response.status_code == 403
