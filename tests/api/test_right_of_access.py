"""The right of access and the right to erasure (issue 17), through HTTP: a client's own record (`me/export/`, JSON,
and FHIR by a redirect to its `Patient/$everything`), built from the reads the app's own screens use, so that the
partner's private material stays out; and the practice admin's erasures (`erasure-requests/`): what is erased,
pseudonymised and kept (and until when), exactly once, never while the client is in care, never touching the
other partner, with the audit chain still whole."""

import json
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from api.models import IdempotencyRecord
from clinical.models import (
    AuditEvent,
    Client,
    ClientInvitation,
    Consent,
    Device,
    ErasureRequest,
    HomeworkSubmission,
    NoteStatus,
    NotificationPreferences,
    ProgressNote,
    SessionRating,
    User,
)
from clinical.services import alliance, cases, consents, homework, reminders, sessions
from fhir_r4.models import BulkExport, BulkExportFile, ExportStatus
from kernel.audit import audit_verify
from tests.factories import ClientFactory, GoalFactory, NoteFactory, UserFactory
from tests.factories.scenes import CoupleInCare
from tests.helpers import HOMEWORK, READ_WRITE, assert_problem, sent_at_once

EXPORT = "/api/v1/me/export/"
ERASURES = "/api/v1/erasure-requests/"

# What partner b keeps to themselves, and what the therapist wrote b: none of it may reach a.
B_PRIVATE_ANSWER = "I feel unseen when the Zanzibar trip comes up"
B_SHARED_ANSWER = "I feel hopeful when we plan the Lofoten weekend together"
B_FEEDBACK = "Kind words for b about the Lofoten plan"
A_FEEDBACK = "Kind words for a about the dinner talk"
B_ALONE_ROOM = "https://video.example/r/b-alone-quokka"
A_CLIENT = {
    "given_name": "Perpetua",
    "family_name": "Ravensworth",
    "preferred_name": "Pet",
    "pronouns": "she/her",
    "email": "perpetua.ravensworth@example.test",
    "phone": "+44 20 7946 0813",
}
A_LOGIN_EMAIL = "pet.app@example.test"
B_FAMILY_NAME = "Quillon-Ashby"


def answers(i_statement):
    """Answers to the i-statement exercise (tests.factories.scenes.EXERCISE)."""
    return {"usual_sentence": "You never listen.", "i_statement": i_statement, "said_it": True, "felt_natural": 6}


class RecordedCouple(CoupleInCare):
    """A couple in care with a little of everything: homework both partners answered (each one private and one
    shared answer; b's reviewed, a's reviewed), a joint session both rated and one b had alone, a measure each, a
    goal, and a's consent, phone, reminder preferences and a stored idempotent answer."""

    def __init__(self, clinician, catalog, call_as):
        super().__init__(clinician)
        Client.objects.filter(pk=self.a.pk).update(**A_CLIENT)
        Client.objects.filter(pk=self.b.pk).update(family_name=B_FAMILY_NAME, email="b.partner@example.test")
        self.b.refresh_from_db()
        User.objects.filter(pk=self.a_user.pk).update(email=A_LOGIN_EMAIL)
        self.a.refresh_from_db()
        self.a_user.refresh_from_db()
        self.as_a, self.as_b = call_as(self.a_user, HOMEWORK), call_as(self.b_user, HOMEWORK)
        self.assignment = self.assign(catalog)
        self.goal_title = "Talk about our week on Sundays"
        self.goal = GoalFactory(case=self.case, title=self.goal_title)
        self.a_private = self.submit(self.as_a, "I feel alone when the phone comes out at dinner")
        self.a_shared = self.submit(self.as_a, "I feel close when we cook together", shared=True)
        self.b_private = self.submit(self.as_b, B_PRIVATE_ANSWER)
        self.b_shared = self.submit(self.as_b, B_SHARED_ANSWER, shared=True)
        homework.submission_review(
            actor=clinician, submission=HomeworkSubmission.objects.get(pk=self.b_shared), feedback=B_FEEDBACK
        )
        homework.submission_review(
            actor=clinician, submission=HomeworkSubmission.objects.get(pk=self.a_private), feedback=A_FEEDBACK
        )
        now = timezone.now().replace(microsecond=0)
        self.joint = sessions.session_create(
            actor=clinician,
            case=self.case,
            starts_at=now - timedelta(days=2),
            ends_at=now - timedelta(days=2, minutes=-50),
            modality="in_person",
            location="Room 2",
        )
        self.joint = sessions.session_transition(actor=clinician, session=self.joint, to="attended")
        self.a_rating = alliance.rating_submit(
            actor=self.a_user, session=self.joint, heard=9, goals=9, approach=9, overall=9
        )
        self.b_rating = alliance.rating_submit(
            actor=self.b_user, session=self.joint, heard=3, goals=3, approach=3, overall=3
        )
        self.b_alone = sessions.session_create(
            actor=clinician,
            case=self.case,
            starts_at=now + timedelta(days=3),
            ends_at=now + timedelta(days=3, minutes=50),
            modality="video",
            kind="individual",
            partner=self.b,
            location=B_ALONE_ROOM,
        )
        self.a_phq9 = self.record(self.a, "phq9", 8, now - timedelta(days=1)).pk
        self.b_gad7 = self.record(self.b, "gad7", 12, now - timedelta(days=1)).pk
        self.a_consent = consents.consent_give(actor=self.a_user, kind="electronic_communication")
        self.a_device = reminders.device_register(actor=self.a_user, platform="ios", token="a-phone-push-token")
        reminders.preferences_of(user=self.a_user)

    def submit(self, caller, i_statement, *, shared=False) -> str:
        response = caller.post(
            "/api/v1/submissions/",
            {
                "assignment": str(self.assignment.pk),
                "completed_at": (timezone.now() - timedelta(hours=1)).isoformat(),
                "responses": answers(i_statement),
                "shared_with_partner": shared,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def close(self):
        cases.case_transition(actor=self.clinician, case=self.case, action="close", closing_reason="Moved away")


@pytest.fixture
def couple(clinician, catalog, call_as):
    return RecordedCouple(clinician, catalog, call_as)


def listed(caller, path) -> set[str]:
    response = caller.get(path, {"page_size": 200})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def section(export, name) -> set[str]:
    return {row["id"] for row in export[name]}


# ---------------------------------------------------------------- the right of access: me/export/


def test_the_export_is_what_the_app_lets_the_client_read_and_none_of_the_partners_private_material(couple):
    response = couple.as_a.get(EXPORT)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    export = response.json()
    text = response.content.decode()
    # Built from the same reads as the app's screens: each section is what the matching endpoint lists.
    assert section(export, "goals") == listed(couple.as_a, "/api/v1/me/goals/") == {str(couple.goal.pk)}
    assert section(export, "submissions") == listed(couple.as_a, "/api/v1/submissions/")
    assert section(export, "assessments") == listed(couple.as_a, "/api/v1/assessments/") == {str(couple.a_phq9)}
    assert section(export, "session_ratings") == listed(couple.as_a, "/api/v1/me/session-ratings/")
    assert section(export, "consents") == listed(couple.as_a, "/api/v1/me/consents/")
    assert section(export, "devices") == listed(couple.as_a, "/api/v1/me/devices/") == {str(couple.a_device.pk)}
    assert section(export, "assignments") == listed(couple.as_a, "/api/v1/me/assignments/")
    # a's own answers and b's shared one; never b's private answer, b's rating, b's session alone, b's measure.
    assert section(export, "submissions") == {couple.a_private, couple.a_shared, couple.b_shared}
    assert section(export, "session_ratings") == {str(couple.a_rating.pk)}
    assert section(export, "sessions") == {str(couple.joint.pk)}
    for private in (couple.b_private, B_PRIVATE_ANSWER, str(couple.b_rating.pk), str(couple.b_alone.pk)):
        assert private not in text
    assert B_ALONE_ROOM not in text
    assert str(couple.b_gad7) not in text
    # The review of b's shared answer is b's; the review of a's own answer is a's.
    feedback = {row["id"]: row["feedback"] for row in export["submissions"]}
    assert feedback[couple.b_shared] is None
    assert B_FEEDBACK not in text
    assert feedback[couple.a_private] == A_FEEDBACK
    assert {row["client"] for row in export["submissions"]} == {str(couple.a.pk), str(couple.b.pk)}
    # Who a is, as the practice records it, with a's progress on the homework.
    assert export["client"]["given_name"] == A_CLIENT["given_name"]
    assert export["client"]["email"] == A_CLIENT["email"]
    assert export["login"] == {
        "id": str(couple.a_user.pk),
        "email": A_LOGIN_EMAIL,
        "display_name": couple.a_user.display_name,
        "role": "client",
        "created_at": export["login"]["created_at"],
    }
    assert export["cases"] == [
        {
            "id": str(couple.case.pk),
            "subject_type": "couple",
            "status": "open",
            "opened_on": str(couple.case.opened_on),
            "closed_on": None,
        }
    ]
    assert export["assignments"][0]["my_progress"]["completed"] == 1
    assert export["notification_preferences"]["time_zone"] == ""
    assert export["fhir"].endswith(f"/fhir/r4/Patient/{couple.a.pk}/$everything")
    # Nothing of b's identity either: a knows their partner, but the practice's record of b is b's.
    assert couple.b.family_name not in text
    assert couple.b.email not in text


def test_the_partners_export_mirrors_it(couple):
    export = couple.as_b.get(EXPORT).json()

    assert section(export, "submissions") == {couple.b_private, couple.b_shared, couple.a_shared}
    assert section(export, "session_ratings") == {str(couple.b_rating.pk)}
    assert section(export, "sessions") == {str(couple.joint.pk), str(couple.b_alone.pk)}
    assert couple.a_private not in json.dumps(export)
    assert A_FEEDBACK not in json.dumps(export)


def test_every_record_in_the_export_is_audited_as_read_by_the_client(couple):
    before = AuditEvent.objects.count()

    export = couple.as_a.get(EXPORT).json()

    events = AuditEvent.objects.order_by("id")[before:]
    read = {event.object_type: {str(i) for i in event.object_ids} for event in events}
    assert {event.actor_id for event in events} == {couple.a_user.pk}
    assert {event.action for event in events} == {"read"}
    assert all(event.detail == {"via": "export"} for event in events)
    assert read == {
        "client": {str(couple.a.pk)},
        "case": section(export, "cases"),
        "goal": section(export, "goals"),
        "assignment": section(export, "assignments"),
        "submission": section(export, "submissions"),
        "assessment": section(export, "assessments"),
        "session": section(export, "sessions"),
        "session_rating": section(export, "session_ratings"),
        "consent": section(export, "consents"),
    }
    assert audit_verify().ok


@pytest.mark.parametrize(
    ("query", "accept"),
    [({"format": "fhir"}, None), ({}, "application/fhir+json")],
    ids=["?format=fhir", "Accept: application/fhir+json"],
)
def test_the_export_as_fhir_is_the_clients_own_everything_bundle(couple, query, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    before = AuditEvent.objects.count()

    response = couple.as_a.get(EXPORT, query, **headers)

    assert response.status_code == 303, response.content
    assert response.content == b""
    assert response["Location"] == f"http://testserver/fhir/r4/Patient/{couple.a.pk}/$everything"
    assert AuditEvent.objects.count() == before  # nothing read yet: the FHIR read is audited where it happens
    bundle = couple.as_a.get(response["Location"])
    assert bundle.status_code == 200, bundle.content
    resources = {(entry["resource"]["resourceType"], entry["resource"]["id"]) for entry in bundle.json()["entry"]}
    assert ("Patient", str(couple.a.pk)) in resources
    assert ("Patient", str(couple.b.pk)) not in resources
    ids = {pk for _, pk in resources}
    assert {couple.b_private, str(couple.b_alone.pk), str(couple.b_gad7)}.isdisjoint(ids)
    assert B_PRIVATE_ANSWER not in bundle.content.decode()


def test_a_login_without_a_client_record_exports_no_record_and_has_no_fhir(call_as):
    caller = call_as(UserFactory(role="client"), HOMEWORK)

    export = caller.get(EXPORT).json()
    fhir = caller.get(EXPORT, {"format": "fhir"})

    assert export["client"] is None
    assert export["fhir"] is None
    assert all(export[name] == [] for name in ("cases", "goals", "submissions", "sessions", "consents"))
    assert_problem(fhir, 404, "not_found")


def test_only_a_client_exports(couple, clinician, admin_user, call_as):
    for user in (clinician, admin_user):
        assert_problem(call_as(user, ["homework"]).get(EXPORT), 403, "role_not_allowed")
    assert_problem(call_as(couple.a_user, ["clinical:read"]).get(EXPORT), 403, "insufficient_scope")
    assert_problem(couple.as_a.get(EXPORT, {"format": "csv"}), 406, "not_acceptable")


def test_the_export_costs_the_same_queries_for_a_little_and_a_lot(couple, catalog, count_queries, clinician):
    small = count_queries(lambda: couple.as_a.get(EXPORT))
    for days in range(1, 6):
        couple.assign(catalog, days_ago=10 + days)
        couple.record(couple.a, "phq9", days, timezone.now() - timedelta(days=days))
        couple.submit(couple.as_a, f"I feel heard on day {days}", shared=bool(days % 2))
    large = count_queries(lambda: couple.as_a.get(EXPORT))

    assert large == small


# ---------------------------------------------------------------- erasure: erasure-requests/


def erase(admin_api, client, *, key=None, reason="The client's written request of 12 November"):
    return admin_api.post(
        ERASURES,
        {"client": str(client.pk), "reason": reason},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def outcome(answer) -> dict:
    return {entry["record_type"]: entry for entry in answer["outcome"]}


@pytest.fixture
def left_care(couple, api):
    """The couple's case closed, after the clinician recorded a measure of a's over HTTP (its stored answer names
    a), an old invitation of a's, a signed note of the joint session, a joint draft, a draft about a alone and one
    about b alone."""
    recorded = api.post(
        "/api/v1/assessments/",
        {
            "client": str(couple.a.pk),
            "case": str(couple.case.pk),
            "instrument": "gad7",
            "answers": [1, 1, 1, 1, 0, 0, 0],
            "administered_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="clinician-stored-answer",
    )
    assert recorded.status_code == 201, recorded.content
    ClientInvitation.objects.create(
        client=couple.a,
        token_hash="0" * 64,
        created_by=couple.clinician,
        expires_at=timezone.now() - timedelta(days=30),
        used_at=timezone.now() - timedelta(days=31),
    )
    couple.signed = NoteFactory(
        case=couple.case, session=couple.joint, status=NoteStatus.SIGNED, signed_at=timezone.now()
    )
    couple.joint_draft = NoteFactory(case=couple.case)
    couple.a_draft = NoteFactory(case=couple.case, partner=couple.a)
    couple.b_draft = NoteFactory(case=couple.case, partner=couple.b)
    couple.close()
    return couple


def test_an_erasure_erases_pseudonymises_and_keeps_as_it_says(left_care, admin_api, settings):
    couple = left_care
    settings.RECORD_RETENTION_YEARS = 10
    trail = list(AuditEvent.objects.order_by("id").values_list("id", "hash"))
    a_history = Client.pgh_event_model.objects.filter(pgh_obj_id=couple.a.pk)
    assert a_history.filter(family_name=A_CLIENT["family_name"]).exists()

    response = erase(admin_api, couple.a)

    assert response.status_code == 201, response.content
    answer = response.json()
    until = timezone.localdate().replace(year=timezone.localdate().year + 10).isoformat()
    assert answer["retained_until"] == until
    done = outcome(answer)
    assert {k: (v["outcome"], v["count"]) for k, v in done.items()} == {
        "device": ("erased", 1),
        "reminder": ("erased", 0),
        "notification_preferences": ("erased", 1),
        "invitation": ("erased", 1),
        "login_token": ("erased", 1),
        "draft_note": ("erased", 1),
        "idempotency_record": ("erased", 3),  # a's two submissions, and the clinician's answer naming a
        "fhir_bulk_export": ("erased", 0),
        "client": ("pseudonymised", 1),
        "login": ("pseudonymised", 1),
        "row_history": (
            "pseudonymised",
            a_history.count() + User.pgh_event_model.objects.filter(pgh_obj_id=couple.a_user.pk).count(),
        ),
        "case": ("kept", 1),
        "goal": ("kept", 1),
        "goal_attainment_rating": ("kept", 0),
        "progress_note": ("kept", 2),  # the signed joint note, and the joint draft (b's record too)
        "note_addendum": ("kept", 0),
        "assignment": ("kept", 1),
        "submission": ("kept", 2),  # a's own only
        "assessment": ("kept", 2),  # a's own, and the one the clinician recorded
        "assessment_schedule": ("kept", 0),
        "safety_alert": ("kept", 0),
        "session": ("kept", 1),  # the joint one; b's session alone is b's
        "session_rating": ("kept", 1),
        "couple": ("kept", 1),
        "consent": ("kept", 1),
        "audit_event": ("kept", AuditEvent.objects.filter(actor=couple.a_user).count()),
    }
    assert all(v["kept_until"] == until for v in done.values() if v["outcome"] == "kept")
    assert all(v["kept_until"] is None for v in done.values() if v["outcome"] != "kept")
    assert all(v["reason"] for v in done.values())
    assert "RECORD_RETENTION_YEARS" in done["progress_note"]["reason"]
    assert set(done["client"]["fields"]) == {
        "given_name",
        "family_name",
        "preferred_name",
        "pronouns",
        "date_of_birth",
        "email",
        "phone",
    }
    # Counts, never contents: nothing of who a was is in the answer.
    text = response.content.decode()
    assert not [value for value in (*A_CLIENT.values(), A_LOGIN_EMAIL) if value in text]

    # Erased.
    assert not Device.objects.filter(user=couple.a_user).exists()
    assert not NotificationPreferences.objects.filter(user=couple.a_user).exists()
    assert not ClientInvitation.objects.filter(client=couple.a).exists()
    assert not ProgressNote.objects.filter(pk=couple.a_draft.pk).exists()
    assert not ProgressNote.pgh_event_model.objects.filter(pgh_obj_id=couple.a_draft.pk).exists()
    assert not IdempotencyRecord.objects.filter(user=couple.a_user).exists()
    assert not IdempotencyRecord.objects.filter(key="clinician-stored-answer").exists()
    assert_problem(couple.as_a.get(EXPORT), 401, "invalid_token")
    # Pseudonymised, in the rows and in every earlier version of them.
    a = Client.objects.get(pk=couple.a.pk)
    assert (a.given_name, a.family_name, a.preferred_name, a.pronouns, a.date_of_birth, a.email, a.phone) == (
        "Erased",
        "Client",
        "",
        "",
        None,
        "",
        "",
    )
    login = User.objects.get(pk=couple.a_user.pk)
    assert (login.email, login.display_name, login.is_active, login.has_usable_password()) == (
        f"erased-{login.pk.hex}@erased.invalid",
        "Erased client",
        False,
        False,
    )
    history = list(Client.pgh_event_model.objects.filter(pgh_obj_id=couple.a.pk).values())
    history += list(User.pgh_event_model.objects.filter(pgh_obj_id=couple.a_user.pk).values())
    assert not [value for value in (*A_CLIENT.values(), A_LOGIN_EMAIL) if value in str(history)]
    # Kept: the record of care, and the consent (ended now).
    assert ProgressNote.objects.filter(pk__in=[couple.signed.pk, couple.joint_draft.pk, couple.b_draft.pk]).count() == 3
    assert HomeworkSubmission.objects.filter(client=couple.a).count() == 2
    assert SessionRating.objects.filter(pk=couple.a_rating.pk).exists()
    assert Consent.objects.get(pk=couple.a_consent.pk).revoked_at is not None
    # The audit trail: every earlier event unchanged, one more saying who erased whom, and the chain still whole.
    after = list(AuditEvent.objects.order_by("id").values_list("id", "hash"))
    assert after[: len(trail)] == trail
    erased = AuditEvent.objects.get(action="erase")
    assert (erased.object_type, erased.object_ids, erased.detail) == (
        "client",
        [couple.a.pk],
        {"erasure_request": answer["id"]},
    )
    assert audit_verify().ok
    # And the admin reads it again, as it was.
    assert admin_api.get(f"{ERASURES}{answer['id']}/").json() == answer
    assert listed(admin_api, ERASURES) == {answer["id"]}


def test_erasing_one_partner_leaves_the_other_untouched_and_unexposed(left_care, admin_api):
    couple = left_care

    def bs():
        """b's record and what is kept for b, as stored, and b's export as b reads it."""
        export = couple.as_b.get(EXPORT).json()
        del export["exported_at"]
        return {
            "export": export,
            "client": list(Client.objects.filter(pk=couple.b.pk).values()),
            "login": list(User.objects.filter(pk=couple.b_user.pk).values()),
            "submissions": list(HomeworkSubmission.objects.filter(client=couple.b).values()),
            "history": list(Client.pgh_event_model.objects.filter(pgh_obj_id=couple.b.pk).values()),
            "idempotency": list(IdempotencyRecord.objects.filter(user=couple.b_user).values("id")),
            "b_draft": list(ProgressNote.objects.filter(pk=couple.b_draft.pk).values()),
        }

    before = bs()

    answer = erase(admin_api, couple.a).json()

    after = bs()
    assert after == before
    # b still reads a's shared answer as before (kept), and nothing in the erasure names or counts b.
    assert couple.a_shared in section(after["export"], "submissions")
    text = json.dumps(answer)
    assert not [value for value in (str(couple.b.pk), str(couple.b_user.pk), couple.b.family_name) if value in text]


@pytest.mark.parametrize("state", ["open", "paused"])
def test_a_client_still_in_care_is_not_erased(couple, admin_api, state):
    if state == "paused":
        cases.case_transition(actor=couple.clinician, case=couple.case, action="pause")
    before = (list(Client.objects.filter(pk=couple.a.pk).values()), Device.objects.count(), AuditEvent.objects.count())

    response = erase(admin_api, couple.a)

    assert_problem(response, 409, "client_has_open_case")
    assert (
        list(Client.objects.filter(pk=couple.a.pk).values()),
        Device.objects.count(),
        AuditEvent.objects.count(),
    ) == before
    assert not ErasureRequest.objects.exists()
    assert couple.as_a.get(EXPORT).status_code == 200


def test_a_client_in_no_case_at_all_is_erased_and_kept_from_today(admin_api, clinician):
    client = ClientFactory(primary_clinician=clinician)

    response = erase(admin_api, client)

    assert response.status_code == 201, response.content
    until = timezone.localdate().replace(year=timezone.localdate().year + 7).isoformat()
    assert response.json()["retained_until"] == until
    assert outcome(response.json())["login"]["count"] == 0


def test_an_erasure_happens_once(left_care, admin_api):
    first = erase(admin_api, left_care.a, key="erase-a")
    replayed = erase(admin_api, left_care.a, key="erase-a")
    again = erase(admin_api, left_care.a)

    assert first.status_code == replayed.status_code == 201
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == first.json()
    body = assert_problem(again, 409, "client_already_erased")
    assert body["erasure_request"] == first.json()["id"]
    assert ErasureRequest.objects.count() == 1
    assert AuditEvent.objects.filter(action="erase").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_erasures_at_once_erase_once(clinician, catalog, call_as):
    client = ClientFactory(primary_clinician=clinician)
    admin = UserFactory(role="admin")
    callers = iter([call_as(admin, ["admin"]) for _ in range(4)])

    results = sent_at_once(lambda: erase(next(callers), client), times=4)

    assert sorted(status for status, _ in results) == [201, 409, 409, 409]
    assert ErasureRequest.objects.count() == 1
    assert AuditEvent.objects.filter(action="erase").count() == 1


def test_only_the_practice_admin_erases_and_reads_erasures(left_care, api, supervisor_api, call_as, admin_user):
    for caller in (api, supervisor_api, left_care.as_b):
        assert_problem(erase(caller, left_care.a), 403, "insufficient_scope")
    assert_problem(call_as(left_care.clinician, ["admin"]).get(ERASURES), 403, "role_not_allowed")
    assert_problem(erase(call_as(admin_user, READ_WRITE), left_care.a), 403, "insufficient_scope")
    assert not ErasureRequest.objects.exists()


def test_an_erasure_needs_a_reason_and_a_client(left_care, admin_api):
    blank = erase(admin_api, left_care.a, reason="   ")
    unknown = admin_api.post(
        ERASURES, {"client": str(uuid.uuid4()), "reason": "Asked"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert [e["field"] for e in assert_problem(blank, 400, "invalid")["errors"]] == ["reason"]
    assert [e["field"] for e in assert_problem(unknown, 400, "invalid")["errors"]] == ["client"]
    assert not ErasureRequest.objects.exists()


def test_a_bulk_export_holding_the_client_goes_with_the_erasure(left_care, admin_api, admin_user):
    def export_with(patients):
        export = BulkExport.objects.create(
            requested_by=admin_user,
            request_url="http://testserver/fhir/r4/$export",
            types=["Patient"],
            status=ExportStatus.COMPLETED,
        )
        lines = [json.dumps({"resourceType": "Patient", "id": str(p.pk)}, separators=(",", ":")) for p in patients]
        BulkExportFile.objects.create(
            export=export, resource_type="Patient", part=1, count=len(lines), content="\n".join(lines)
        )
        return export

    holding = export_with([left_care.b, left_care.a])
    other = export_with([left_care.b])

    answer = erase(admin_api, left_care.a).json()

    assert outcome(answer)["fhir_bulk_export"]["count"] == 1
    assert not BulkExport.objects.filter(pk=holding.pk).exists()
    assert BulkExport.objects.filter(pk=other.pk).exists()
    assert apps.get_model("fhir_r4", "BulkExportFile").objects.filter(export=other).count() == 1
