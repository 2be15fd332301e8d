"""The curated catalog (exercises/catalog.yaml) and its loader: complete, valid, idempotent, versioned, and
all-or-nothing; versions are immutable rows, and homework keeps the version it was given."""

import copy
import io
import re
from datetime import date

import pytest
import yaml
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction

from clinical.models import Client, GoalDomain, Role
from clinical.services.homework import assignment_create
from exercises.models import Audience, Exercise, ExerciseVersion, Frequency
from exercises.responses import FIELD_TYPES, definition_problems, response_problems
from exercises.services import CONTENT_FIELDS, CatalogReport, catalog_entries, catalog_load, content_problems
from kernel.errors import InvalidInput
from tests.factories import CaseFactory, UserFactory

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
REFUSED = "Cannot update or delete rows from exercises_exerciseversion"
CHANGED = "i-statement-practice"  # audience "either": it can be assigned on an individual case


def entries() -> list[dict]:
    return catalog_entries()


def entry_of(catalog: list[dict], slug: str) -> dict:
    return next(e for e in catalog if e["slug"] == slug)


def write_catalog(tmp_path, catalog: list[dict], name="catalog.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False))
    return path


def load_command() -> str:
    out = io.StringIO()
    call_command("load_exercises", stdout=out)
    return out.getvalue().strip()


def snapshot() -> dict:
    """Every exercise and every version row, as stored."""
    return {
        "exercises": {e["id"]: e for e in Exercise.objects.values()},
        "versions": {v["id"]: v for v in ExerciseVersion.objects.values()},
    }


def sample_answer(field: dict):
    return {
        "text": "A short answer.",
        "long_text": "A longer answer.\nOver two lines.",
        "scale": field.get("max"),
        "boolean": True,
        "single_choice": (field.get("options") or [None])[0],
        "multi_choice": (field.get("options") or [])[:2],
        "date": "2026-03-14",
    }[field["type"]]


# ---------------------------------------------------------------- the shipped catalog


def test_the_catalog_file_is_complete_and_every_entry_is_valid():
    catalog = entries()

    assert len(catalog) >= 18
    slugs = [e["slug"] for e in catalog]
    assert len(set(slugs)) == len(slugs)
    for entry in catalog:
        assert SLUG.match(entry["slug"]), entry["slug"]
        assert len(entry["slug"]) <= 80, entry["slug"]
        content = {k: v for k, v in entry.items() if k != "slug"}
        assert set(content) == set(CONTENT_FIELDS), entry["slug"]
        assert content_problems(content) == {}, entry["slug"]
        assert definition_problems(content["response_fields"]) == {}, entry["slug"]
        assert len(content["steps"]) >= 2, entry["slug"]
    # Every goal domain, audience, frequency and field type is served somewhere.
    assert {d for e in catalog for d in e["domains"]} == set(GoalDomain.values)
    assert {e["audience"] for e in catalog} == set(Audience.values)
    assert {e["suggested_frequency"] for e in catalog} == set(Frequency.values)
    assert {f["type"] for e in catalog for f in e["response_fields"]} == set(FIELD_TYPES)


def test_load_exercises_loads_every_entry_as_a_first_version(db):
    assert Exercise.objects.count() == 0
    catalog = entries()

    output = load_command()

    assert output == f"exercise catalog: {len(catalog)} new, 0 new versions, 0 unchanged"
    assert Exercise.objects.count() == len(catalog)
    assert ExerciseVersion.objects.count() == len(catalog)
    stored = {e.slug: e for e in Exercise.objects.select_related("current")}
    assert set(stored) == {e["slug"] for e in catalog}
    for entry in catalog:
        exercise = stored[entry["slug"]]
        version = exercise.current
        assert exercise.author_id is None
        assert exercise.version == 1
        assert version.number == 1
        assert version.exercise_id == exercise.id
        assert version.title == entry["title"]
        assert version.summary == entry["summary"]
        assert version.steps == entry["steps"]
        assert sorted(version.domains) == sorted(set(entry["domains"]))
        assert version.audience == entry["audience"]
        assert version.suggested_frequency == entry["suggested_frequency"]
        assert version.estimated_minutes == entry["estimated_minutes"]
        # Stored with `required` spelled out; otherwise as written, in order.
        assert version.response_fields == [{"required": True, **f} for f in entry["response_fields"]]
        # The validator accepts a complete answer to every stored field, and refuses an empty one when
        # something is required.
        answers = {f["key"]: sample_answer(f) for f in version.response_fields}
        assert response_problems(version.response_fields, answers) == {}, entry["slug"]
        required = {f["key"] for f in version.response_fields if f["required"]}
        assert required, entry["slug"]
        assert set(response_problems(version.response_fields, {})) == required


def test_loading_twice_creates_nothing(db):
    load_command()
    before = snapshot()

    output = load_command()

    assert output == f"exercise catalog: 0 new, 0 new versions, {len(entries())} unchanged"
    assert snapshot() == before


def test_catalog_load_reports_what_it_did(db):
    n = len(entries())
    assert catalog_load() == CatalogReport(created=n, changed=0, unchanged=0)
    assert catalog_load() == CatalogReport(created=0, changed=0, unchanged=n)


def test_a_rewrite_that_keeps_the_content_creates_nothing(db, tmp_path):
    # Other key order, domains in another order, `required: true` spelled out: the same content.
    catalog_load()
    before = snapshot()
    rewritten = []
    for entry in entries():
        entry = dict(reversed(list(entry.items())))
        entry["domains"] = list(reversed(entry["domains"]))
        entry["response_fields"] = [{"required": True, **f} for f in entry["response_fields"]]
        rewritten.append(entry)

    report = catalog_load(write_catalog(tmp_path, rewritten))

    assert report == CatalogReport(created=0, changed=0, unchanged=len(rewritten))
    assert snapshot() == before


# ---------------------------------------------------------------- a changed text


def change_title(entry):
    entry["title"] = entry["title"] + " (revised)"


def change_step(entry):
    entry["steps"][1] = "Say it to yourself first, then once more, slowly."


def change_field_label(entry):
    entry["response_fields"][0]["label"] = "What did you used to say?"


def add_field(entry):
    entry["response_fields"].append({"key": "next_time", "label": "Next time I will", "type": "text"})


def change_minutes(entry):
    entry["estimated_minutes"] += 5


def make_optional(entry):
    entry["response_fields"][0]["required"] = False


@pytest.mark.parametrize(
    "change", [change_title, change_step, change_field_label, add_field, change_minutes, make_optional]
)
def test_a_changed_text_makes_one_new_version_of_that_exercise_only(db, tmp_path, change):
    catalog_load()
    before = snapshot()
    exercise = Exercise.objects.get(slug=CHANGED)
    old = exercise.current
    catalog = entries()
    change(entry_of(catalog, CHANGED))

    report = catalog_load(write_catalog(tmp_path, catalog))

    assert report == CatalogReport(created=0, changed=1, unchanged=len(catalog) - 1)
    after = snapshot()
    assert Exercise.objects.count() == len(catalog)
    new_ids = set(after["versions"]) - set(before["versions"])
    assert len(new_ids) == 1
    new = ExerciseVersion.objects.get(pk=new_ids.pop())
    assert new.exercise_id == exercise.id
    assert new.number == 2
    expected = {k: v for k, v in entry_of(catalog, CHANGED).items() if k != "slug"}
    assert new.title == expected["title"]
    assert new.steps == expected["steps"]
    assert new.estimated_minutes == expected["estimated_minutes"]
    assert new.response_fields == [{"required": True, **f} for f in expected["response_fields"]]
    assert new.content_hash != old.content_hash
    # `current` moves; the exercise's version (its ETag) goes up.
    exercise.refresh_from_db()
    assert exercise.current_id == new.id
    assert exercise.version == 2
    assert exercise.updated_at > before["exercises"][exercise.id]["updated_at"]
    # The old version row is exactly as it was, and every other exercise is untouched.
    assert after["versions"][old.id] == before["versions"][old.id]
    assert {k: v for k, v in after["versions"].items() if k != new.id} == before["versions"]
    assert {k: v for k, v in after["exercises"].items() if k != exercise.id} == {
        k: v for k, v in before["exercises"].items() if k != exercise.id
    }


def test_an_unchanged_reload_after_a_change_creates_nothing(db, tmp_path):
    catalog_load()
    catalog = entries()
    change_title(entry_of(catalog, CHANGED))
    path = write_catalog(tmp_path, catalog)
    catalog_load(path)
    before = snapshot()

    report = catalog_load(path)

    assert report == CatalogReport(created=0, changed=0, unchanged=len(catalog))
    assert snapshot() == before
    assert Exercise.objects.get(slug=CHANGED).current.number == 2


def test_going_back_to_an_earlier_text_is_a_new_version_too(db, tmp_path):
    catalog_load()
    catalog = entries()
    change_title(entry_of(catalog, CHANGED))
    catalog_load(write_catalog(tmp_path, catalog))

    report = catalog_load()  # the shipped file again

    assert report == CatalogReport(created=0, changed=1, unchanged=len(catalog) - 1)
    exercise = Exercise.objects.select_related("current").get(slug=CHANGED)
    assert list(exercise.versions.order_by("number").values_list("number", flat=True)) == [1, 2, 3]
    first = exercise.versions.get(number=1)
    assert exercise.current.number == 3
    assert exercise.current.title == first.title
    assert exercise.current.content_hash == first.content_hash
    assert exercise.version == 3


def test_a_new_entry_is_created_and_the_others_left_alone(db, tmp_path):
    catalog_load()
    before = snapshot()
    catalog = entries()
    extra = copy.deepcopy(entry_of(catalog, CHANGED))
    extra["slug"] = "i-statement-practice-for-two"
    catalog.append(extra)

    report = catalog_load(write_catalog(tmp_path, catalog))

    assert report == CatalogReport(created=1, changed=0, unchanged=len(catalog) - 1)
    after = snapshot()
    assert len(after["exercises"]) == len(before["exercises"]) + 1
    assert {k: after["versions"][k] for k in before["versions"]} == before["versions"]
    assert Exercise.objects.get(slug="i-statement-practice-for-two").current.number == 1


# ---------------------------------------------------------------- an invalid catalog writes nothing


def bad_scale(catalog):
    fields = catalog[-1]["response_fields"]
    fields.append({"key": "broken", "label": "Broken", "type": "scale", "min": 5, "max": 1})
    return {f"{catalog[-1]['slug']}.response_fields.{len(fields) - 1}"}


def unknown_field_type(catalog):
    catalog[-1]["response_fields"][0]["type"] = "number"
    return {f"{catalog[-1]['slug']}.response_fields.0"}


def missing_summary(catalog):
    del catalog[-1]["summary"]
    return {f"{catalog[-1]['slug']}.summary"}


def unknown_domain(catalog):
    catalog[-1]["domains"] = ["jealousy"]
    return {f"{catalog[-1]['slug']}.domains"}


def duplicate_slug(catalog):
    catalog.append(copy.deepcopy(catalog[0]))
    return {"slug"}


INVALID = [bad_scale, unknown_field_type, missing_summary, unknown_domain, duplicate_slug]


@pytest.mark.parametrize("breakage", INVALID)
def test_an_invalid_catalog_raises_and_writes_nothing_into_an_empty_library(db, tmp_path, breakage):
    catalog = entries()
    expected_problems = breakage(catalog)

    with pytest.raises(InvalidInput) as raised:
        catalog_load(write_catalog(tmp_path, catalog))

    assert set(raised.value.errors) == expected_problems
    assert Exercise.objects.count() == 0
    assert ExerciseVersion.objects.count() == 0


@pytest.mark.parametrize("breakage", INVALID)
def test_an_invalid_catalog_does_not_half_apply_its_changes(db, tmp_path, breakage):
    # The first entry changes (valid) and a later one is broken: the valid change must not be kept either.
    catalog_load()
    before = snapshot()
    catalog = entries()
    change_title(catalog[0])
    breakage(catalog)

    with pytest.raises(InvalidInput):
        catalog_load(write_catalog(tmp_path, catalog))

    assert snapshot() == before


def test_the_duplicate_slug_is_named(db, tmp_path):
    catalog = entries()
    catalog.append(copy.deepcopy(entry_of(catalog, CHANGED)))

    with pytest.raises(InvalidInput) as raised:
        catalog_load(write_catalog(tmp_path, catalog))

    assert raised.value.errors == {"slug": [f"Used twice in the catalog: {CHANGED}."]}


# ---------------------------------------------------------------- versions are immutable rows


def test_a_version_row_cannot_be_updated_in_the_database(catalog):
    version = catalog[CHANGED].current
    before = ExerciseVersion.objects.filter(pk=version.pk).values().get()

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        ExerciseVersion.objects.filter(pk=version.pk).update(title="Rewritten behind everyone's back")

    version.steps = ["changed"]
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        version.save()

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE exercises_exerciseversion SET estimated_minutes = 1 WHERE id = %s", [version.pk])

    assert ExerciseVersion.objects.filter(pk=version.pk).values().get() == before


def test_a_version_row_cannot_be_deleted_in_the_database(catalog, tmp_path):
    # Even a version no longer current (so nothing in Django protects it) stays.
    changed = entries()
    change_title(entry_of(changed, CHANGED))
    catalog_load(write_catalog(tmp_path, changed))
    old = catalog[CHANGED].current
    assert Exercise.objects.get(slug=CHANGED).current_id != old.pk
    count = ExerciseVersion.objects.count()

    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM exercises_exerciseversion WHERE id = %s", [old.pk])

    assert ExerciseVersion.objects.count() == count
    assert ExerciseVersion.objects.filter(pk=old.pk).values().get()["title"] == old.title


# ---------------------------------------------------------------- homework keeps its version


def test_an_assignment_keeps_its_pinned_version_after_the_catalog_changes(catalog, call_as, clinician, tmp_path):
    client_user = UserFactory(role=Role.CLIENT)
    case = CaseFactory(clinician=clinician)
    Client.objects.filter(pk=case.client_id).update(user=client_user)
    case.client.refresh_from_db()
    first = catalog[CHANGED]
    v1 = first.current
    old = assignment_create(
        actor=clinician, case=case, exercise=first, assignees=[case.client], start_date=date(2026, 1, 5)
    )
    assert old.exercise_version_id == v1.id

    changed_catalog = entries()
    entry = entry_of(changed_catalog, CHANGED)
    change_title(entry)
    change_step(entry)
    add_field(entry)
    catalog_load(write_catalog(tmp_path, changed_catalog))
    exercise = Exercise.objects.select_related("current").get(pk=first.pk)
    v2 = exercise.current
    assert v2.number == 2
    new = assignment_create(actor=clinician, case=case, exercise=exercise, assignees=[case.client])
    assert new.exercise_version_id == v2.id

    response = call_as(client_user, ["homework"]).get("/api/v1/me/assignments/")

    assert response.status_code == 200, response.content
    shown = {row["id"]: row["exercise_version"] for row in response.json()["results"]}
    assert set(shown) == {str(old.id), str(new.id)}
    given = shown[str(old.id)]
    assert given["id"] == str(v1.id)
    assert given["number"] == 1
    assert given["title"] == v1.title
    assert given["steps"] == v1.steps
    assert given["response_fields"] == v1.response_fields
    assert "next_time" not in {f["key"] for f in given["response_fields"]}
    later = shown[str(new.id)]
    assert later["id"] == str(v2.id)
    assert later["number"] == 2
    assert later["title"] == entry["title"]
    assert later["steps"] == entry["steps"]
    assert later["response_fields"][-1]["key"] == "next_time"
    old.refresh_from_db()
    assert old.exercise_version_id == v1.id
