"""What the database itself guarantees for homework submissions: what the client sent is never overwritten,
a submission is never deleted, only the review may be added and a current revision marked amended; free-text
answers and feedback are encrypted at rest, in the row history too."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import InternalError, ProgrammingError, connection, transaction
from django.utils import timezone

from clinical.fields import fernet
from clinical.models import HomeworkSubmission, Role, SubjectType, SubmissionStatus
from clinical.services import homework as services
from clinical.services.encryption import encrypted_columns
from tests.factories import CaseFactory, ClientFactory, CoupleFactory, UserFactory

EXERCISE = "i-statement-practice"
# Distinctive phrases: if the database holds them anywhere in plaintext, encryption at rest failed.
SECRET_ANSWER = "pelican-thimble confession about the debt 7731"
SECRET_AMENDED = "quiet-orchard apology rewritten 2259"
SECRET_FEEDBACK = "lighthouse-walnut feedback on the shame spiral 6402"
SUBMISSION_TABLE = "clinical_homeworksubmission"
COLUMNS = [
    "responses",
    "completed_at",
    "received_at",
    "client_id",
    "assignment_id",
    "case_id",
    "period",
    "shared_with_partner",
    "status",
    "revision",
    "amends_id",
    "feedback",
    "reviewed_by_id",
    "reviewed_at",
    "version",
]


def answers(i_statement="I feel unheard when plans change without a word, and I would like a quick text."):
    return {
        "usual_sentence": "You never tell me anything.",
        "i_statement": i_statement,
        "said_it": True,
        "felt_natural": 4,
    }


def event_model():
    return apps.get_model("clinical", "HomeworkSubmissionEvent")


def raw_row(pk, columns=COLUMNS, table=SUBMISSION_TABLE):
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)} WHERE id = %s", [pk])
        return cursor.fetchone()


def raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def refused(fn):
    """The statement must be rejected by the database; the test's transaction stays usable.

    A trigger's RAISE EXCEPTION (SQLSTATE P0001) reaches Django as ProgrammingError with psycopg 3."""
    with (
        pytest.raises((InternalError, ProgrammingError), match=r"pgtrigger: Cannot (update|delete) rows"),
        transaction.atomic(),
    ):
        fn()


class Homework:
    """A couple case with homework for both partners, who have app logins."""

    def __init__(self, catalog):
        self.clinician = UserFactory(role=Role.CLINICIAN)
        self.a = ClientFactory(primary_clinician=self.clinician)
        self.b = ClientFactory(primary_clinician=self.clinician)
        for client in (self.a, self.b):
            client.user = UserFactory(role=Role.CLIENT)
            client.save(update_fields=["user"])
        couple = CoupleFactory(partners=[self.a, self.b])
        self.case = CaseFactory(clinician=self.clinician, subject_type=SubjectType.COUPLE, couple=couple)
        self.assignment = services.assignment_create(
            actor=self.clinician,
            case=self.case,
            exercise=catalog[EXERCISE],
            assignees=[self.a, self.b],
            start_date=timezone.localdate() - timedelta(days=20),
            frequency="daily",
            target_count=30,
        )

    def submit(self, client=None, *, responses=None, days_ago=1, shared=False):
        return services.submission_create(
            actor=(client or self.a).user,
            assignment=self.assignment,
            completed_at=timezone.now() - timedelta(days=days_ago),
            responses=responses or answers(),
            shared_with_partner=shared,
        )


@pytest.fixture
def homework(catalog):
    return Homework(catalog)


@pytest.fixture
def submission(homework):
    return homework.submit(responses=answers(SECRET_ANSWER))


@pytest.fixture
def amended_pair(homework):
    """(old, new): a submission and its correction."""
    old = homework.submit()
    new = services.submission_amend(actor=homework.a.user, submission=old, responses=answers(SECRET_AMENDED))
    return HomeworkSubmission.objects.get(pk=old.pk), new


# ---------------------------------------------------------------- never overwritten


ORM_CHANGES = [
    pytest.param(lambda s, h: {"responses": answers("softened afterwards")}, id="responses"),
    pytest.param(lambda s, h: {"responses": s.responses}, id="responses-same-answers-new-token"),
    pytest.param(lambda s, h: {"responses": None}, id="responses-erased"),
    pytest.param(lambda s, h: {"completed_at": s.completed_at - timedelta(hours=1)}, id="completed_at"),
    pytest.param(lambda s, h: {"received_at": s.received_at - timedelta(days=1)}, id="received_at"),
    pytest.param(lambda s, h: {"client": h.b}, id="client"),
    pytest.param(
        lambda s, h: {
            "assignment": services.assignment_create(
                actor=h.clinician, case=h.case, exercise=s.assignment.exercise_version.exercise, assignees=[h.a]
            )
        },
        id="assignment",
    ),
    pytest.param(lambda s, h: {"case": CaseFactory(clinician=h.clinician)}, id="case"),
    pytest.param(lambda s, h: {"period": s.period + 1}, id="period"),
    pytest.param(lambda s, h: {"shared_with_partner": True}, id="shared_with_partner"),
    pytest.param(lambda s, h: {"amends": h.submit(days_ago=2), "revision": 2}, id="amends"),
    pytest.param(lambda s, h: {"revision": 5}, id="revision"),
]


@pytest.mark.parametrize("change", ORM_CHANGES)
def test_orm_update_of_what_the_client_sent_is_refused(homework, submission, change):
    before = raw_row(submission.pk)
    changes = change(submission, homework)

    refused(lambda: HomeworkSubmission.objects.filter(pk=submission.pk).update(**changes))

    assert raw_row(submission.pk) == before


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("responses", lambda s, h: Fernet(Fernet.generate_key()).encrypt(b'{"i_statement":"forged"}').decode()),
        ("responses", lambda s, h: '{"i_statement": "plaintext slipped in"}'),
        ("completed_at", lambda s, h: s.completed_at + timedelta(minutes=5)),
        ("received_at", lambda s, h: timezone.now()),
        ("client_id", lambda s, h: h.b.pk),
        ("case_id", lambda s, h: CaseFactory(clinician=h.clinician).pk),
        ("period", lambda s, h: 0),
        ("shared_with_partner", lambda s, h: True),
        ("revision", lambda s, h: 2),
    ],
)
def test_raw_sql_update_of_what_the_client_sent_is_refused(homework, submission, column, value):
    before = raw_row(submission.pk)
    new_value = value(submission, homework)

    refused(lambda: raw(f'UPDATE {SUBMISSION_TABLE} SET "{column}" = %s WHERE id = %s', [new_value, submission.pk]))

    assert raw_row(submission.pk) == before


def test_the_amends_link_of_a_revision_cannot_be_moved_or_cut(homework, amended_pair):
    old, new = amended_pair
    other = homework.submit(days_ago=3)
    before = raw_row(new.pk)

    refused(lambda: HomeworkSubmission.objects.filter(pk=new.pk).update(amends=other))
    refused(lambda: raw(f"UPDATE {SUBMISSION_TABLE} SET amends_id = %s WHERE id = %s", [other.pk, new.pk]))
    refused(lambda: raw(f"UPDATE {SUBMISSION_TABLE} SET amends_id = NULL, revision = 1 WHERE id = %s", [new.pk]))

    assert raw_row(new.pk) == before
    assert raw_row(new.pk, ["amends_id"]) == (old.pk,)


def test_an_amended_revision_never_becomes_current_again(amended_pair):
    old, _ = amended_pair
    assert old.status == SubmissionStatus.AMENDED
    before = raw_row(old.pk)

    refused(lambda: HomeworkSubmission.objects.filter(pk=old.pk).update(status=SubmissionStatus.CURRENT))
    refused(lambda: raw(f"UPDATE {SUBMISSION_TABLE} SET status = 'current' WHERE id = %s", [old.pk]))

    assert raw_row(old.pk) == before


def test_saving_a_changed_submission_through_the_model_is_refused(submission):
    before = raw_row(submission.pk)
    submission.responses = answers("edited in the admin")

    refused(submission.save)

    assert raw_row(submission.pk) == before
    assert HomeworkSubmission.objects.get(pk=submission.pk).responses == answers(SECRET_ANSWER)


# ---------------------------------------------------------------- what may change


def test_the_review_may_be_added_once(homework, submission):
    sent = raw_row(submission.pk, ["responses", "completed_at", "received_at", "client_id", "period"])
    now = timezone.now()

    with transaction.atomic():
        updated = HomeworkSubmission.objects.filter(pk=submission.pk).update(
            feedback=SECRET_FEEDBACK, reviewed_by=homework.clinician, reviewed_at=now, version=2, updated_at=now
        )

    assert updated == 1
    stored = HomeworkSubmission.objects.get(pk=submission.pk)
    assert (stored.feedback, stored.reviewed_by_id, stored.reviewed_at, stored.version) == (
        SECRET_FEEDBACK,
        homework.clinician.pk,
        now,
        2,
    )
    assert raw_row(submission.pk, ["responses", "completed_at", "received_at", "client_id", "period"]) == sent
    # Once given, the feedback stays as given.
    reviewed = raw_row(submission.pk)
    refused(lambda: HomeworkSubmission.objects.filter(pk=submission.pk).update(feedback="softer wording"))
    refused(lambda: HomeworkSubmission.objects.filter(pk=submission.pk).update(feedback=None))
    assert raw_row(submission.pk) == reviewed


def test_a_current_revision_may_be_marked_amended(submission):
    with transaction.atomic():
        updated = raw(
            f"UPDATE {SUBMISSION_TABLE} SET status = 'amended', version = version + 1 WHERE id = %s", [submission.pk]
        )

    assert updated == 1
    assert HomeworkSubmission.objects.get(pk=submission.pk).status == SubmissionStatus.AMENDED


def test_the_services_amend_and_review_under_the_trigger(homework):
    first = homework.submit(responses=answers(SECRET_ANSWER))
    second = services.submission_amend(actor=homework.a.user, submission=first, responses=answers(SECRET_AMENDED))
    services.submission_review(actor=homework.clinician, submission=second, feedback=SECRET_FEEDBACK)

    rows = {s.revision: s for s in HomeworkSubmission.objects.all()}
    assert (rows[1].status, rows[1].responses, rows[1].feedback) == ("amended", answers(SECRET_ANSWER), None)
    assert (rows[2].status, rows[2].responses, rows[2].feedback, rows[2].amends_id) == (
        "current",
        answers(SECRET_AMENDED),
        SECRET_FEEDBACK,
        first.pk,
    )


# ---------------------------------------------------------------- never deleted


def test_the_database_refuses_to_delete_a_submission(homework, submission, amended_pair):
    old, new = amended_pair
    for target in (submission, old, new):
        refused(lambda target=target: raw(f"DELETE FROM {SUBMISSION_TABLE} WHERE id = %s", [target.pk]))
    refused(lambda: HomeworkSubmission.objects.filter(pk=submission.pk).delete())
    refused(submission.delete)
    refused(lambda: raw(f"DELETE FROM {SUBMISSION_TABLE}", []))

    assert HomeworkSubmission.objects.filter(pk__in=[submission.pk, old.pk, new.pk]).count() == 3
    assert HomeworkSubmission.objects.get(pk=submission.pk).responses == answers(SECRET_ANSWER)


# ---------------------------------------------------------------- encryption at rest


def write_everything(homework):
    """A submission, its correction and a review: every path that stores answers or feedback."""
    first = homework.submit(responses=answers(SECRET_ANSWER), shared=True)
    second = services.submission_amend(actor=homework.a.user, submission=first, responses=answers(SECRET_AMENDED))
    services.submission_review(actor=homework.clinician, submission=second, feedback=SECRET_FEEDBACK)
    return first, second


def test_the_encrypted_columns_include_the_submissions_and_their_history():
    found = {(model, field.name) for model, field in encrypted_columns()}
    assert {
        (HomeworkSubmission, "responses"),
        (HomeworkSubmission, "feedback"),
        (event_model(), "responses"),
        (event_model(), "feedback"),
    } <= found


def test_answers_and_feedback_are_stored_only_as_fernet_tokens(homework):
    first, second = write_everything(homework)
    quote = connection.ops.quote_name
    event_table = quote(event_model()._meta.db_table)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, responses, feedback FROM {SUBMISSION_TABLE}")
        rows = {pk: (responses, feedback) for pk, responses, feedback in cursor.fetchall()}
        cursor.execute(f"SELECT pgh_obj_id, responses, feedback FROM {event_table}")
        history = cursor.fetchall()

    assert set(rows) == {first.pk, second.pk}
    assert rows[first.pk][1] is None
    # first: insert + marked amended; second: insert + review
    assert len(history) == 4
    values = [v for pair in rows.values() for v in pair if v is not None]
    values += [v for _, responses, feedback in history for v in (responses, feedback) if v is not None]
    assert len(values) == 3 + 4 + 1
    for value in values:
        assert value.startswith("gAAAAA"), value
        for phrase in (SECRET_ANSWER, SECRET_AMENDED, SECRET_FEEDBACK, "i_statement", "usual_sentence", "You never"):
            assert phrase not in value
    # They are real tokens of the configured key, holding what was sent.
    assert json.loads(fernet().decrypt(rows[first.pk][0].encode())) == answers(SECRET_ANSWER)
    assert json.loads(fernet().decrypt(rows[second.pk][0].encode())) == answers(SECRET_AMENDED)
    assert fernet().decrypt(rows[second.pk][1].encode()).decode() == SECRET_FEEDBACK
    history_answers = [json.loads(fernet().decrypt(r.encode())) for _, r, _ in history]
    assert sorted(a["i_statement"] for a in history_answers) == sorted(
        [SECRET_ANSWER, SECRET_ANSWER, SECRET_AMENDED, SECRET_AMENDED]
    )
    history_feedback = [fernet().decrypt(f.encode()).decode() for _, _, f in history if f is not None]
    assert history_feedback == [SECRET_FEEDBACK]
    # The ORM reads them back, the history too.
    assert {e.feedback for e in event_model().objects.filter(pgh_obj_id=second.pk)} == {None, SECRET_FEEDBACK}


def test_no_table_holds_the_plaintext_anywhere(call_as, homework):
    """Every table, every column, cast to text, after the HTTP path (audit detail, idempotency store, row history
    and its context included)."""
    write_everything(homework)
    api = call_as(homework.b.user, ["homework"])
    created = api.post(
        "/api/v1/submissions/",
        {
            "assignment": str(homework.assignment.pk),
            "completed_at": (timezone.now() - timedelta(hours=2)).isoformat(),
            "responses": answers(SECRET_ANSWER + " by b"),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert created.status_code == 201, created.content
    amended = api.post(
        f"/api/v1/submissions/{created.json()['id']}/amend/",
        {"responses": answers(SECRET_AMENDED + " by b")},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert amended.status_code == 201, amended.content
    reviewed = call_as(homework.clinician, ["clinical:read", "clinical:write"]).post(
        f"/api/v1/submissions/{amended.json()['id']}/review/", {"feedback": SECRET_FEEDBACK + " for b"}, format="json"
    )
    assert reviewed.status_code == 200, reviewed.content
    assert api.get(f"/api/v1/submissions/{amended.json()['id']}/").json()["feedback"] == SECRET_FEEDBACK + " for b"

    quote = connection.ops.quote_name
    leaks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for phrase in (SECRET_ANSWER, SECRET_AMENDED, SECRET_FEEDBACK):
                cursor.execute(f"SELECT count(*) FROM {quote(table)} AS r WHERE strpos(r::text, %s) > 0", [phrase])
                if cursor.fetchone()[0]:
                    leaks.append((table, phrase))
    assert leaks == []


def test_key_rotation_reencrypts_submissions_and_their_history(settings, homework):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    first, second = write_everything(homework)
    expected = {s.pk: (s.responses, s.feedback, s.status, s.version) for s in HomeworkSubmission.objects.all()}
    history = sorted(
        (str(e.pgh_obj_id), e.version, json.dumps(e.responses), e.feedback or "") for e in event_model().objects.all()
    )

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("reencrypt", stdout=StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    assert {s.pk: (s.responses, s.feedback, s.status, s.version) for s in HomeworkSubmission.objects.all()} == expected
    assert (
        sorted(
            (str(e.pgh_obj_id), e.version, json.dumps(e.responses), e.feedback or "")
            for e in event_model().objects.all()
        )
        == history
    )
    assert raw_row(second.pk, ["feedback"])[0].startswith("gAAAAA")
    # The trigger is back after rotation.
    refused(lambda: HomeworkSubmission.objects.filter(pk=first.pk).update(responses=answers("after rotation")))
