"""Progress notes: drafts, signing, co-signature by a supervisor, addenda, retirement."""

from django.db import transaction
from django.utils import timezone

from clinical.models import NOTE_SECTIONS, Case, NoteAddendum, NoteStatus, ProgressNote, Session
from clinical.selectors import active_supervisor_of
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_racing, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed
from kernel.events import happened

from .cases import require_case_not_closed, require_case_writable

ONE_NOTE_PER_SESSION = "note_once_per_session_and_author"


def validate_sections(note_format: str, sections: dict) -> dict:
    """Only the format's own sections, as text. A draft may leave some empty; signing needs them all."""
    allowed = NOTE_SECTIONS[note_format]
    unknown = sorted(set(sections) - set(allowed))
    if unknown:
        raise InvalidInput(
            {"sections": [f"The {note_format} format has the sections {', '.join(allowed)}; not {', '.join(unknown)}."]}
        )
    if not all(isinstance(text, str) for text in sections.values()):
        raise InvalidInput({"sections": ["Each section is text."]})
    return {name: sections.get(name, "") for name in allowed}


def _validate_goals(case: Case, goals) -> list:
    goals = list(goals)
    if any(goal.case_id != case.pk for goal in goals):
        raise InvalidInput({"goals_addressed": ["Only goals of this note's case."]})
    return goals


def _validate_session_date(session_date) -> None:
    if session_date > timezone.localdate():
        raise InvalidInput({"session_date": ["A note cannot be written for a session in the future."]})


def _require_author(actor, note: ProgressNote) -> None:
    if note.author_id != actor.pk:
        raise NotAllowed("Only the note's author may do this.", code="not_note_author")


def _require_draft(note: ProgressNote) -> None:
    if note.status != NoteStatus.DRAFT:
        raise Conflict(
            f"This note is {note.status}; it cannot be changed. Add an addendum instead.",
            code="note_not_draft",
        )


def _session_date_of(case: Case, session: Session | None, session_date):
    """The note's session date: the session's own (its local day) when the note names a session."""
    if session is None:
        if session_date is None:
            raise InvalidInput({"session_date": ["Give the session's date, or name the session."]})
        return session_date
    if session.case_id != case.pk:
        raise InvalidInput({"session": ["Only a session of this note's case."]})
    day = timezone.localdate(session.starts_at)
    if session_date is not None and session_date != day:
        raise InvalidInput({"session_date": [f"The session named was on {day}; leave the date out or give that."]})
    return day


def _require_first_note_of_session(actor, session: Session | None) -> None:
    """One note per session and author: a second answers 409 naming the first."""
    if session is None:
        return
    first = (
        ProgressNote.objects.filter(session=session, author=actor)
        .exclude(status=NoteStatus.ENTERED_IN_ERROR)
        .values_list("pk", flat=True)
        .first()
    )
    if first is not None:
        raise Conflict("You already wrote a note for this session.", code="session_has_note", existing_note=str(first))


@transaction.atomic
def note_create(
    *,
    actor,
    case: Case,
    format: str,
    sections: dict,
    session_date=None,
    session: Session | None = None,
    goals_addressed=(),
) -> ProgressNote:
    """The case's clinician writes a draft note for a session: a session of the case, named (its date follows
    it; an individual session in a couple case makes the note that partner's), or a date alone."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    session_date = _session_date_of(case, session, session_date)
    _validate_session_date(session_date)
    goals = _validate_goals(case, goals_addressed)
    _require_first_note_of_session(actor, session)
    note = ProgressNote(
        case=case,
        author=actor,
        session_date=session_date,
        format=format,
        sections=validate_sections(format, sections),
        session=session,
        partner_id=session.partner_id if session is not None else None,
    )
    save_racing(
        lambda: save_valid(note, exclude_validation=["session"]),
        constraint=ONE_NOTE_PER_SESSION,
        recheck=lambda: _require_first_note_of_session(actor, session),
    )
    note.goals_addressed.set(goals)
    audit_append(actor=actor, action="create", object_type="note", object_ids=[note.pk])
    return note


@transaction.atomic
def note_update(*, actor, note: ProgressNote, expected_version: int | None, **changes) -> ProgressNote:
    """The author edits their draft. Signed notes answer 409: they change only through addenda."""
    _require_author(actor, note)
    locked = lock_at_version(note, expected_version=expected_version)
    _require_draft(locked)
    goals = changes.pop("goals_addressed", None)
    if "session_date" in changes:
        if locked.session_id is not None:
            changes["session_date"] = _session_date_of(locked.case, locked.session, changes["session_date"])
        _validate_session_date(changes["session_date"])
    if "format" in changes or "sections" in changes:
        note_format = changes.get("format", locked.format)
        sections = changes.get("sections", locked.sections or {})
        if "format" in changes and "sections" not in changes:
            dropped = [k for k, v in sections.items() if k not in NOTE_SECTIONS[note_format] and v.strip()]
            if dropped:
                message = (
                    f"The {note_format} format has no {', '.join(dropped)} section; "
                    "send `sections` for the new format so that no text is lost."
                )
                raise InvalidInput({"format": [message]})
            sections = {k: v for k, v in sections.items() if k in NOTE_SECTIONS[note_format]}
        changes["sections"] = validate_sections(note_format, sections)
    note = update_versioned(locked, expected_version=None, changes=changes)
    if goals is not None:
        note.goals_addressed.set(_validate_goals(note.case, goals))
    audit_append(
        actor=actor,
        action="update",
        object_type="note",
        object_ids=[note.pk],
        detail={"fields": sorted([*changes, *(["goals_addressed"] if goals is not None else [])])},
    )
    return note


@transaction.atomic
def note_sign(*, actor, note: ProgressNote, expected_version: int | None = None) -> ProgressNote:
    """The author signs a complete draft; it is locked from then on. A note by a clinician who has a
    supervisor now needs that supervisor's co-signature."""
    _require_author(actor, note)
    locked = lock_at_version(note, expected_version=expected_version)
    _require_draft(locked)
    missing = [name for name in NOTE_SECTIONS[locked.format] if not (locked.sections or {}).get(name, "").strip()]
    if missing:
        raise Conflict(
            f"Fill in every section before signing; empty: {', '.join(missing)}.",
            code="note_incomplete",
            missing_sections=missing,
        )
    supervisor = active_supervisor_of(clinician=actor)
    note = update_versioned(
        locked,
        expected_version=None,
        changes={
            "status": NoteStatus.SIGNED,
            "signed_at": timezone.now(),
            "cosign_required": supervisor is not None,
        },
    )
    audit_append(actor=actor, action="sign", object_type="note", object_ids=[note.pk])
    happened("note.signed", note=note, case=note.case_id)
    if note.cosign_required:
        happened("note.awaiting_cosign", note=note, case=note.case_id)
    return note


@transaction.atomic
def note_cosign(*, actor, note: ProgressNote) -> ProgressNote:
    """The author's current supervisor co-signs a signed note that needs it."""
    supervisor = active_supervisor_of(clinician=note.author)
    if supervisor is None or supervisor.pk != actor.pk:
        raise NotAllowed("Only the author's supervisor may co-sign this note.", code="not_authors_supervisor")
    locked = lock_at_version(note, expected_version=None)
    if locked.status != NoteStatus.SIGNED or not locked.cosign_required:
        raise Conflict("Only a signed note that needs co-signature can be co-signed.", code="cosign_not_needed")
    if locked.cosigned_at is not None:
        raise Conflict("This note is already co-signed.", code="already_cosigned")
    note = update_versioned(
        locked, expected_version=None, changes={"cosigned_by": actor, "cosigned_at": timezone.now()}
    )
    audit_append(actor=actor, action="cosign", object_type="note", object_ids=[note.pk])
    happened("note.cosigned", note=note, case=note.case_id)
    return note


@transaction.atomic
def note_add_addendum(*, actor, note: ProgressNote, text: str) -> ProgressNote:
    """After signing, the author or their supervisor may add to a note, never change it. Returns the note, at its
    new version."""
    supervisor = active_supervisor_of(clinician=note.author)
    if actor.pk != note.author_id and (supervisor is None or supervisor.pk != actor.pk):
        raise NotAllowed("Only the note's author or their supervisor may add to it.", code="not_author_or_cosigner")
    locked = lock_at_version(note, expected_version=None)
    if locked.status != NoteStatus.SIGNED:
        raise Conflict("Addenda are for signed notes; edit a draft directly.", code="note_not_signed")
    if not text.strip():
        raise InvalidInput({"text": ["An addendum needs some text."]})
    addendum = NoteAddendum.objects.create(note=locked, author=actor, text=text.strip())
    update_versioned(locked, expected_version=None, changes={})  # a new version: clients holding the ETag see it
    audit_append(
        actor=actor,
        action="addendum",
        object_type="note",
        object_ids=[note.pk],
        detail={"addendum": str(addendum.pk)},
    )
    return locked


@transaction.atomic
def note_enter_in_error(*, actor, note: ProgressNote, reason: str, expected_version: int | None = None) -> ProgressNote:
    """The author retires a note written by mistake; it is kept, marked, with the reason."""
    _require_author(actor, note)
    locked = lock_at_version(note, expected_version=expected_version)
    if locked.status == NoteStatus.ENTERED_IN_ERROR:
        raise Conflict("This note is already marked entered in error.", code="note_entered_in_error")
    if not reason.strip():
        raise InvalidInput({"reason": ["Say why the note is being retired."]})
    note = update_versioned(
        locked,
        expected_version=None,
        changes={
            "status": NoteStatus.ENTERED_IN_ERROR,
            "entered_in_error_reason": reason.strip(),
        },
    )
    audit_append(actor=actor, action="enter_in_error", object_type="note", object_ids=[note.pk])
    return note
