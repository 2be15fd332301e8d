import pytest

from clinical.models import (
    AuditEvent,
    CaseStatus,
    HomeworkAssignment,
    HomeworkSubmission,
    NoteStatus,
    OAuthApplication,
    ProgressNote,
    Supervision,
    TreatmentGoal,
    User,
)
from clinical.services.demo import DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    seed_demo()
    first = (User.objects.count(), OAuthApplication.objects.count(), Supervision.objects.count())
    users = seed_demo()

    assert (User.objects.count(), OAuthApplication.objects.count(), Supervision.objects.count()) == first == (6, 2, 1)
    assert all(user.check_password(DEMO_PASSWORD) for user in users.values())
    cli = OAuthApplication.objects.get(client_id="demo-cli")
    assert cli.first_party
    assert cli.authorization_grant_type == OAuthApplication.GRANT_PASSWORD
    spa = OAuthApplication.objects.get(client_id="demo-spa")
    assert not spa.first_party
    assert spa.client_type == OAuthApplication.CLIENT_PUBLIC
    assert Supervision.objects.get().supervisee.email == "clinician@demo.test"


def test_the_demo_couple_has_a_case_goals_a_note_to_cosign_and_homework():
    seed_demo()
    counts = (
        TreatmentGoal.objects.count(),
        ProgressNote.objects.count(),
        HomeworkAssignment.objects.count(),
        HomeworkSubmission.objects.count(),
    )
    seed_demo()  # again: nothing new

    assert counts == (
        TreatmentGoal.objects.count(),
        ProgressNote.objects.count(),
        HomeworkAssignment.objects.count(),
        HomeworkSubmission.objects.count(),
    )
    assert counts == (3, 1, 2, 7)
    note = ProgressNote.objects.get()
    assert (note.status, note.cosign_required, note.cosigned_at) == (NoteStatus.SIGNED, True, None)
    assert note.case.status == CaseStatus.OPEN
    modes = sorted(HomeworkAssignment.objects.values_list("mode", flat=True))
    assert modes == ["each", "joint"]
    submitters = set(HomeworkSubmission.objects.values_list("client__user__email", flat=True))
    assert submitters == {"alex@demo.test", "sam@demo.test"}
    assert AuditEvent.objects.filter(action="create", object_type="submission").count() == 7
