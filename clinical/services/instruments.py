"""Publishing outcome measures: the built-in definitions loaded like the exercise catalog, a practice's own
published by its admins, each change a new immutable version. Reading them: clinical.selectors (published
measures and their versions) and clinical.instruments.measure_of (a version's measure)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical import instruments
from clinical.models import Instrument, InstrumentVersion
from kernel.audit import audit_append
from kernel.errors import Conflict, InvalidInput


def invalid_measure(problems: dict[str, list[str]]) -> InvalidInput:
    return InvalidInput(problems, detail="The measure's definition is not valid.")


@transaction.atomic
def instrument_publish(
    *, definition: dict, author=None, builtin: bool = False, release: bool = False, published_by=None
) -> tuple[Instrument, bool]:
    """Create the measure or give it a new version when its definition changed. Returns (instrument, changed).
    A practice's measure cannot take a built-in's code, nor a built-in a practice's (`builtin`). `release`: the
    definitions file publishing (builtin_load), which publishes a text only once, so that a version an admin
    published later (a CSI-4 with the reliable-change parameters of a source the practice holds) stays current
    until the file itself changes. `published_by`: who publishes this version, where that is not the measure's
    author (an admin's new version of a built-in measure, or of another admin's); the author by default."""
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
        published_by=published_by or author,
    )
    instrument.current = version
    if current is not None:
        instrument.version += 1
        instrument.updated_at = timezone.now()
    instrument.save()
    return instrument, True


@transaction.atomic
def instrument_create(*, actor, definition: dict) -> Instrument:
    """A practice's own measure, published by its admin as version 1 (`actor` is its author). The definition must
    be valid (`definition_problems`: unique item keys, option values from 0 to 100, bands covering the range of the
    total without gap or overlap, a citation for any reliable-change parameters, ...), and its code the measure's
    own: not one a published measure has, nor one of the built-in definitions (`instrument_code_taken`)."""
    problems = instruments.definition_problems(definition)
    if problems:
        raise invalid_measure(problems)
    code = definition["code"]
    taken = Conflict(
        f"A measure with the code {code!r} already exists; publish a new version of it, or choose another code.",
        code="instrument_code_taken",
    )
    if code in {builtin.get("code") for builtin in instruments.builtin_definitions()}:
        raise taken
    try:
        with transaction.atomic():  # a concurrent create of the same code waits here, then fails its insert
            Instrument.objects.create(code=code, author=actor)
    except IntegrityError:
        raise taken from None
    instrument, _ = instrument_publish(definition=definition, author=actor)
    audit_append(
        actor=actor, action="create", object_type="instrument", object_ids=[instrument.pk], detail={"version": 1}
    )
    return instrument


@transaction.atomic
def instrument_version_publish(*, actor, instrument: Instrument, definition: dict) -> Instrument:
    """A new version of a published measure, the practice's own or a built-in one (a CSI-4 with the
    reliable-change parameters of a source the practice holds), published by an admin (`actor`): new assessments
    are scored with it, earlier ones keep the version they were scored with. A built-in measure stays built-in,
    so a later release of the definitions file still supersedes it (builtin_load). The definition keeps the
    measure's code and must be valid; one equal to the current version is refused (`definition_unchanged`)."""
    problems = instruments.definition_problems(definition)
    if definition.get("code") != instrument.code:
        problems["code"] = [f"A new version keeps the measure's code, {instrument.code!r}."]
    if problems:
        raise invalid_measure(problems)
    locked = Instrument.objects.select_for_update().get(pk=instrument.pk)
    builtin = locked.author_id is None
    published, changed = instrument_publish(
        definition=definition, author=locked.author, builtin=builtin, published_by=actor
    )
    if not changed:
        raise Conflict(
            f"The definition is the same as version {published.current.number}, the current one; nothing to publish.",
            code="definition_unchanged",
        )
    audit_append(
        actor=actor,
        action="publish",
        object_type="instrument",
        object_ids=[published.pk],
        detail={"version": published.current.number, "builtin": builtin},
    )
    return published


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
