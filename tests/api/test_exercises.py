"""The exercise library over HTTP: who reads it, filters, versions, clinicians' own exercises (create, revise
with If-Match, only by their author), and a flat query count."""

import re

import pytest
import yaml

from clinical.models import Role
from exercises.models import Audience, Exercise, ExerciseVersion
from exercises.services import exercise_publish
from kernel.models import GoalDomain
from tests.factories import UserFactory
from tests.helpers import ALL_SCOPES, assert_problem
from tools import schema

URL = "/api/v1/exercises/"
READ = ["clinical:read"]
WRITE = ["clinical:read", "clinical:write"]


def detail(exercise) -> str:
    return f"{URL}{exercise.id}/"


def content(**overrides) -> dict:
    body = {
        "title": "Evening appreciation walk",
        "summary": "A short walk together where each of you names something you valued in the other today.",
        "steps": [
            "Leave your phones at home and walk for fifteen minutes.",
            "Each of you names one thing the other did today that you appreciated, and why it mattered.",
            "Say thank you without adding a 'but'.",
        ],
        "domains": ["emotional_intimacy", "communication"],
        "audience": "couple",
        "suggested_frequency": "weekly",
        "estimated_minutes": 20,
        "response_fields": [
            {
                "key": "closeness",
                "label": "How close did you feel on the walk?",
                "type": "scale",
                "min": 1,
                "max": 10,
                "min_label": "Far apart",
                "max_label": "Very close",
            },
            {"key": "appreciated", "label": "What did you appreciate?", "type": "long_text", "required": False},
            {"key": "mood", "label": "Mood afterwards", "type": "single_choice", "options": ["lighter", "same"]},
        ],
    }
    body.update(overrides)
    return body


def stored_fields(fields: list[dict]) -> list[dict]:
    return [{"required": True, **f} for f in fields]


def rows_of(exercise_id) -> dict:
    """The exercise row and its version rows, as stored (for "nothing changed")."""
    return {
        "exercise": Exercise.objects.filter(pk=exercise_id).values().get(),
        "versions": list(ExerciseVersion.objects.filter(exercise_id=exercise_id).order_by("number").values()),
    }


def library_size() -> tuple[int, int]:
    return Exercise.objects.count(), ExerciseVersion.objects.count()


@pytest.fixture
def own_exercise(clinician):
    """An exercise written by `clinician` (through the service, as the API would)."""
    exercise, _ = exercise_publish(slug="evening-walk-abc123", content=content(), author=clinician)
    return exercise


# ---------------------------------------------------------------- who reads the library


@pytest.mark.parametrize(
    ("role", "scopes"),
    [
        (Role.CLINICIAN, READ),
        (Role.SUPERVISOR, READ),
        (Role.CLIENT, ["homework"]),
        (Role.CLIENT, READ),
    ],
)
def test_every_reading_role_lists_the_whole_library(catalog, own_exercise, call_as, role, scopes):
    response = call_as(UserFactory(role=role), scopes).get(URL, {"page_size": 200})

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert {row["id"] for row in rows} == {str(e.id) for e in catalog.values()} | {str(own_exercise.id)}
    row = next(r for r in rows if r["id"] == str(own_exercise.id))
    assert row["slug"] == "evening-walk-abc123"
    assert row["catalog"] is False
    assert row["author"] == str(own_exercise.author_id)
    assert row["current_version"]["number"] == 1
    assert row["current_version"]["title"] == "Evening appreciation walk"
    assert all(r["catalog"] is True and r["author"] is None for r in rows if r["id"] != str(own_exercise.id))


def test_every_reading_role_retrieves_an_exercise(catalog, call_as, clinician, supervisor, client_user):
    exercise = catalog["weekly-relationship-check-in"]
    for caller in (call_as(clinician, READ), call_as(supervisor, READ), call_as(client_user, ["homework"])):
        response = caller.get(detail(exercise))
        assert response.status_code == 200, response.content
        assert response.json()["id"] == str(exercise.id)


def test_admin_may_not_read_the_library(catalog, call_as, admin_user, admin_api):
    exercise = catalog["weekly-relationship-check-in"]
    admin_with_every_scope = call_as(admin_user, ALL_SCOPES)

    assert_problem(admin_with_every_scope.get(URL), 403, "role_not_allowed")
    assert_problem(admin_with_every_scope.get(detail(exercise)), 403, "role_not_allowed")
    assert_problem(admin_with_every_scope.get(f"{detail(exercise)}versions/"), 403, "role_not_allowed")
    assert_problem(admin_api.get(URL), 403)


def test_a_token_without_a_reading_scope_is_refused(catalog, call_as, clinician):
    assert_problem(call_as(clinician, ["reports"]).get(URL), 403, "insufficient_scope")


def test_anonymous_callers_are_refused(catalog, anonymous):
    assert anonymous.get(URL).status_code == 401


def test_an_unknown_exercise_is_404(catalog, call_as, clinician):
    assert_problem(call_as(clinician, READ).get(f"{URL}00000000-0000-0000-0000-000000000000/"), 404)


# ---------------------------------------------------------------- filters


def listed(caller, **params) -> set[str]:
    response = caller.get(URL, {"page_size": 200, **params})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def ids_where(predicate) -> set[str]:
    return {str(e.id) for e in Exercise.objects.select_related("current") if predicate(e.current)}


@pytest.mark.parametrize("domain", GoalDomain.values)
def test_filter_by_domain(catalog, own_exercise, call_as, clinician, domain):
    got = listed(call_as(clinician, READ), domain=domain)

    assert got  # the catalog serves every domain
    assert got == ids_where(lambda v: domain in v.domains)


@pytest.mark.parametrize("audience", Audience.values)
def test_filter_by_audience(catalog, own_exercise, client_api, audience):
    got = listed(client_api, audience=audience)

    assert got
    assert got == ids_where(lambda v: v.audience == audience)


def test_domain_and_audience_combine(catalog, call_as, clinician):
    got = listed(call_as(clinician, READ), domain="trust_rebuilding", audience="couple")

    assert got == ids_where(lambda v: "trust_rebuilding" in v.domains and v.audience == "couple")


@pytest.mark.parametrize("term", ["check-in", "LISTENING", "  promise  ", "appreciation"])
def test_search_matches_title_or_summary_case_insensitively(catalog, own_exercise, call_as, supervisor, term):
    got = listed(call_as(supervisor, READ), search=term)
    needle = term.strip().lower()

    assert got
    assert got == ids_where(lambda v: needle in v.title.lower() or needle in v.summary.lower())


def test_search_without_a_match_is_an_empty_page(catalog, call_as, clinician):
    assert listed(call_as(clinician, READ), search="zzz-no-such-words") == set()


def test_filter_catalog_or_clinicians_own(catalog, own_exercise, call_as, clinician):
    caller = call_as(clinician, READ)

    assert listed(caller, catalog="true") == {str(e.id) for e in catalog.values()}
    assert listed(caller, catalog="false") == {str(own_exercise.id)}


@pytest.mark.parametrize("params", [{"domain": "jealousy"}, {"audience": "family"}])
def test_an_unknown_filter_value_is_400_naming_it(catalog, call_as, clinician, params):
    response = call_as(clinician, READ).get(URL, params)

    assert_problem(response, 400)
    assert [e["field"] for e in response.json()["errors"]] == list(params)


# ---------------------------------------------------------------- retrieve, versions


def test_retrieve_shows_the_current_version_in_full(catalog, call_as, clinician):
    exercise = catalog["i-statement-practice"]
    version = exercise.current

    response = call_as(clinician, READ).get(detail(exercise))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["slug"] == "i-statement-practice"
    assert body["catalog"] is True
    assert body["author"] is None
    assert body["version"] == 1
    current = body["current_version"]
    assert current["id"] == str(version.id)
    assert current["number"] == 1
    assert current["title"] == version.title
    assert current["summary"] == version.summary
    assert current["steps"] == version.steps
    assert len(current["steps"]) >= 2
    assert sorted(current["domains"]) == sorted(version.domains)
    assert current["audience"] == version.audience
    assert current["suggested_frequency"] == version.suggested_frequency
    assert current["estimated_minutes"] == version.estimated_minutes
    assert current["response_fields"] == version.response_fields
    assert all({"key", "label", "type", "required"} <= set(f) for f in current["response_fields"])


def test_versions_lists_every_version_oldest_first(own_exercise, call_as, clinician, client_user):
    author = call_as(clinician, WRITE)
    assert author.patch(detail(own_exercise), {"title": "Second title"}, HTTP_IF_MATCH='"1"').status_code == 200

    response = call_as(client_user, ["homework"]).get(f"{detail(own_exercise)}versions/")

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [r["number"] for r in rows] == [1, 2]
    assert [r["title"] for r in rows] == ["Evening appreciation walk", "Second title"]
    assert [r["id"] for r in rows] == [
        str(v) for v in own_exercise.versions.order_by("number").values_list("id", flat=True)
    ]
    assert rows[0]["steps"] == rows[1]["steps"] == content()["steps"]
    assert rows[0]["response_fields"] == stored_fields(content()["response_fields"])


# ---------------------------------------------------------------- a clinician's own exercise


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.SUPERVISOR])
def test_a_clinician_or_supervisor_writes_their_own_exercise(db, call_as, role):
    author = UserFactory(role=role)

    response = call_as(author, WRITE).post(URL, content())

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"] == '"1"'
    assert body["catalog"] is False
    assert body["author"] == str(author.id)
    assert body["version"] == 1
    assert re.fullmatch(r"evening-appreciation-walk-[0-9a-f]{6}", body["slug"]), body["slug"]
    current = body["current_version"]
    assert current["number"] == 1
    expected = content()
    for name in ("title", "summary", "steps", "audience", "suggested_frequency", "estimated_minutes"):
        assert current[name] == expected[name], name
    assert sorted(current["domains"]) == sorted(expected["domains"])
    assert current["response_fields"] == stored_fields(expected["response_fields"])
    exercise = Exercise.objects.select_related("current").get(pk=body["id"])
    assert exercise.author_id == author.id
    assert exercise.slug == body["slug"]
    assert exercise.versions.count() == 1
    assert exercise.current.title == expected["title"]
    assert exercise.current.response_fields == stored_fields(expected["response_fields"])


def test_two_exercises_with_the_same_title_get_different_slugs(db, call_as, clinician):
    caller = call_as(clinician, WRITE)
    first = caller.post(URL, content()).json()
    second = caller.post(URL, content()).json()

    assert first["slug"] != second["slug"]
    assert Exercise.objects.filter(author=clinician).count() == 2


def test_a_retried_create_with_the_same_idempotency_key_stores_one_exercise(db, call_as, clinician):
    # The contract: creates accept Idempotency-Key; a retry returns the first response.
    caller = call_as(clinician, WRITE)
    first = caller.post(URL, content(), HTTP_IDEMPOTENCY_KEY="walk-1")
    retry = caller.post(URL, content(), HTTP_IDEMPOTENCY_KEY="walk-1")

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Exercise.objects.filter(author=clinician).count() == 1


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"title": ""}, {"title"}),
        ({"steps": []}, {"steps"}),
        ({"domains": ["jealousy"]}, {"domains.0"}),
        ({"domains": []}, {"domains"}),
        ({"audience": "family"}, {"audience"}),
        ({"suggested_frequency": "hourly"}, {"suggested_frequency"}),
        ({"estimated_minutes": 0}, {"estimated_minutes"}),
        ({"response_fields": []}, {"response_fields"}),
        ({"response_fields": [{"key": "Bad Key", "label": "L", "type": "text"}]}, {"response_fields.0.key"}),
        ({"response_fields": [{"key": "a", "label": "L", "type": "number"}]}, {"response_fields.0.type"}),
        ({"response_fields": [{"key": "a", "label": "L", "type": "scale", "min": 5, "max": 1}]}, {"response_fields.0"}),
        (
            {"response_fields": [{"key": "a", "label": "L", "type": "single_choice", "options": ["x"]}]},
            {"response_fields.0"},
        ),
        (
            {
                "response_fields": [
                    {"key": "a", "label": "L", "type": "text"},
                    {"key": "a", "label": "Again", "type": "boolean"},
                ]
            },
            {"response_fields.1"},
        ),
        ({"title": "", "estimated_minutes": 601, "audience": "family"}, {"title", "estimated_minutes", "audience"}),
    ],
)
def test_invalid_content_is_400_naming_the_fields_and_creates_nothing(db, call_as, clinician, overrides, fields):
    response = call_as(clinician, WRITE).post(URL, content(**overrides))

    assert_problem(response, 400)
    assert {e["field"] for e in response.json()["errors"]} == fields
    assert library_size() == (0, 0)


def test_text_of_only_white_space_is_400_and_the_schema_says_so(db, call_as, clinician):
    # Found by the contract fuzzer: "\r" and "\x1c" met the schema's minLength 1, but DRF trims them to "" and
    # refuses them. The schema's pattern now says which characters count as white space.
    response = call_as(clinician, WRITE).post(URL, content(title="  \r ", summary="\x1c\x85", steps=["\t"]))

    assert_problem(response, 400)
    assert {e["field"] for e in response.json()["errors"]} == {"title", "summary", "steps.0"}
    assert library_size() == (0, 0)
    request = yaml.safe_load(schema.SCHEMA_FILE.read_text())["components"]["schemas"]["ExerciseContentRequest"]
    pattern = request["properties"]["title"]["pattern"]
    assert request["properties"]["steps"]["items"]["pattern"] == pattern
    assert not any(re.search(pattern, text) for text in ("  \r ", "\x1c\x85", "\t", "\u3000"))
    assert all(re.search(pattern, text) for text in ("Walk", " x ", "\ufeff"))


def test_missing_content_is_400_naming_every_missing_field(db, call_as, clinician):
    response = call_as(clinician, WRITE).post(URL, {"title": "Only a title"})

    assert_problem(response, 400)
    assert {e["field"] for e in response.json()["errors"]} == {
        "summary",
        "steps",
        "domains",
        "audience",
        "suggested_frequency",
        "estimated_minutes",
        "response_fields",
    }
    assert library_size() == (0, 0)


@pytest.mark.parametrize(
    ("role", "scopes", "code"),
    [
        (Role.CLIENT, ["homework"], "insufficient_scope"),
        (Role.CLIENT, ALL_SCOPES, "role_not_allowed"),
        (Role.ADMIN, ALL_SCOPES, "role_not_allowed"),
        (Role.CLINICIAN, READ, "insufficient_scope"),
    ],
)
def test_who_may_not_create(catalog, call_as, role, scopes, code):
    before = library_size()

    response = call_as(UserFactory(role=role), scopes).post(URL, content())

    assert_problem(response, 403, code)
    assert library_size() == before


# ---------------------------------------------------------------- revising one's own exercise


def test_patch_needs_if_match_and_changes_nothing_without_it(own_exercise, call_as, clinician):
    before = rows_of(own_exercise.id)

    response = call_as(clinician, WRITE).patch(detail(own_exercise), {"title": "New"})

    assert_problem(response, 428, "precondition_required")
    assert rows_of(own_exercise.id) == before


@pytest.mark.parametrize("etag", ['"0"', '"2"', 'W/"1"', "1"])
def test_patch_with_a_stale_or_foreign_etag_is_412_and_changes_nothing(own_exercise, call_as, clinician, etag):
    before = rows_of(own_exercise.id)

    response = call_as(clinician, WRITE).patch(detail(own_exercise), {"title": "New"}, HTTP_IF_MATCH=etag)

    assert_problem(response, 412, "stale_version")
    assert rows_of(own_exercise.id) == before


def test_patch_that_changes_the_text_makes_version_two(own_exercise, call_as, clinician):
    old = rows_of(own_exercise.id)["versions"][0]
    new_steps = ["Walk somewhere new.", "Name one thing you appreciated."]

    response = call_as(clinician, WRITE).patch(
        detail(own_exercise), {"title": "Morning appreciation walk", "steps": new_steps}, HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    body = response.json()
    assert body["version"] == 2
    assert body["slug"] == "evening-walk-abc123"  # the slug is stable
    current = body["current_version"]
    assert current["number"] == 2
    assert current["title"] == "Morning appreciation walk"
    assert current["steps"] == new_steps
    # Untouched parts carry over.
    assert current["summary"] == content()["summary"]
    assert current["response_fields"] == stored_fields(content()["response_fields"])
    after = rows_of(own_exercise.id)
    assert [v["number"] for v in after["versions"]] == [1, 2]
    assert after["versions"][0] == old
    assert after["exercise"]["current_id"] == after["versions"][1]["id"]
    assert after["exercise"]["author_id"] == clinician.id


def test_patch_that_changes_nothing_makes_no_version(own_exercise, call_as, clinician):
    caller = call_as(clinician, WRITE)
    before = rows_of(own_exercise.id)

    for body in (
        {"title": "Evening appreciation walk"},
        {},
        {"domains": ["communication", "emotional_intimacy"]},  # the same set, other order
        {"response_fields": [{"required": True, **f} for f in content()["response_fields"]]},
    ):
        response = caller.patch(detail(own_exercise), body, HTTP_IF_MATCH='"1"')
        assert response.status_code == 200, (body, response.content)
        assert response.json()["version"] == 1
        assert response.json()["current_version"]["number"] == 1
        assert response["ETag"] == '"1"'

    assert rows_of(own_exercise.id) == before


def test_patch_of_response_fields_replaces_them_as_a_new_version(own_exercise, call_as, clinician):
    fields = [{"key": "done", "label": "Did you walk?", "type": "boolean"}]

    response = call_as(clinician, WRITE).patch(detail(own_exercise), {"response_fields": fields}, HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    assert response.json()["current_version"]["response_fields"] == stored_fields(fields)
    assert own_exercise.versions.count() == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"estimated_minutes": 0}, {"estimated_minutes"}),
        ({"steps": []}, {"steps"}),
        ({"response_fields": [{"key": "a", "label": "L", "type": "scale", "min": 3, "max": 3}]}, {"response_fields.0"}),
        ({"response_fields": [{"label": "No key or type"}]}, {"response_fields.0"}),
    ],
)
def test_invalid_patch_is_400_and_changes_nothing(own_exercise, call_as, clinician, body, fields):
    before = rows_of(own_exercise.id)

    response = call_as(clinician, WRITE).patch(detail(own_exercise), body, HTTP_IF_MATCH='"1"')

    assert_problem(response, 400)
    assert {e["field"] for e in response.json()["errors"]} == fields
    assert rows_of(own_exercise.id) == before


def test_another_clinician_may_not_revise_it(own_exercise, call_as, other_clinician, supervisor):
    before = rows_of(own_exercise.id)

    for someone_else in (other_clinician, supervisor):  # not even the author's supervisor
        response = call_as(someone_else, WRITE).patch(detail(own_exercise), {"title": "Mine now"}, HTTP_IF_MATCH='"1"')
        assert_problem(response, 403, "not_exercise_author")

    assert rows_of(own_exercise.id) == before


def test_a_catalog_exercise_cannot_be_revised_through_the_api(catalog, call_as, clinician):
    exercise = catalog["weekly-relationship-check-in"]
    before = rows_of(exercise.id)

    response = call_as(clinician, WRITE).patch(detail(exercise), {"title": "Daily check-in"}, HTTP_IF_MATCH='"1"')

    assert_problem(response, 403, "not_exercise_author")
    assert rows_of(exercise.id) == before


def test_a_client_may_not_revise(own_exercise, call_as, client_user):
    before = rows_of(own_exercise.id)

    response = call_as(client_user, ALL_SCOPES).patch(detail(own_exercise), {"title": "X"}, HTTP_IF_MATCH='"1"')

    assert_problem(response, 403, "role_not_allowed")
    assert rows_of(own_exercise.id) == before


def test_delete_and_put_are_not_offered(own_exercise, call_as, clinician):
    caller = call_as(clinician, WRITE)

    assert caller.delete(detail(own_exercise)).status_code == 405
    assert caller.put(detail(own_exercise), content(), HTTP_IF_MATCH='"1"').status_code == 405
    assert rows_of(own_exercise.id)["versions"][0]["number"] == 1


# ---------------------------------------------------------------- query counts


def publish(n: int, author, start: int = 0):
    for i in range(start, start + n):
        exercise_publish(slug=f"exercise-{i}", content=content(title=f"Exercise {i}"), author=author)


@pytest.mark.parametrize(("role", "scopes"), [(Role.CLINICIAN, READ), (Role.CLIENT, ["homework"])])
def test_list_query_count_is_the_same_for_1_and_20_exercises(db, call_as, count_queries, other_clinician, role, scopes):
    caller = call_as(UserFactory(role=role), scopes)
    publish(1, other_clinician)
    one = count_queries(lambda: caller.get(URL))
    publish(19, other_clinician, start=1)
    many = count_queries(lambda: caller.get(URL))

    assert one == many
    assert len(caller.get(URL).json()["results"]) == 20


def test_filtered_list_query_count_is_the_same_for_1_and_20_exercises(db, call_as, count_queries, clinician):
    caller = call_as(clinician, READ)
    params = {"domain": "communication", "audience": "couple", "search": "exercise", "catalog": "false"}
    publish(1, clinician)
    one = count_queries(lambda: caller.get(URL, params))
    publish(19, clinician, start=1)
    many = count_queries(lambda: caller.get(URL, params))

    assert one == many
    assert len(caller.get(URL, params).json()["results"]) == 20


def test_versions_query_count_is_the_same_for_1_and_20_versions(own_exercise, call_as, count_queries, clinician):
    caller = call_as(clinician, READ)
    url = f"{detail(own_exercise)}versions/"
    one = count_queries(lambda: caller.get(url))
    for i in range(2, 21):
        exercise_publish(slug=own_exercise.slug, content=content(title=f"Take {i}"), author=clinician)
    many = count_queries(lambda: caller.get(url))

    assert one == many
    assert [r["number"] for r in caller.get(url).json()["results"]] == list(range(1, 21))


# ---------------------------------------------------------------- publishing is audited


def test_writing_and_revising_an_exercise_is_audited_with_its_author(db, call_as, clinician):
    from clinical.models import AuditEvent

    caller = call_as(clinician, WRITE)
    created = caller.post(URL, content()).json()
    caller.patch(f"{URL}{created['id']}/", {"title": "Morning walk"}, HTTP_IF_MATCH='"1"')
    caller.patch(f"{URL}{created['id']}/", {"title": "Morning walk"}, HTTP_IF_MATCH='"2"')  # no change: no event

    events = AuditEvent.objects.filter(object_type="exercise").order_by("id")
    assert [(e.action, e.actor_id, e.object_ids, e.detail) for e in events] == [
        ("create", clinician.pk, [Exercise.objects.get().pk], {}),
        ("update", clinician.pk, [Exercise.objects.get().pk], {"version": 2}),
    ]


def test_loading_the_catalog_is_audited_once_per_change_with_no_actor(db):
    from clinical.models import AuditEvent
    from exercises.services import catalog_load

    catalog_load()
    catalog_load()  # nothing changed: nothing to record

    [event] = AuditEvent.objects.filter(object_type="exercise")
    assert (event.action, event.actor_id) == ("publish", None)
    assert sorted(event.object_ids) == sorted(Exercise.objects.values_list("pk", flat=True))
    assert event.detail == {"catalog": True, "created": Exercise.objects.count(), "changed": 0}
