"""Publishing outcome measures: the built-in definitions loaded like the exercise catalog, a practice's own
published by its admins, each change a new immutable version. Reading them: clinical.selectors (published
measures) and clinical.instruments.measure_of (a version's measure)."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from clinical import instruments
from clinical.models import Instrument, InstrumentVersion
from kernel.audit import audit_append
from kernel.errors import InvalidInput


def invalid_measure(problems: dict[str, list[str]]) -> InvalidInput:
    return InvalidInput(problems, detail="The measure's definition is not valid.")


@transaction.atomic
def instrument_publish(
    *, definition: dict, author=None, builtin: bool = False, release: bool = False
) -> tuple[Instrument, bool]:
    """Create the measure or give it a new version when its definition changed. Returns (instrument, changed).
    A practice's measure cannot take a built-in's code, nor a built-in a practice's (`builtin`). `release`: the
    definitions file publishing (builtin_load), which publishes a text only once, so that a version an admin
    published later (a CSI-4 with the reliable-change parameters of a source the practice holds) stays current
    until the file itself changes."""
    problems = instruments.definition_problems(definition)
    if problems:
        raise invalid_measure(problems)
    digest = instruments.content_hash(definition)
    instrument, created = Instrument.objects.select_for_update().get_or_create(
        code=definition["code"], defaults={"author": author}
    )
    if not created and (instrument.author_id is None) != builtin:
        raise InvalidInput({"code": ["Another measure already has this code."]})
    current = instrument.current
    if current is not None and current.content_hash == digest:
        return instrument, False
    if release and instrument.versions.filter(content_hash=digest).exists():
        return instrument, False
    version = InstrumentVersion.objects.create(
        instrument=instrument,
        number=(current.number + 1) if current else 1,
        definition=definition,
        content_hash=digest,
        published_by=author,
    )
    instrument.current = version
    if current is not None:
        instrument.version += 1
        instrument.updated_at = timezone.now()
    instrument.save()
    return instrument, True


@dataclass
class LoadReport:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def builtin_publish() -> tuple[LoadReport, list]:
    """Publish what of the built-in definitions is not published yet: (what it did, the instruments it changed)."""
    report = LoadReport()
    published = []
    for definition in instruments.builtin_definitions():
        existed = Instrument.objects.filter(code=definition.get("code")).exists()
        instrument, changed = instrument_publish(definition=definition, builtin=True, release=True)
        if not existed:
            report.created += 1
        elif changed:
            report.changed += 1
        else:
            report.unchanged += 1
        if changed:
            published.append(instrument.pk)
    return report, published


@transaction.atomic
def builtin_load() -> LoadReport:
    """Publish the built-in measures (clinical/instrument_definitions.yaml) idempotently: a changed definition
    becomes a new version, which new assessments are scored with; old ones keep theirs. What it published is
    appended to the audit trail (no actor: the practice's own release)."""
    report, published = builtin_publish()
    if published:
        audit_append(actor=None, action="publish", object_type="instrument", object_ids=published)
    return report
