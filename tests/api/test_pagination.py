"""Cursor pagination on (created_at, id) and ?updated_since= delta sync."""

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import Role, User
from tests.factories import UserFactory


def walk(api, url, direction="next"):
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        pages.append(response.json())
        url = response.json()[direction]
    return pages


@pytest.fixture
def staff(db):
    base = timezone.now() - timedelta(hours=1)
    users = [UserFactory(role=Role.CLINICIAN) for _ in range(7)]
    for i, user in enumerate(users):  # distinct, known creation times
        User.objects.filter(pk=user.pk).update(created_at=base + timedelta(minutes=i))
    return [str(u.id) for u in users]


def ids(pages):
    return [row["id"] for page in pages for row in page["results"]]


def test_pages_follow_creation_order(admin_api, staff):
    pages = walk(admin_api, "/api/v1/staff/?page_size=3")

    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    assert ids(pages) == staff
    assert pages[0]["previous"] is None
    assert pages[-1]["next"] is None


def test_inserts_while_paging_neither_repeat_nor_skip_rows(admin_api, staff):
    seen, url = [], "/api/v1/staff/?page_size=3"
    inserted = []
    while url:
        page = admin_api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
        # Someone adds a colleague between page loads; one is even backdated to before everything.
        newcomer = UserFactory(role=Role.CLINICIAN)
        inserted.append(str(newcomer.id))
        backdated = UserFactory(role=Role.CLINICIAN)
        User.objects.filter(pk=backdated.pk).update(created_at=timezone.now() - timedelta(days=1))

    assert len(seen) == len(set(seen))  # no row twice
    assert seen[: len(staff)] == staff  # every original row, in order
    assert set(seen[len(staff) :]) <= set(inserted)  # later rows only ever newer ones


def test_previous_links_walk_back(admin_api, staff):
    forward = walk(admin_api, "/api/v1/staff/?page_size=3")
    backward = walk(admin_api, forward[-1]["previous"], direction="previous")

    assert [[r["id"] for r in p["results"]] for p in backward] == [
        [r["id"] for r in p["results"]] for p in reversed(forward[:-1])
    ]
    assert backward[-1]["previous"] is None
    assert backward[0]["next"] is not None


def test_links_keep_the_filters(admin_api, staff):
    page = admin_api.get("/api/v1/staff/?page_size=2&role=clinician").json()

    assert "role=clinician" in page["next"]
    assert "page_size=2" in page["next"]


@pytest.mark.parametrize("size", ["0", "201", "abc", "-1", "1.5"])
def test_page_size_out_of_range_is_400(admin_api, size):
    response = admin_api.get("/api/v1/staff/", {"page_size": size})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "page_size"


def test_page_size_200_is_allowed(admin_api, staff):
    assert admin_api.get("/api/v1/staff/", {"page_size": "200"}).status_code == 200


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "WyJuIiwieCIsIngiXQ"])
def test_a_cursor_we_did_not_issue_is_400(admin_api, cursor):
    response = admin_api.get("/api/v1/staff/", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


def test_updated_since_returns_rows_changed_at_or_after(admin_api, staff):
    checkpoint = timezone.now()
    admin_api.patch(f"/api/v1/staff/{staff[2]}/", {"display_name": "Changed"}, HTTP_IF_MATCH='"1"')

    response = admin_api.get("/api/v1/staff/", {"updated_since": checkpoint.isoformat()})

    assert [row["id"] for row in response.json()["results"]] == [staff[2]]


def test_updated_since_accepts_an_unescaped_plus(admin_api, staff):
    response = admin_api.get("/api/v1/staff/?updated_since=2000-01-01T00:00:00+00:00")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 7


@pytest.mark.parametrize("value", ["yesterday", "2026-11-21", "2026-11-21T10:00:00", "2026-13-01T00:00:00Z"])
def test_updated_since_needs_a_full_instant_with_offset(admin_api, value):
    response = admin_api.get("/api/v1/staff/", {"updated_since": value})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "updated_since"


@pytest.mark.parametrize("value", ["2026-11-21T10:00:00-19:05", "4327-03-22T11:09:01.16-23:41"])
def test_updated_since_with_an_offset_beyond_postgresqls_range_is_read_in_utc(admin_api, staff, value):
    # Found by the contract fuzzer: Python accepts offsets up to ±23:59, PostgreSQL only ±15:59 (was a 500).
    response = admin_api.get("/api/v1/staff/", {"updated_since": value})

    assert response.status_code == 200


def test_updated_since_before_year_1_in_utc_is_400(admin_api):
    response = admin_api.get("/api/v1/staff/", {"updated_since": "0001-01-01T00:00:00+01:00"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "updated_since"
