"""Progress notes through HTTP: drafts, editing, signing, co-signature, addenda, retirement, lists."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import AuditEvent, CaseStatus, NoteAddendum, NoteStatus, ProgressNote, Role
from tests.factories import (
    AddendumFactory,
    CaseFactory,
    GoalFactory,
    NoteFactory,
    SupervisionFactory,
    UserFactory,
)
from tests.helpers import READ_WRITE, error_fields, problem, yesterday

NOTES = "/api/v1/notes/"

SECTIONS = {
    "soap": {
        "subjective": "Both partners report a calmer week; one evening check-in was skipped.",
        "objective": "Used 'I' statements when prompted; one raised voice, self-corrected.",
        "assessment": "Communication improving; trust work is still early.",
        "plan": "Keep the weekly check-in; introduce reflective listening.",
    },
    "dap": {
        "data": "Partner A shared a fear of rejection for the first time in session.",
        "assessment": "Vulnerability rising; partner B responded with empathy.",
        "plan": "Share one small vulnerability at home before next session.",
    },
    "birp": {
        "behavior": "Arrived together, sat apart, little eye contact at first.",
        "intervention": "Guided a reflective listening round on a past hurt.",
        "response": "Both could restate the other's feeling accurately.",
        "plan": "Ten undistracted minutes daily; note one appreciation each.",
    },
    "narrative": {
        "body": "A session about small promises: each named one and kept it during the week.",
    },
}
# What NoteFactory writes.
FACTORY_SECTIONS = {"subjective": "felt unheard", "objective": "calm", "assessment": "improving", "plan": "check-in"}


def url(note, action=""):
    return f"{NOTES}{note.id if hasattr(note, 'id') else note}/" + (f"{action}/" if action else "")


def signed(**kwargs):
    """A signed note (factory: no service, no audit event)."""
    kwargs.setdefault("cosign_required", True)
    return NoteFactory(status=NoteStatus.SIGNED, signed_at=timezone.now(), **kwargs)


def snapshot(note):
    """What a refused request must leave as it was."""
    note = ProgressNote.objects.get(pk=note.pk)
    return (
        note.version,
        note.status,
        note.format,
        note.sections,
        note.session_date,
        note.signed_at,
        note.cosigned_by_id,
        note.cosigned_at,
        note.entered_in_error_reason,
        sorted(note.goals_addressed.values_list("pk", flat=True)),
        sorted(note.addenda.values_list("pk", flat=True)),
    )


@pytest.fixture
def other_supervisor(db):
    """A supervisor of somebody else, not of `clinician`."""
    user = UserFactory(role=Role.SUPERVISOR)
    SupervisionFactory(supervisor=user)
    return user


def create_body(case, fmt="soap", **overrides):
    return {
        "case": str(case.id),
        "session_date": yesterday(),
        "format": fmt,
        "sections": SECTIONS[fmt],
        **overrides,
    }


# ---------------------------------------------------------------- create


@pytest.mark.parametrize("fmt", ["soap", "dap", "birp", "narrative"])
def test_create_a_draft_in_each_format(api, clinician, case, fmt):
    goal = GoalFactory(case=case)

    response = api.post(NOTES, create_body(case, fmt, goals_addressed=[str(goal.id)]))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["case"] == str(case.id)
    assert body["author"] == str(clinician.id)
    assert body["format"] == fmt
    assert body["sections"] == SECTIONS[fmt]
    assert body["session_date"] == yesterday()
    assert body["goals_addressed"] == [str(goal.id)]
    assert body["status"] == "draft"
    assert body["signed_at"] is None
    assert body["cosign_required"] is False
    assert body["cosigned_by"] is None
    assert body["addenda"] == []
    assert body["version"] == 1
    assert response["ETag"] == '"1"'
    note = ProgressNote.objects.get(pk=body["id"])
    assert (note.case_id, note.author_id, note.format, note.status) == (case.id, clinician.id, fmt, "draft")
    assert note.sections == SECTIONS[fmt]
    assert list(note.goals_addressed.all()) == [goal]
    assert AuditEvent.objects.filter(action="create", object_type="note", object_ids=[note.pk]).count() == 1


def test_a_draft_may_leave_sections_empty_and_gets_every_section_of_its_format(api, case):
    response = api.post(NOTES, create_body(case, "soap", sections={"plan": "Weekly check-in."}))

    assert response.status_code == 201, response.content
    assert response.json()["sections"] == {
        "subjective": "",
        "objective": "",
        "assessment": "",
        "plan": "Weekly check-in.",
    }


@pytest.mark.parametrize(
    ("fmt", "foreign_section"),
    [("soap", "body"), ("dap", "subjective"), ("birp", "data"), ("narrative", "plan")],
)
def test_a_section_of_another_format_is_refused(api, case, fmt, foreign_section):
    sections = {**SECTIONS[fmt], foreign_section: "does not belong here"}

    response = api.post(NOTES, create_body(case, fmt, sections=sections))

    assert response.status_code == 400
    assert problem(response)["code"] == "invalid"
    assert error_fields(response) == ["sections"]
    assert foreign_section in problem(response)["errors"][0]["message"]
    assert not ProgressNote.objects.exists()


@pytest.mark.parametrize("fmt", ["poem", "SOAP", "", None])
def test_an_unknown_format_is_refused(api, case, fmt):
    response = api.post(NOTES, create_body(case, "soap", format=fmt), format="json")

    assert response.status_code == 400
    assert error_fields(response) == ["format"]
    assert not ProgressNote.objects.exists()


def test_sections_must_be_text(api, case):
    response = api.post(NOTES, create_body(case, "narrative", sections={"body": {"nested": "x"}}), format="json")

    assert response.status_code == 400
    assert error_fields(response)[0].startswith("sections")
    assert not ProgressNote.objects.exists()


def test_a_session_in_the_future_is_refused(api, case):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    response = api.post(NOTES, create_body(case, session_date=tomorrow))

    assert response.status_code == 400
    assert error_fields(response) == ["session_date"]
    assert not ProgressNote.objects.exists()


def test_a_session_today_is_fine(api, case):
    response = api.post(NOTES, create_body(case, session_date=timezone.localdate().isoformat()))

    assert response.status_code == 201


def test_goals_must_be_of_the_same_case(api, clinician, case):
    other_case_goal = GoalFactory(case=CaseFactory(clinician=clinician))

    response = api.post(NOTES, create_body(case, goals_addressed=[str(other_case_goal.id)]))

    assert response.status_code == 400
    assert error_fields(response) == ["goals_addressed"]
    assert not ProgressNote.objects.exists()


def test_a_goal_of_another_clinician_is_refused_like_one_that_does_not_exist(api, case, other_clinician):
    foreign = GoalFactory(case=CaseFactory(clinician=other_clinician))
    missing = uuid.uuid4()

    refused = api.post(NOTES, create_body(case, goals_addressed=[str(foreign.id)]))
    absent = api.post(NOTES, create_body(case, goals_addressed=[str(missing)]))

    assert refused.status_code == absent.status_code == 400
    assert error_fields(refused) == ["goals_addressed.0"]
    # The same answer as for an id that does not exist: nothing says the goal is there.
    assert problem(refused)["errors"] == [
        {**e, "message": e["message"].replace(str(missing), str(foreign.id))} for e in problem(absent)["errors"]
    ]
    assert foreign.title not in refused.content.decode()
    assert not ProgressNote.objects.exists()


def test_a_note_on_another_clinicians_case_is_refused_naming_the_case(api, other_clinician):
    foreign = CaseFactory(clinician=other_clinician)

    response = api.post(NOTES, create_body(foreign))

    assert response.status_code == 400
    assert error_fields(response) == ["case"]
    assert not ProgressNote.objects.exists()


def test_a_supervisor_cannot_write_on_a_supervisees_case(supervisor_api, case):
    response = supervisor_api.post(NOTES, create_body(case))

    assert response.status_code == 403
    assert problem(response)["code"] == "not_case_clinician"
    assert not ProgressNote.objects.exists()


def test_a_closed_case_takes_no_notes(api, clinician):
    closed = CaseFactory(
        clinician=clinician, status=CaseStatus.CLOSED, closed_on=timezone.localdate(), closing_reason="Goals met."
    )

    response = api.post(NOTES, create_body(closed))

    assert response.status_code == 409
    assert problem(response)["code"] == "case_closed"
    assert not ProgressNote.objects.exists()


def test_create_needs_the_write_scope(call_as, clinician, case):
    response = call_as(clinician, ["clinical:read"]).post(NOTES, create_body(case))

    assert response.status_code == 403
    assert problem(response)["code"] == "insufficient_scope"
    assert not ProgressNote.objects.exists()


def test_admin_and_client_reach_no_notes(call_as, admin_user, client_user, case):
    note = NoteFactory(case=case)
    for user in (admin_user, client_user):
        caller = call_as(user)
        for response in (caller.get(NOTES), caller.get(url(note)), caller.post(NOTES, create_body(case))):
            assert response.status_code == 403
            assert problem(response)["code"] == "role_not_allowed"
    assert ProgressNote.objects.count() == 1


def test_create_with_an_idempotency_key_stores_one_note(api, case):
    first = api.post(NOTES, create_body(case), HTTP_IDEMPOTENCY_KEY="note-1")
    again = api.post(NOTES, create_body(case), HTTP_IDEMPOTENCY_KEY="note-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert ProgressNote.objects.count() == 1


# ---------------------------------------------------------------- read


def test_author_and_supervisor_read_a_note_others_get_404(api, supervisor_api, other_api, call_as, case):
    note = NoteFactory(case=case)
    other_supervisor = UserFactory(role=Role.SUPERVISOR)

    for caller in (api, supervisor_api):
        response = caller.get(url(note))
        assert response.status_code == 200
        assert response.json()["sections"] == note.sections
        assert response["ETag"] == '"1"'

    for caller in (other_api, call_as(other_supervisor, READ_WRITE)):
        response = caller.get(url(note))
        assert response.status_code == 404
        assert problem(response)["code"] == "not_found"
        assert "felt unheard" not in response.content.decode()


# ---------------------------------------------------------------- edit a draft


def test_author_edits_a_draft_with_if_match(api, case):
    note = NoteFactory(case=case)
    goal = GoalFactory(case=case)
    new_sections = {**SECTIONS["soap"], "plan": "Add a daily appreciation."}

    response = api.patch(
        url(note), {"sections": new_sections, "goals_addressed": [str(goal.id)]}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200, response.content
    assert response.json()["sections"] == new_sections
    assert response.json()["goals_addressed"] == [str(goal.id)]
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'
    note.refresh_from_db()
    assert note.sections == new_sections
    assert note.version == 2
    assert list(note.goals_addressed.all()) == [goal]


def test_patch_without_if_match_is_428_and_changes_nothing(api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    response = api.patch(url(note), {"sections": SECTIONS["soap"]}, format="json")

    assert response.status_code == 428
    assert problem(response)["code"] == "precondition_required"
    assert snapshot(note) == before


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(api, case):
    note = NoteFactory(case=case)
    assert api.patch(url(note), {"session_date": yesterday()}, HTTP_IF_MATCH='"1"').status_code == 200
    before = snapshot(note)

    response = api.patch(url(note), {"sections": {"plan": "stale"}}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 412
    assert problem(response)["code"] == "stale_version"
    assert problem(response)["current_version"] == 2
    assert snapshot(note) == before


def test_changing_the_format_revalidates_the_sections(api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    # The soap sections sent with the dap format: refused, nothing changes.
    refused = api.patch(url(note), {"format": "dap", "sections": SECTIONS["soap"]}, format="json", HTTP_IF_MATCH='"1"')
    assert refused.status_code == 400
    assert error_fields(refused) == ["sections"]
    assert snapshot(note) == before

    # Without sections, when text would be lost (subjective, objective): refused, naming what would go.
    lossy = api.patch(url(note), {"format": "dap"}, format="json", HTTP_IF_MATCH='"1"')
    assert lossy.status_code == 400
    assert error_fields(lossy) == ["format"]
    assert "subjective" in lossy.json()["errors"][0]["message"]
    assert snapshot(note) == before

    # Without sections, when only empty sections would go: the new format's sections, shared text kept.
    ProgressNote.objects.filter(pk=note.pk).update(
        sections={"subjective": "", "objective": " ", "assessment": "improving", "plan": "check-in"}
    )
    response = api.patch(url(note), {"format": "dap"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    assert response.json()["format"] == "dap"
    assert response.json()["sections"] == {"data": "", "assessment": "improving", "plan": "check-in"}
    note.refresh_from_db()
    assert (note.format, note.version) == ("dap", 2)
    assert note.sections == {"data": "", "assessment": "improving", "plan": "check-in"}

    # With the new format's own sections: accepted as sent.
    response = api.patch(
        url(note), {"format": "narrative", "sections": SECTIONS["narrative"]}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert response.status_code == 200
    assert response.json()["sections"] == SECTIONS["narrative"]


def test_a_section_of_another_format_is_refused_on_patch(api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    response = api.patch(url(note), {"sections": {"body": "narrative text"}}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 400
    assert error_fields(response) == ["sections"]
    assert snapshot(note) == before


def test_patch_to_a_future_session_date_or_foreign_goal_changes_nothing(api, clinician, case):
    note = NoteFactory(case=case)
    before = snapshot(note)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    other_case_goal = GoalFactory(case=CaseFactory(clinician=clinician))

    future = api.patch(url(note), {"session_date": tomorrow}, HTTP_IF_MATCH='"1"')
    foreign_goal = api.patch(
        url(note), {"goals_addressed": [str(other_case_goal.id)]}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert future.status_code == foreign_goal.status_code == 400
    assert error_fields(future) == ["session_date"]
    assert error_fields(foreign_goal) == ["goals_addressed"]
    assert snapshot(note) == before


def test_only_the_author_edits_a_supervisor_reads_but_may_not_patch(supervisor_api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    assert supervisor_api.get(url(note)).status_code == 200
    response = supervisor_api.patch(url(note), {"sections": {"plan": "mine now"}}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 403
    assert problem(response)["code"] == "not_note_author"
    assert snapshot(note) == before


def test_another_clinician_patching_gets_404(other_api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    response = other_api.patch(url(note), {"sections": {"plan": "x"}}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 404
    assert snapshot(note) == before


# ---------------------------------------------------------------- sign


def test_signing_an_incomplete_note_lists_the_missing_sections(api, case):
    note = NoteFactory(case=case, sections={"subjective": "felt unheard", "objective": "  ", "assessment": ""})
    before = snapshot(note)

    response = api.post(url(note, "sign"))

    assert response.status_code == 409
    assert problem(response)["code"] == "note_incomplete"
    assert problem(response)["missing_sections"] == ["objective", "assessment", "plan"]
    assert snapshot(note) == before


def test_signing_by_a_supervised_clinician_needs_a_cosignature(api, clinician, case):
    note = NoteFactory(case=case)

    response = api.post(url(note, "sign"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "signed"
    assert body["signed_at"] is not None
    assert body["cosign_required"] is True
    assert body["cosigned_by"] is None
    assert body["version"] == 2
    assert response["ETag"] == '"2"'
    note.refresh_from_db()
    assert (note.status, note.cosign_required, note.version) == ("signed", True, 2)
    assert note.signed_at is not None
    assert AuditEvent.objects.filter(action="sign", actor=clinician, object_ids=[note.pk]).count() == 1


def test_signing_by_an_unsupervised_clinician_needs_no_cosignature(other_api, other_clinician):
    note = NoteFactory(case=CaseFactory(clinician=other_clinician))

    response = other_api.post(url(note, "sign"))

    assert response.status_code == 200
    assert response.json()["cosign_required"] is False
    note.refresh_from_db()
    assert (note.status, note.cosign_required) == ("signed", False)


def test_after_an_ended_supervision_no_cosignature_is_needed(call_as, supervisor):
    author = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisor=supervisor, supervisee=author, ended_on=timezone.localdate())
    note = NoteFactory(case=CaseFactory(clinician=author))

    response = call_as(author, READ_WRITE).post(url(note, "sign"))

    assert response.status_code == 200
    assert response.json()["cosign_required"] is False


def test_only_the_author_signs(supervisor_api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    response = supervisor_api.post(url(note, "sign"))

    assert response.status_code == 403
    assert problem(response)["code"] == "not_note_author"
    assert snapshot(note) == before


def test_a_signed_note_is_locked(api, case):
    note = NoteFactory(case=case)
    assert api.post(url(note, "sign")).status_code == 200
    before = snapshot(note)

    patched = api.patch(url(note), {"sections": {"plan": "rewritten"}}, format="json", HTTP_IF_MATCH='"2"')
    signed_again = api.post(url(note, "sign"))

    assert patched.status_code == signed_again.status_code == 409
    assert problem(patched)["code"] == problem(signed_again)["code"] == "note_not_draft"
    assert snapshot(note) == before
    assert api.get(url(note)).json()["sections"] == before[3] == FACTORY_SECTIONS


# ---------------------------------------------------------------- co-sign


def test_the_authors_supervisor_cosigns(supervisor_api, supervisor, case):
    note = signed(case=case)

    response = supervisor_api.post(url(note, "cosign"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cosigned_by"] == str(supervisor.id)
    assert body["cosigned_at"] is not None
    assert body["status"] == "signed"
    assert body["version"] == 2
    note.refresh_from_db()
    assert (note.cosigned_by_id, note.version) == (supervisor.id, 2)
    assert note.cosigned_at is not None
    assert AuditEvent.objects.filter(action="cosign", actor=supervisor, object_ids=[note.pk]).count() == 1


def test_cosigning_twice_is_409(supervisor_api, case):
    note = signed(case=case)
    assert supervisor_api.post(url(note, "cosign")).status_code == 200
    before = snapshot(note)

    response = supervisor_api.post(url(note, "cosign"))

    assert response.status_code == 409
    assert problem(response)["code"] == "already_cosigned"
    assert snapshot(note) == before


@pytest.mark.parametrize(
    "state",
    [
        {"status": NoteStatus.DRAFT},
        {"status": NoteStatus.SIGNED, "cosign_required": False},
        {"status": NoteStatus.ENTERED_IN_ERROR, "cosign_required": True, "entered_in_error_reason": "wrong client"},
    ],
)
def test_a_note_not_needing_cosignature_cannot_be_cosigned(supervisor_api, case, state):
    if state["status"] != NoteStatus.DRAFT:
        state = {**state, "signed_at": timezone.now()}
    note = NoteFactory(case=case, **state)
    before = snapshot(note)

    response = supervisor_api.post(url(note, "cosign"))

    assert response.status_code == 409
    assert problem(response)["code"] == "cosign_not_needed"
    assert snapshot(note) == before


def test_another_supervisor_cannot_even_see_the_note(call_as, other_supervisor, case):
    note = signed(case=case)
    before = snapshot(note)

    response = call_as(other_supervisor, READ_WRITE).post(url(note, "cosign"))

    assert response.status_code == 404
    assert snapshot(note) == before


def test_the_author_cannot_cosign_their_own_note(api, case):
    note = signed(case=case)
    before = snapshot(note)

    response = api.post(url(note, "cosign"))

    assert response.status_code == 403
    assert problem(response)["code"] == "not_authors_supervisor"
    assert snapshot(note) == before


def test_awaiting_cosign_lists_exactly_the_supervisors_pending_notes(
    supervisor_api, supervisor, clinician, case, other_supervisor
):
    second_supervisee = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisor=supervisor, supervisee=second_supervisee)
    pending = [signed(case=case), signed(case=CaseFactory(clinician=second_supervisee))]
    signed(case=case, cosigned_by=supervisor, cosigned_at=timezone.now())  # done
    NoteFactory(case=case)  # draft
    signed(case=case, cosign_required=False)  # signed before the supervision: nothing to co-sign
    NoteFactory(  # retired
        case=case, status=NoteStatus.ENTERED_IN_ERROR, signed_at=timezone.now(), cosign_required=True
    )
    other_supervisee = other_supervisor.supervisions_given.get().supervisee
    signed(case=CaseFactory(clinician=other_supervisee))  # another supervisor's
    signed(case=CaseFactory(clinician=supervisor), cosign_required=False)  # the supervisor's own

    response = supervisor_api.get(f"{NOTES}awaiting-cosign/")

    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(str(n.id) for n in pending)


def test_awaiting_cosign_excludes_notes_of_an_ended_supervision(supervisor_api, supervisor):
    former = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisor=supervisor, supervisee=former, ended_on=timezone.localdate())
    signed(case=CaseFactory(clinician=former))

    response = supervisor_api.get(f"{NOTES}awaiting-cosign/")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_awaiting_cosign_is_for_supervisors_only(api, case):
    signed(case=case)

    response = api.get(f"{NOTES}awaiting-cosign/")

    assert response.status_code == 403
    assert problem(response)["code"] == "role_not_allowed"


def test_awaiting_cosign_query_count_does_not_grow(supervisor_api, case, count_queries):
    goals = [GoalFactory(case=case) for _ in range(2)]

    def pending_note():
        note = signed(case=case)
        note.goals_addressed.set(goals)
        AddendumFactory(note=note)

    pending_note()
    one = count_queries(lambda: supervisor_api.get(f"{NOTES}awaiting-cosign/"))
    for _ in range(19):
        pending_note()
    many = count_queries(lambda: supervisor_api.get(f"{NOTES}awaiting-cosign/"))

    assert one == many
    assert len(supervisor_api.get(f"{NOTES}awaiting-cosign/").json()["results"]) == 20


# ---------------------------------------------------------------- addenda


@pytest.mark.parametrize("who", ["author", "supervisor"])
def test_author_or_supervisor_adds_an_addendum_to_a_signed_note(api, supervisor_api, clinician, supervisor, case, who):
    caller, user = (api, clinician) if who == "author" else (supervisor_api, supervisor)
    note = signed(case=case)
    text = "Partner B called after the session to add context about the argument."

    response = caller.post(url(note, "addenda"), {"text": text})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == str(note.id)
    assert body["version"] == 2
    assert response["ETag"] == '"2"'
    assert len(body["addenda"]) == 1
    assert body["addenda"][0]["author"] == str(user.id)
    assert body["addenda"][0]["text"] == text
    assert body["addenda"][0]["created_at"]
    addendum = NoteAddendum.objects.get(note=note)
    assert (addendum.author_id, addendum.text) == (user.id, text)
    note.refresh_from_db()
    assert note.version == 2
    assert note.sections == FACTORY_SECTIONS  # the note itself is unchanged
    assert api.get(url(note)).json()["addenda"] == body["addenda"]


def test_addenda_are_listed_oldest_first(api, case):
    note = signed(case=case)
    for text in ("first", "second", "third"):
        assert api.post(url(note, "addenda"), {"text": text}).status_code == 201

    response = api.get(url(note))

    assert [a["text"] for a in response.json()["addenda"]] == ["first", "second", "third"]
    assert response.json()["version"] == 4


def test_no_addendum_to_a_draft(api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    response = api.post(url(note, "addenda"), {"text": "too early"})

    assert response.status_code == 409
    assert problem(response)["code"] == "note_not_signed"
    assert snapshot(note) == before


def test_no_addendum_to_a_retired_note(api, case):
    note = NoteFactory(case=case, status=NoteStatus.ENTERED_IN_ERROR, signed_at=timezone.now())
    before = snapshot(note)

    response = api.post(url(note, "addenda"), {"text": "after retirement"})

    assert response.status_code == 409
    assert problem(response)["code"] == "note_not_signed"
    assert snapshot(note) == before


def test_someone_outside_the_case_gets_404_for_an_addendum(other_api, call_as, other_supervisor, case):
    note = signed(case=case)
    before = snapshot(note)

    for caller in (other_api, call_as(other_supervisor, READ_WRITE)):
        response = caller.post(url(note, "addenda"), {"text": "intrusion"})
        assert response.status_code == 404

    assert snapshot(note) == before


def test_a_clinician_who_sees_the_note_but_is_neither_author_nor_supervisor_gets_403(
    other_api, clinician, other_clinician
):
    # The case moved to other_clinician; the note stays clinician's.
    note = signed(case=CaseFactory(clinician=other_clinician), author=clinician)
    before = snapshot(note)

    assert other_api.get(url(note)).status_code == 200
    response = other_api.post(url(note, "addenda"), {"text": "not mine to add"})

    assert response.status_code == 403
    assert problem(response)["code"] == "not_author_or_cosigner"
    assert snapshot(note) == before


@pytest.mark.parametrize("text", ["", "   \n ", None])
def test_an_addendum_needs_text(api, case, text):
    note = signed(case=case)
    before = snapshot(note)

    response = api.post(url(note, "addenda"), {"text": text} if text is not None else {}, format="json")

    assert response.status_code == 400
    assert error_fields(response) == ["text"]
    assert snapshot(note) == before


# ---------------------------------------------------------------- entered in error, never deleted


@pytest.mark.parametrize("status", [NoteStatus.DRAFT, NoteStatus.SIGNED])
def test_the_author_retires_a_note_with_a_reason(api, clinician, case, status):
    note = NoteFactory(case=case, status=status, signed_at=timezone.now() if status == NoteStatus.SIGNED else None)

    response = api.post(url(note, "entered-in-error"), {"reason": "Written on the wrong client's case."})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "entered_in_error"
    assert response.json()["entered_in_error_reason"] == "Written on the wrong client's case."
    assert response.json()["version"] == 2
    note.refresh_from_db()
    assert (note.status, note.entered_in_error_reason) == ("entered_in_error", "Written on the wrong client's case.")
    # Still there, still readable, with what it said.
    read = api.get(url(note))
    assert read.status_code == 200
    assert read.json()["sections"] == note.sections
    assert read.json()["status"] == "entered_in_error"
    assert AuditEvent.objects.filter(action="enter_in_error", actor=clinician, object_ids=[note.pk]).count() == 1


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_retiring_needs_a_reason(api, case, body):
    note = signed(case=case)
    before = snapshot(note)

    response = api.post(url(note, "entered-in-error"), body, format="json")

    assert response.status_code == 400
    assert error_fields(response) == ["reason"]
    assert snapshot(note) == before


def test_retiring_twice_is_409(api, case):
    note = signed(case=case)
    assert api.post(url(note, "entered-in-error"), {"reason": "duplicate"}).status_code == 200
    before = snapshot(note)

    response = api.post(url(note, "entered-in-error"), {"reason": "again"})

    assert response.status_code == 409
    assert problem(response)["code"] == "note_entered_in_error"
    assert snapshot(note) == before
    assert ProgressNote.objects.get(pk=note.pk).entered_in_error_reason == "duplicate"


def test_only_the_author_retires(supervisor_api, other_api, case):
    note = signed(case=case)
    before = snapshot(note)

    forbidden = supervisor_api.post(url(note, "entered-in-error"), {"reason": "supervisor says so"})
    hidden = other_api.post(url(note, "entered-in-error"), {"reason": "not mine"})

    assert forbidden.status_code == 403
    assert problem(forbidden)["code"] == "not_note_author"
    assert hidden.status_code == 404
    assert snapshot(note) == before


@pytest.mark.parametrize("status", [NoteStatus.DRAFT, NoteStatus.SIGNED])
def test_notes_are_never_deleted(api, case, status):
    note = NoteFactory(case=case, status=status, signed_at=timezone.now() if status == NoteStatus.SIGNED else None)

    response = api.delete(url(note))

    assert response.status_code == 405
    assert problem(response)["code"] == "method_not_allowed"
    assert ProgressNote.objects.filter(pk=note.pk).exists()


def test_put_is_not_offered(api, case):
    note = NoteFactory(case=case)
    before = snapshot(note)

    response = api.put(url(note), create_body(case), format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 405
    assert snapshot(note) == before


# ---------------------------------------------------------------- lists and filters


def test_list_shows_own_notes_and_supervisees_to_the_supervisor(api, supervisor_api, other_api, case, other_clinician):
    mine = NoteFactory(case=case)
    foreign = NoteFactory(case=CaseFactory(clinician=other_clinician))

    assert [r["id"] for r in api.get(NOTES).json()["results"]] == [str(mine.id)]
    assert [r["id"] for r in supervisor_api.get(NOTES).json()["results"]] == [str(mine.id)]
    assert [r["id"] for r in other_api.get(NOTES).json()["results"]] == [str(foreign.id)]


def test_filter_by_case(api, clinician, case, other_clinician):
    second_case = CaseFactory(clinician=clinician)
    on_case = [NoteFactory(case=case), NoteFactory(case=case)]
    NoteFactory(case=second_case)

    response = api.get(NOTES, {"case": str(case.id)})

    assert response.status_code == 200
    assert sorted(r["id"] for r in response.json()["results"]) == sorted(str(n.id) for n in on_case)


def test_filter_by_a_foreign_or_unknown_case_is_404(api, other_clinician):
    foreign = CaseFactory(clinician=other_clinician)
    NoteFactory(case=foreign)

    hidden = api.get(NOTES, {"case": str(foreign.id)})
    absent = api.get(NOTES, {"case": str(uuid.uuid4())})

    assert hidden.status_code == absent.status_code == 404
    assert problem(hidden)["code"] == problem(absent)["code"] == "not_found"


def test_filter_by_status(api, case):
    draft = NoteFactory(case=case)
    done = signed(case=case)
    retired = NoteFactory(case=case, status=NoteStatus.ENTERED_IN_ERROR, signed_at=timezone.now())

    for status, expected in (("draft", draft), ("signed", done), ("entered_in_error", retired)):
        response = api.get(NOTES, {"status": status})
        assert response.status_code == 200
        assert [r["id"] for r in response.json()["results"]] == [str(expected.id)]

    invalid = api.get(NOTES, {"status": "published"})
    assert invalid.status_code == 400
    assert error_fields(invalid) == ["status"]


def test_filter_by_author(api, clinician, other_clinician):
    # A case that moved from one clinician to another holds notes by both.
    moved = CaseFactory(clinician=clinician)
    by_me = NoteFactory(case=moved)
    by_predecessor = NoteFactory(case=moved, author=other_clinician)

    mine = api.get(NOTES, {"author": str(clinician.id)})
    theirs = api.get(NOTES, {"author": str(other_clinician.id)})

    assert [r["id"] for r in mine.json()["results"]] == [str(by_me.id)]
    assert [r["id"] for r in theirs.json()["results"]] == [str(by_predecessor.id)]


def test_list_reads_are_audited_with_the_ids_returned(api, clinician, case):
    notes = [NoteFactory(case=case) for _ in range(2)]

    api.get(NOTES)

    event = AuditEvent.objects.filter(action="read", object_type="note").latest("id")
    assert event.actor_id == clinician.id
    assert sorted(event.object_ids) == sorted(n.id for n in notes)


def test_list_query_count_does_not_grow(api, case, count_queries):
    goals = [GoalFactory(case=case) for _ in range(3)]

    def note_with_everything():
        note = signed(case=case)
        note.goals_addressed.set(goals)
        AddendumFactory(note=note)
        AddendumFactory(note=note, text="second addendum")

    note_with_everything()
    one = count_queries(lambda: api.get(NOTES))
    for _ in range(19):
        note_with_everything()
    many = count_queries(lambda: api.get(NOTES))

    assert one == many
    rows = api.get(NOTES).json()["results"]
    assert len(rows) == 20
    assert all(len(r["addenda"]) == 2 and len(r["goals_addressed"]) == 3 for r in rows)


def test_a_supervisee_note_stays_cosignable_after_its_case_moves(call_as, clinician, supervisor, other_clinician):
    case = CaseFactory(clinician=clinician)
    author = call_as(clinician, ["clinical:read", "clinical:write"])
    note_id = author.post(
        "/api/v1/notes/",
        {
            "case": str(case.id),
            "session_date": str(timezone.localdate()),
            "format": "narrative",
            "sections": {"body": "Session went well."},
        },
        format="json",
    ).json()["id"]
    assert author.post(f"/api/v1/notes/{note_id}/sign/").json()["cosign_required"] is True
    admin = call_as(UserFactory(role=Role.ADMIN), ["admin"])
    assert (
        admin.post(f"/api/v1/staff/{clinician.id}/reassign-caseload/", {"to": str(other_clinician.id)}).json()[
            "cases_moved"
        ]
        == 1
    )

    reviewer = call_as(supervisor, ["clinical:read", "clinical:write"])
    waiting = reviewer.get("/api/v1/notes/awaiting-cosign/").json()["results"]
    assert [n["id"] for n in waiting] == [note_id]
    cosigned = reviewer.post(f"/api/v1/notes/{note_id}/cosign/")
    assert cosigned.status_code == 200
    assert cosigned.json()["cosigned_by"] == str(supervisor.id)
    # The supervisor does not thereby see the case's other notes, written by its new clinician.
    other_note = NoteFactory(case=case, author=other_clinician)
    assert reviewer.get(f"/api/v1/notes/{other_note.id}/").status_code == 404
