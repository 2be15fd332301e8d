"""Writing the exercise library: the curated catalog and clinicians' own exercises. Every content change
makes a new immutable version; an unchanged text makes nothing."""

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from kernel.audit import audit_append
from kernel.changes import lock_at_version
from kernel.errors import InvalidInput, NotAllowed
from kernel.models import GoalDomain

from .models import Audience, Exercise, ExerciseVersion, Frequency
from .responses import definition_problems

CATALOG_FILE = Path(__file__).resolve().parent / "catalog.yaml"
CONTENT_FIELDS = (
    "title",
    "summary",
    "steps",
    "domains",
    "audience",
    "suggested_frequency",
    "estimated_minutes",
    "response_fields",
)


def content_problems(content: dict) -> dict[str, list[str]]:
    """Every problem with an exercise's content, by field."""
    problems: dict[str, list[str]] = {}
    missing = [name for name in CONTENT_FIELDS if name not in content]
    for name in missing:
        problems[name] = ["Required."]
    for name in set(content) - set(CONTENT_FIELDS):
        problems[name] = ["Not part of an exercise."]
    if not isinstance(content.get("title", ""), str) or not content.get("title", "x").strip():
        problems["title"] = ["A non-empty title."]
    if not isinstance(content.get("summary", ""), str) or not content.get("summary", "x").strip():
        problems["summary"] = ["A non-empty summary."]
    steps = content.get("steps", ["x"])
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        problems["steps"] = ["An ordered, non-empty list of non-empty texts."]
    domains = content.get("domains", ["other"])
    if not isinstance(domains, list) or not domains or not set(domains) <= set(GoalDomain.values):
        problems["domains"] = [f"A non-empty list from: {', '.join(GoalDomain.values)}."]
    if content.get("audience", Audience.EITHER) not in Audience.values:
        problems["audience"] = [f"One of: {', '.join(Audience.values)}."]
    if content.get("suggested_frequency", Frequency.ONCE) not in Frequency.values:
        problems["suggested_frequency"] = [f"One of: {', '.join(Frequency.values)}."]
    minutes = content.get("estimated_minutes", 1)
    if type(minutes) is not int or not 1 <= minutes <= 600:
        problems["estimated_minutes"] = ["Whole minutes, 1 to 600."]
    if "response_fields" in content:
        problems.update(definition_problems(content["response_fields"]))
    return problems


def invalid_exercise(problems: dict[str, list[str]]) -> InvalidInput:
    return InvalidInput(problems, detail="The exercise is not valid.")


def content_hash(content: dict) -> str:
    canonical = json.dumps({k: content[k] for k in CONTENT_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _normalised(content: dict) -> dict:
    content = {k: content[k] for k in CONTENT_FIELDS}
    content["domains"] = sorted(set(content["domains"]))
    content["response_fields"] = [{"required": True, **field} for field in content["response_fields"]]
    return content


@transaction.atomic
def exercise_publish(*, slug: str, content: dict, author=None) -> tuple[Exercise, bool]:
    """Create the exercise or give it a new version when its content changed. Returns (exercise, changed)."""
    problems = content_problems(content)
    if problems:
        raise invalid_exercise(problems)
    content = _normalised(content)
    digest = content_hash(content)
    exercise, _ = Exercise.objects.select_for_update().get_or_create(slug=slug, defaults={"author": author})
    current = exercise.current
    if current is not None and current.content_hash == digest:
        return exercise, False
    number = (current.number + 1) if current else 1
    version = ExerciseVersion.objects.create(exercise=exercise, number=number, content_hash=digest, **content)
    exercise.current = version
    if current is not None:  # a revision, not the first text
        exercise.version += 1
        exercise.updated_at = timezone.now()
    exercise.save()
    return exercise, True


@dataclass
class CatalogReport:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def catalog_entries(path: Path = CATALOG_FILE) -> list[dict]:
    return yaml.safe_load(path.read_text())


@transaction.atomic
def catalog_load(path: Path = CATALOG_FILE) -> CatalogReport:
    """Load the curated catalog idempotently: new exercises, new versions of changed ones, nothing else. What it
    published is appended to the audit trail (no actor: the practice's own release, not a person)."""
    report = CatalogReport()
    entries = catalog_entries(path)
    slugs = [entry.get("slug") for entry in entries]
    duplicates = {slug for slug in slugs if slugs.count(slug) > 1}
    if duplicates:
        raise invalid_exercise({"slug": [f"Used twice in the catalog: {', '.join(sorted(duplicates))}."]})
    taken = set(Exercise.objects.filter(slug__in=slugs, author__isnull=False).values_list("slug", flat=True))
    if taken:
        raise invalid_exercise({"slug": [f"Already used by a clinician's own exercise: {', '.join(sorted(taken))}."]})
    published = []
    for entry in entries:
        entry = dict(entry)
        slug = entry.pop("slug")
        existed = Exercise.objects.filter(slug=slug).exists()
        try:
            exercise, changed = exercise_publish(slug=slug, content=entry)
        except InvalidInput as exc:
            raise invalid_exercise({f"{slug}.{k}": v for k, v in exc.errors.items()}) from exc
        if not existed:
            report.created += 1
        elif changed:
            report.changed += 1
        else:
            report.unchanged += 1
        if changed:
            published.append(exercise.pk)
    if published:
        audit_append(
            actor=None,
            action="publish",
            object_type="exercise",
            object_ids=published,
            detail={"catalog": True, "created": report.created, "changed": report.changed},
        )
    return report


def current_content(exercise: Exercise) -> dict:
    return {name: getattr(exercise.current, name) for name in CONTENT_FIELDS}


@transaction.atomic
def exercise_create(*, actor, **content) -> Exercise:
    """A clinician's own exercise, in the catalog's format, shared with the practice. Always a new exercise,
    never a version of an existing one."""
    problems = content_problems(content)
    if problems:
        raise invalid_exercise(problems)
    while True:
        slug = f"{slugify(content.get('title') or 'exercise')[:60]}-{secrets.token_hex(3)}"
        if not Exercise.objects.filter(slug=slug).exists():
            break
    Exercise.objects.create(slug=slug, author=actor)
    exercise, _ = exercise_publish(slug=slug, content=content, author=actor)
    audit_append(actor=actor, action="create", object_type="exercise", object_ids=[exercise.pk])
    return exercise


@transaction.atomic
def exercise_revise(*, actor, exercise: Exercise, expected_version: int | None, **changes) -> Exercise:
    """Its author changes a clinician-written exercise: a new version if the content changed. Assignments
    already given keep their version."""
    locked = lock_at_version(exercise, expected_version=expected_version)
    if locked.author_id is None or locked.author_id != actor.pk:
        raise NotAllowed("Only the clinician who wrote this exercise can change it.", code="not_exercise_author")
    exercise, changed = exercise_publish(slug=locked.slug, content={**current_content(locked), **changes})
    if changed:
        audit_append(
            actor=actor,
            action="update",
            object_type="exercise",
            object_ids=[exercise.pk],
            detail={"version": exercise.current.number},
        )
    return exercise
