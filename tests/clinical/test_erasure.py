"""The erasure service's rules (clinical/services/erasure.py) where HTTP adds nothing: the retention date, who may
erase, and what an individual case's notes become. The rest is in tests/api/test_right_of_access.py."""

from datetime import date

import pytest
from django.utils import timezone

from clinical.models import NoteStatus, ProgressNote, Role
from clinical.services.erasure import erasure_request_create, retention_end
from kernel.errors import NotAllowed
from tests.factories import CaseFactory, NoteFactory, UserFactory


@pytest.mark.parametrize(
    ("years", "last_day", "until"),
    [
        (7, date(2026, 11, 16), date(2033, 11, 16)),
        (7, date(2024, 2, 29), date(2031, 2, 28)),  # no 29 February that year: the day before
        (8, date(2024, 2, 29), date(2032, 2, 29)),
        (10, date(2025, 1, 31), date(2035, 1, 31)),
    ],
)
def test_the_retention_period_runs_whole_years_from_the_last_day_of_care(settings, years, last_day, until):
    settings.RECORD_RETENTION_YEARS = years

    assert retention_end(last_day) == until


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.SUPERVISOR, Role.CLIENT])
def test_only_the_practice_admin_erases(db, clinician, role):
    case = CaseFactory(clinician=clinician, status="closed", closed_on=timezone.localdate(), closing_reason="Done")

    with pytest.raises(NotAllowed):
        erasure_request_create(actor=UserFactory(role=role), client=case.client, reason="Asked")


def test_an_individual_cases_drafts_go_and_its_signed_notes_stay(db, clinician, admin_user):
    case = CaseFactory(clinician=clinician, status="closed", closed_on=date(2026, 1, 5), closing_reason="Done")
    signed = NoteFactory(case=case, status=NoteStatus.SIGNED, signed_at=timezone.now())
    retired = NoteFactory(case=case, status=NoteStatus.ENTERED_IN_ERROR, signed_at=timezone.now())
    draft = NoteFactory(case=case)
    assert ProgressNote.pgh_event_model.objects.filter(pgh_obj_id=draft.pk).exists()

    erasure = erasure_request_create(actor=admin_user, client=case.client, reason="Asked")

    assert set(ProgressNote.objects.filter(case=case).values_list("pk", flat=True)) == {signed.pk, retired.pk}
    assert not ProgressNote.pgh_event_model.objects.filter(pgh_obj_id=draft.pk).exists()
    counted = {entry["record_type"]: entry["count"] for entry in erasure.outcome}
    assert (counted["draft_note"], counted["progress_note"]) == (1, 2)
    assert erasure.retained_until == date(2033, 1, 5)
