"""What the database itself guarantees for progress notes: signed notes do not change, notes and addenda are
never removed, their text is encrypted at rest (row history included), and keys rotate without loss."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import InternalError, ProgrammingError, connection, transaction
from django.utils import timezone

from clinical.fields import FieldDecryptionError, fernet
from clinical.models import NoteAddendum, NoteStatus, ProgressNote
from clinical.services import notes as services
from clinical.services.encryption import encrypted_columns
from tests.factories import (
    AddendumFactory,
    CaseFactory,
    GoalFactory,
    NoteFactory,
    SupervisionFactory,
    UserFactory,
)

# Distinctive phrases: if the database holds them anywhere in plaintext, encryption at rest failed.
SECRET_SECTION = "zebra-lantern disclosure about the affair 4417"
SECRET_EDIT = "quietly-rewritten heron sentence 8823"
SECRET_ADDENDUM = "marmalade-harbour addendum confession 5190"


def soap(**overrides):
    return {
        "subjective": SECRET_SECTION,
        "objective": "Calm, engaged, good eye contact.",
        "assessment": "Trust slowly rebuilding.",
        "plan": "Weekly check-in; one appreciation a day.",
        **overrides,
    }


def signed_note(**kwargs):
    kwargs = {"sections": soap(), "status": NoteStatus.SIGNED, "cosign_required": True, **kwargs}
    return NoteFactory(signed_at=timezone.now(), **kwargs)


def raw_row(table, pk, columns):
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)} WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


NOTE_COLUMNS = ["sections", "session_date", "format", "case_id", "author_id", "status", "signed_at", "version"]


def note_row(note):
    return raw_row("clinical_progressnote", note.pk, NOTE_COLUMNS)


def refused(fn):
    """The statement must be rejected by the database; the test's transaction stays usable.

    A trigger's RAISE EXCEPTION (SQLSTATE P0001) reaches Django as ProgrammingError with psycopg 3."""
    with (
        pytest.raises(
            (InternalError, ProgrammingError), match=r"pgtrigger: Cannot (update|delete|update or delete) rows"
        ),
        transaction.atomic(),
    ):
        fn()


def raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def event_models():
    """{tracked model: (its row-history event model, its encrypted field)}, found from the encrypted columns."""
    found = {}
    for model, field in encrypted_columns():
        pgh_obj = next((f for f in model._meta.get_fields() if f.name == "pgh_obj"), None)
        if pgh_obj is not None:
            found[pgh_obj.related_model] = (model, field)
    return found


def event_counts():
    return {model: model.objects.count() for model, _ in event_models().values()}


# ---------------------------------------------------------------- the signed-note trigger


def test_the_event_models_of_notes_and_addenda_are_encrypted_columns():
    found = event_models()
    assert set(found) >= {ProgressNote, NoteAddendum}
    assert found[ProgressNote][1].name == "sections"
    assert found[NoteAddendum][1].name == "text"


@pytest.mark.parametrize("status", [NoteStatus.SIGNED, NoteStatus.ENTERED_IN_ERROR])
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda note: {"sections": soap(subjective="rewritten after signing")}, id="sections"),
        pytest.param(lambda note: {"sections": note.sections}, id="sections-same-text-new-token"),
        pytest.param(lambda note: {"sections": None}, id="sections-erased"),
        pytest.param(lambda note: {"session_date": note.session_date - timedelta(days=3)}, id="session_date"),
        pytest.param(lambda note: {"format": "dap"}, id="format"),
        pytest.param(lambda note: {"case": CaseFactory(clinician=note.author)}, id="case"),
        pytest.param(lambda note: {"author": UserFactory()}, id="author"),
        pytest.param(lambda note: {"signed_at": note.signed_at - timedelta(days=1)}, id="signed_at"),
        pytest.param(lambda note: {"status": NoteStatus.DRAFT, "signed_at": None}, id="back-to-draft"),
    ],
)
def test_orm_update_of_a_locked_note_is_refused(change, status):
    note = signed_note(status=status)
    before = note_row(note)
    changes = change(note)

    refused(lambda: ProgressNote.objects.filter(pk=note.pk).update(**changes))

    assert note_row(note) == before


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("sections", lambda note: Fernet(Fernet.generate_key()).encrypt(b'{"body":"forged"}').decode()),
        ("sections", lambda note: '{"subjective": "plaintext slipped in"}'),
        ("session_date", lambda note: note.session_date - timedelta(days=7)),
        ("format", lambda note: "narrative"),
        ("case_id", lambda note: CaseFactory(clinician=note.author).pk),
        ("author_id", lambda note: UserFactory().pk),
        ("status", lambda note: "draft"),
    ],
)
def test_raw_sql_update_of_a_signed_note_is_refused(column, value):
    note = signed_note()
    before = note_row(note)
    new_value = value(note)
    if column == "status":
        sql, params = (
            "UPDATE clinical_progressnote SET status = %s, signed_at = NULL WHERE id = %s",
            [new_value, note.pk],
        )
    else:
        sql, params = f'UPDATE clinical_progressnote SET "{column}" = %s WHERE id = %s', [new_value, note.pk]

    refused(lambda: raw(sql, params))

    assert note_row(note) == before


def test_saving_a_changed_signed_note_through_the_model_is_refused():
    note = signed_note()
    before = note_row(note)
    note.sections = soap(plan="quietly changed")

    refused(note.save)

    assert note_row(note) == before
    assert ProgressNote.objects.get(pk=note.pk).sections == soap()


def test_a_signed_note_still_takes_its_cosignature_and_retirement():
    note = signed_note()
    supervisor = UserFactory(role="supervisor")
    sections_before = raw_row("clinical_progressnote", note.pk, ["sections"])

    with transaction.atomic():
        cosigned = ProgressNote.objects.filter(pk=note.pk).update(
            cosigned_by=supervisor, cosigned_at=timezone.now(), version=2, updated_at=timezone.now()
        )
    with transaction.atomic():
        retired = raw(
            "UPDATE clinical_progressnote SET status = 'entered_in_error', entered_in_error_reason = %s, "
            "version = version + 1 WHERE id = %s",
            ["wrong client", note.pk],
        )

    assert cosigned == retired == 1
    note.refresh_from_db()
    assert (note.cosigned_by_id, note.status, note.entered_in_error_reason, note.version) == (
        supervisor.pk,
        "entered_in_error",
        "wrong client",
        3,
    )
    assert note.sections == soap()
    assert raw_row("clinical_progressnote", note.pk, ["sections"]) == sections_before


def test_the_services_cosign_and_retire_a_signed_note_under_the_trigger():
    supervisor = UserFactory(role="supervisor")
    author = UserFactory()
    SupervisionFactory(supervisor=supervisor, supervisee=author)
    note = services.note_create(
        actor=author,
        case=CaseFactory(clinician=author),
        session_date=timezone.localdate(),
        format="soap",
        sections=soap(),
    )
    note = services.note_sign(actor=author, note=note)
    note = services.note_cosign(actor=supervisor, note=note)
    services.note_add_addendum(actor=supervisor, note=note, text="Reviewed in supervision.")
    note = services.note_enter_in_error(actor=author, note=note, reason="Duplicate of another note.")

    note.refresh_from_db()
    assert (note.status, note.cosigned_by_id, note.sections) == ("entered_in_error", supervisor.pk, soap())
    assert [a.text for a in note.addenda.all()] == ["Reviewed in supervision."]


def test_a_draft_can_be_updated_in_every_column():
    note = NoteFactory(sections=soap())
    other_case = CaseFactory(clinician=note.author)

    with transaction.atomic():
        updated = ProgressNote.objects.filter(pk=note.pk).update(
            sections={"body": "now a narrative"},
            session_date=note.session_date - timedelta(days=2),
            format="narrative",
            case=other_case,
            version=5,
        )
    with transaction.atomic():
        raw("UPDATE clinical_progressnote SET session_date = session_date - 1 WHERE id = %s", [note.pk])

    assert updated == 1
    note_before_date = note.session_date
    note.refresh_from_db()
    assert note.sections == {"body": "now a narrative"}
    assert (note.format, note.case_id, note.version) == ("narrative", other_case.pk, 5)
    assert note.session_date == note_before_date - timedelta(days=3)


def test_signing_a_draft_is_an_allowed_update():
    note = NoteFactory(sections=soap())

    with transaction.atomic():
        ProgressNote.objects.filter(pk=note.pk).update(status=NoteStatus.SIGNED, signed_at=timezone.now())

    note.refresh_from_db()
    assert note.status == "signed"
    # …and from then on the sections are locked.
    refused(lambda: ProgressNote.objects.filter(pk=note.pk).update(sections=soap(plan="late edit")))


# ---------------------------------------------------------------- never deleted, addenda append-only


@pytest.mark.parametrize("status", [NoteStatus.DRAFT, NoteStatus.SIGNED, NoteStatus.ENTERED_IN_ERROR])
def test_the_database_refuses_to_delete_a_note(status):
    note = NoteFactory(status=status, signed_at=None if status == NoteStatus.DRAFT else timezone.now())
    goal = GoalFactory(case=note.case)
    note.goals_addressed.add(goal)

    refused(lambda: raw("DELETE FROM clinical_progressnote WHERE id = %s", [note.pk]))
    refused(lambda: ProgressNote.objects.filter(pk=note.pk).delete())
    refused(note.delete)

    assert ProgressNote.objects.filter(pk=note.pk).exists()
    assert list(ProgressNote.objects.get(pk=note.pk).goals_addressed.all()) == [goal]


def test_the_database_refuses_to_change_or_delete_an_addendum():
    addendum = AddendumFactory(text=SECRET_ADDENDUM)
    before = raw_row("clinical_noteaddendum", addendum.pk, ["text", "author_id", "note_id", "created_at"])

    refused(lambda: NoteAddendum.objects.filter(pk=addendum.pk).update(text="softened wording"))
    refused(lambda: NoteAddendum.objects.filter(pk=addendum.pk).update(author=UserFactory()))
    refused(lambda: raw("UPDATE clinical_noteaddendum SET created_at = now() WHERE id = %s", [addendum.pk]))
    refused(lambda: raw("DELETE FROM clinical_noteaddendum WHERE id = %s", [addendum.pk]))
    refused(lambda: NoteAddendum.objects.filter(pk=addendum.pk).delete())
    refused(addendum.delete)

    assert raw_row("clinical_noteaddendum", addendum.pk, ["text", "author_id", "note_id", "created_at"]) == before
    assert NoteAddendum.objects.get(pk=addendum.pk).text == SECRET_ADDENDUM


# ---------------------------------------------------------------- encryption at rest


def write_a_note_through_the_services():
    """A draft written, edited, signed and added to: every path that stores note text."""
    author = UserFactory()
    case = CaseFactory(clinician=author)
    note = services.note_create(
        actor=author, case=case, session_date=timezone.localdate(), format="soap", sections=soap()
    )
    note = services.note_update(actor=author, note=note, expected_version=note.version, sections=soap(plan=SECRET_EDIT))
    note = services.note_sign(actor=author, note=note)
    services.note_add_addendum(actor=author, note=note, text=SECRET_ADDENDUM)
    return ProgressNote.objects.get(pk=note.pk)


def encrypted_values():
    """[(table, column, raw value)] for every non-null value of every encrypted column."""
    quote = connection.ops.quote_name
    values = []
    with connection.cursor() as cursor:
        for model, field in encrypted_columns():
            table, column = model._meta.db_table, field.column
            cursor.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE {quote(column)} IS NOT NULL")
            values += [(table, column, value) for (value,) in cursor.fetchall()]
    return values


def test_note_text_is_stored_only_as_fernet_tokens():
    note = write_a_note_through_the_services()
    quote = connection.ops.quote_name
    tables = {model: model._meta.db_table for model in (ProgressNote, NoteAddendum)}
    tables.update({tracked: event._meta.db_table for tracked, (event, _) in event_models().items()})

    with connection.cursor() as cursor:
        cursor.execute("SELECT sections FROM clinical_progressnote WHERE id = %s", [note.pk])
        (sections,) = cursor.fetchone()
        cursor.execute("SELECT text FROM clinical_noteaddendum WHERE note_id = %s", [note.pk])
        (text,) = cursor.fetchone()
        event_table = quote(event_models()[ProgressNote][0]._meta.db_table)
        cursor.execute(f"SELECT sections FROM {event_table} WHERE pgh_obj_id = %s", [note.pk])
        note_history = [value for (value,) in cursor.fetchall()]
        addendum_event_table = quote(event_models()[NoteAddendum][0]._meta.db_table)
        cursor.execute(f"SELECT text FROM {addendum_event_table} WHERE note_id = %s", [note.pk])
        addendum_history = [value for (value,) in cursor.fetchall()]

    # create, update, sign (and the version bump of the addendum) each left a history row; one for the addendum
    assert len(note_history) >= 3
    assert len(addendum_history) == 1
    for value in [sections, text, *note_history, *addendum_history]:
        assert value.startswith("gAAAAA"), value
        for phrase in (SECRET_SECTION, SECRET_EDIT, SECRET_ADDENDUM, "subjective", "Trust slowly"):
            assert phrase not in value
    # They are real tokens of the configured key, holding the text.
    assert json.loads(fernet().decrypt(sections.encode())) == soap(plan=SECRET_EDIT)
    assert fernet().decrypt(text.encode()).decode() == SECRET_ADDENDUM
    history_texts = [json.loads(fernet().decrypt(v.encode())) for v in note_history]
    assert soap() in history_texts  # the old values are kept, encrypted
    assert soap(plan=SECRET_EDIT) in history_texts
    # And the ORM reads them back.
    assert note.sections == soap(plan=SECRET_EDIT)
    assert note.addenda.get().text == SECRET_ADDENDUM


def test_no_table_holds_the_plaintext_anywhere(call_as):
    """Every table, every column, cast to text: the phrases are nowhere (audit detail, idempotency store,
    row history and its context included)."""
    write_a_note_through_the_services()
    author = UserFactory()
    case = CaseFactory(clinician=author)
    api = call_as(author, ["clinical:read", "clinical:write"])
    created = api.post(
        "/api/v1/notes/",
        {"case": str(case.pk), "session_date": timezone.localdate().isoformat(), "format": "soap", "sections": soap()},
        format="json",
        HTTP_IDEMPOTENCY_KEY="integrity-1",
    )
    assert created.status_code == 201, created.content
    note_id = created.json()["id"]
    assert api.post(f"/api/v1/notes/{note_id}/sign/").status_code == 200
    addendum = api.post(f"/api/v1/notes/{note_id}/addenda/", {"text": SECRET_ADDENDUM}, HTTP_IDEMPOTENCY_KEY="add-1")
    assert addendum.status_code == 201
    assert api.get(f"/api/v1/notes/{note_id}/").json()["addenda"][0]["text"] == SECRET_ADDENDUM

    quote = connection.ops.quote_name
    leaks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for phrase in (SECRET_SECTION, SECRET_EDIT, SECRET_ADDENDUM):
                cursor.execute(f"SELECT count(*) FROM {quote(table)} AS r WHERE strpos(r::text, %s) > 0", [phrase])
                if cursor.fetchone()[0]:
                    leaks.append((table, phrase))
    assert leaks == []
    values = encrypted_values()
    assert {table for table, _, _ in values} >= {
        "clinical_progressnote",
        "clinical_noteaddendum",
        event_models()[ProgressNote][0]._meta.db_table,
        event_models()[NoteAddendum][0]._meta.db_table,
        "api_idempotencyrecord",
    }
    assert all(value.startswith("gAAAAA") for _, _, value in values)


# ---------------------------------------------------------------- key rotation


@pytest.fixture
def old_key(settings):
    key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [key]
    return key


@pytest.fixture
def new_key():
    return Fernet.generate_key().decode()


def read_everything(note_ids, addendum_ids):
    """Every encrypted value of these notes and addenda, through the ORM (current rows and history)."""
    (note_events, _), (addendum_events, _) = event_models()[ProgressNote], event_models()[NoteAddendum]
    return {
        "notes": {n.pk: n.sections for n in ProgressNote.objects.filter(pk__in=note_ids)},
        "addenda": {a.pk: a.text for a in NoteAddendum.objects.filter(pk__in=addendum_ids)},
        "note_history": sorted(
            (str(e.pgh_obj_id), e.version, json.dumps(e.sections, sort_keys=True))
            for e in note_events.objects.filter(pgh_obj_id__in=note_ids)
        ),
        "addendum_history": sorted(
            (str(e.pgh_obj_id), e.text) for e in addendum_events.objects.filter(pgh_obj_id__in=addendum_ids)
        ),
    }


def test_key_rotation_reencrypts_signed_notes_addenda_and_history(settings, old_key, new_key):
    signed = write_a_note_through_the_services()
    author = signed.author
    draft = services.note_create(
        actor=author, case=signed.case, session_date=timezone.localdate(), format="narrative", sections={"body": "x"}
    )
    retired = services.note_enter_in_error(
        actor=author,
        note=services.note_sign(
            actor=author,
            note=services.note_create(
                actor=author, case=signed.case, session_date=timezone.localdate(), format="soap", sections=soap()
            ),
        ),
        reason="wrong case",
    )
    note_ids = [signed.pk, draft.pk, retired.pk]
    addendum_ids = list(NoteAddendum.objects.filter(note=signed).values_list("pk", flat=True))
    expected = read_everything(note_ids, addendum_ids)
    raw_before = encrypted_values()
    events_before = event_counts()
    rows_before = {n.pk: (n.version, n.updated_at, n.status) for n in ProgressNote.objects.filter(pk__in=note_ids)}
    assert expected["notes"][signed.pk] == soap(plan=SECRET_EDIT)
    assert len(expected["note_history"]) >= 6

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("reencrypt", stdout=out)

    # Every value was rewritten with the new key, and nothing else happened to the rows.
    assert "clinical.ProgressNote.sections: 3 values re-encrypted" in out.getvalue()
    assert "clinical.NoteAddendum.text: 1 values re-encrypted" in out.getvalue()
    raw_after = encrypted_values()
    assert len(raw_after) == len(raw_before)
    assert not {v for _, _, v in raw_after} & {v for _, _, v in raw_before}
    for _, _, value in raw_after:
        Fernet(new_key.encode()).decrypt(value.encode())
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(value.encode())
    assert event_counts() == events_before
    assert {
        n.pk: (n.version, n.updated_at, n.status) for n in ProgressNote.objects.filter(pk__in=note_ids)
    } == rows_before

    # The old key can go: everything still reads back.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert read_everything(note_ids, addendum_ids) == expected

    # With only the old key nothing reads, and it says so instead of showing ciphertext.
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    note_events, _ = event_models()[ProgressNote]
    addendum_events, _ = event_models()[NoteAddendum]
    with pytest.raises(FieldDecryptionError):
        ProgressNote.objects.get(pk=signed.pk)
    with pytest.raises(FieldDecryptionError):
        NoteAddendum.objects.get(pk=addendum_ids[0])
    with pytest.raises(FieldDecryptionError):
        list(note_events.objects.filter(pgh_obj_id=signed.pk))
    with pytest.raises(FieldDecryptionError):
        list(addendum_events.objects.filter(pgh_obj_id=addendum_ids[0]))


def test_the_signed_note_trigger_is_back_after_rotation(settings, old_key, new_key):
    note = write_a_note_through_the_services()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("reencrypt", stdout=StringIO())

    refused(lambda: ProgressNote.objects.filter(pk=note.pk).update(sections=soap(plan="after rotation")))
    addendum = note.addenda.get()
    refused(lambda: NoteAddendum.objects.filter(pk=addendum.pk).update(text="after rotation"))
    refused(lambda: raw("DELETE FROM clinical_progressnote WHERE id = %s", [note.pk]))
    # Row history records changes again, too: the addendum, and the note's version bump.
    (note_events, _), (addendum_events, _) = event_models()[ProgressNote], event_models()[NoteAddendum]
    events_before = event_counts()
    services.note_add_addendum(actor=note.author, note=note, text="another")
    assert event_counts() == {
        **events_before,
        note_events: events_before[note_events] + 1,
        addendum_events: events_before[addendum_events] + 1,
    }


def test_reencrypt_without_the_old_key_stops_and_changes_nothing(settings, old_key, new_key):
    write_a_note_through_the_services()
    raw_before = sorted(encrypted_values())
    events_before = event_counts()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(FieldDecryptionError):
        call_command("reencrypt", stdout=StringIO())

    assert sorted(encrypted_values()) == raw_before
    assert event_counts() == events_before
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    assert ProgressNote.objects.get().sections == soap(plan=SECRET_EDIT)
