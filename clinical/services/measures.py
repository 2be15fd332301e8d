"""Standard measures: recording assessments (by a clinician or self-reported, raising safety alerts) and
self-report schedules."""

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinical import instruments
from clinical.models import (
    Assessment,
    AssessmentSchedule,
    AssessmentSource,
    Case,
    Client,
    Role,
    SafetyAlert,
    ScheduleStatus,
)
from clinical.selectors import case_clients, current_measure, current_measures
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed
from kernel.events import happened

from .cases import require_case_not_closed, require_case_writable

CLOCK_SKEW = timedelta(minutes=5)


def _the_published_measures() -> list[str]:
    """The problem with a code no published measure has."""
    return [f"One of: {', '.join(row.code for row, _ in current_measures())}."]


def _check(instrument_code: str, answers, administered_at):
    """(version, measure) for `instrument_code`'s current version, after checking the answers against it."""
    current = current_measure(instrument_code) if isinstance(instrument_code, str) else None
    errors = {}
    if current is None:
        errors["instrument"] = _the_published_measures()
    else:
        problems = instruments.answer_problems(current[1], answers)
        if problems:
            errors["answers"] = problems
    if administered_at > timezone.now() + CLOCK_SKEW:
        errors["administered_at"] = ["This is in the future."]
    if errors:
        raise InvalidInput(errors)
    return current


BASELINE_FIGURES = {
    "is_baseline": True,
    "change": None,
    "reliable_change": "",
    "recovered": None,
    "clinically_significant": None,
}


def _figures(instrument: instruments.Instrument, baseline_total: int, total: int) -> dict:
    change = instruments.change_from_baseline(instrument, baseline_total, total)
    return {
        "is_baseline": False,
        "change": change.change,
        "reliable_change": change.reliable_change,
        "recovered": change.recovered,
        "clinically_significant": change.clinically_significant,
    }


def refresh_series(*, client: Client, case: Case, instrument_code: str) -> None:
    """(Re)compute the change figures of a client's series against its baseline, the earliest assessment, each by
    the rules of the version it was scored with. Rows whose figures change get a new version, so ETags and
    `updated_since` sync see them."""
    series = list(
        Assessment.objects.select_for_update()
        .select_related("instrument_version")
        .filter(client=client, case=case, instrument=instrument_code)
        .order_by("administered_at", "created_at")
    )
    baseline = series[0]
    for assessment in series:
        measure = instruments.measure_of(assessment.instrument_version)
        fields = (
            BASELINE_FIGURES if assessment.pk == baseline.pk else _figures(measure, baseline.total, assessment.total)
        )
        if any(getattr(assessment, k) != v for k, v in fields.items()):
            Assessment.objects.filter(pk=assessment.pk).update(
                **fields, version=F("version") + 1, updated_at=timezone.now()
            )


@transaction.atomic
def assessment_record(
    *,
    actor,
    instrument: str,
    answers: list,
    administered_at,
    client: Client | None = None,
    case: Case | None = None,
    schedule: AssessmentSchedule | None = None,
) -> Assessment:
    """Score and store an assessment, compare it with the baseline, and raise a safety alert in the same
    transaction when an answer meets one of the measure's risk rules (PHQ-9: item 9 above 0).

    A clinician records for a client of one of their cases; a client self-reports against a schedule of theirs.
    """
    if actor.role == Role.CLIENT:
        if schedule is None or schedule.client.user_id != actor.pk:
            raise NotAllowed("Clients report against a schedule their clinician set.", code="schedule_required")
        if schedule.status != ScheduleStatus.ACTIVE:
            raise Conflict("This schedule was cancelled.", code="schedule_cancelled")
        if instrument != schedule.instrument:
            raise InvalidInput({"instrument": [f"This schedule asks for {schedule.instrument}."]})
        if timezone.localdate(administered_at) < schedule.start_date:
            raise InvalidInput({"administered_at": [f"This schedule starts on {schedule.start_date}."]})
        client, case, source = schedule.client, schedule.case, AssessmentSource.SELF_REPORT
    else:
        require_case_writable(actor, case)
        if client is None or client.pk not in {c.pk for c in case_clients(case)}:
            raise InvalidInput({"client": ["A client of this case."]})
        if schedule is not None and (schedule.client_id, schedule.case_id, schedule.instrument) != (
            client.pk,
            case.pk,
            instrument,
        ):
            raise InvalidInput({"schedule": ["This schedule asks another client, case or measure."]})
        source = AssessmentSource.CLINICIAN
    published, definition = _check(instrument, answers, administered_at)
    score = instruments.total(definition, answers)
    baseline = (
        Assessment.objects.select_for_update()
        .filter(client=client, case=case, instrument=instrument)
        .order_by("administered_at", "created_at")
        .first()
    )
    becomes_baseline = baseline is None or administered_at < baseline.administered_at
    figures = BASELINE_FIGURES if becomes_baseline else _figures(definition, baseline.total, score)
    assessment = save_valid(
        Assessment(
            client=client,
            case=case,
            instrument=instrument,
            instrument_version=published,
            answers=answers,
            administered_at=administered_at,
            source=source,
            schedule=schedule,
            recorded_by=actor,
            total=score,
            subscales=instruments.subscale_totals(definition, answers),
            band=instruments.band(definition, score),
            at_caseness=instruments.is_case(definition, score),
            **figures,
        )
    )
    if becomes_baseline and baseline is not None:  # entered late, but earlier: the others compare with it now
        refresh_series(client=client, case=case, instrument_code=instrument)
    audit_append(actor=actor, action="create", object_type="assessment", object_ids=[assessment.pk])
    happened("assessment.recorded", assessment=assessment, case=case, client=client)
    if figures["reliable_change"] == "deteriorated":
        happened("assessment.reliable_deterioration", assessment=assessment, case=case, client=client)
    raised = instruments.risks(definition, answers)
    if raised:
        # One alert per assessment: the first rule's kind, every raised rule's detail (a measure may have several).
        alert = SafetyAlert.objects.create(
            case=case,
            client=client,
            assessment=assessment,
            kind=raised[0].alert,
            detail=" ".join(risk.detail for risk in raised)[:300],
        )
        audit_append(actor=actor, action="create", object_type="alert", object_ids=[alert.pk])
        happened("alert.raised", alert=alert, case=case, client=client)
    return Assessment.objects.get(pk=assessment.pk)


@transaction.atomic
def schedule_create(
    *, actor, client: Client, case: Case, instrument: str, frequency: str, start_date=None, end_date=None
) -> AssessmentSchedule:
    """Ask a client of the case to self-report an instrument, once or on a rhythm."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    errors = {}
    if client.pk not in {c.pk for c in case_clients(case)}:
        errors["client"] = ["A client of this case."]
    elif client.user_id is None:
        errors["client"] = ["This client has no app login yet; invite them first."]
    if current_measure(instrument) is None:
        errors["instrument"] = _the_published_measures()
    start_date = start_date or timezone.localdate()
    if end_date is not None and end_date < start_date:
        errors["end_date"] = ["The end date cannot come before the start date."]
    if errors:
        raise InvalidInput(errors)
    schedule = save_valid(
        AssessmentSchedule(
            client=client,
            case=case,
            instrument=instrument,
            frequency=frequency,
            start_date=start_date,
            end_date=end_date,
            created_by=actor,
        )
    )
    audit_append(actor=actor, action="create", object_type="assessment_schedule", object_ids=[schedule.pk])
    return schedule


@transaction.atomic
def schedule_cancel(*, actor, schedule: AssessmentSchedule) -> AssessmentSchedule:
    require_case_writable(actor, schedule.case)
    locked = lock_at_version(schedule, expected_version=None)
    if locked.status != ScheduleStatus.ACTIVE:
        raise Conflict("This schedule is already cancelled.", code="schedule_cancelled")
    schedule = update_versioned(locked, expected_version=None, changes={"status": ScheduleStatus.CANCELLED})
    audit_append(actor=actor, action="cancel", object_type="assessment_schedule", object_ids=[schedule.pk])
    return schedule
