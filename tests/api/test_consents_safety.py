"""Issue 17 through HTTP: consents to document versions, a couple case's treatment consents, the per-partner safety
screen and the conjoint hold it places, and a couple case's confidentiality policy."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clinical.models import AuditEvent, Case, ConjointHold, Consent, HomeworkAssignment, SafetyScreen, Session
from tests.factories import ClientFactory, CoupleFactory
from tests.helpers import HOMEWORK, assert_problem

API = "/api/v1/"
WEEKLY_COUPLE = "weekly-relationship-check-in"  # audience couple
ONCE_INDIVIDUAL = "self-compassion-after-hurt"  # audience individual


def consent(api, client, kind="treatment", **extra):
    body = {"client": str(client.pk), "kind": kind, "method": "paper", **extra}
    response = api.post(f"{API}consents/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def open_couple_case(api, couple, **extra):
    return api.post(f"{API}cases/", {"subject_type": "couple", "couple": str(couple.pk), **extra}, format="json")


@pytest.fixture
def couple(clinician):
    return CoupleFactory(partners=[ClientFactory(primary_clinician=clinician) for _ in range(2)])


def partners(couple):
    return [m.client for m in couple.members.order_by("position")]


# ---------------------------------------------------------------- consent before a couple case


def test_a_couple_case_opens_only_with_both_partners_treatment_consent(api, couple):
    first, second = partners(couple)
    before = AuditEvent.objects.count()
    body = assert_problem(open_couple_case(api, couple), 409, "consent_missing")
    assert body["missing"] == [
        {"client": str(first.pk), "kind": "treatment"},
        {"client": str(second.pk), "kind": "treatment"},
    ]
    assert not Case.objects.exists()
    assert AuditEvent.objects.count() == before

    consent(api, first)
    consent(api, second, kind="electronic_communication")  # another kind does not count
    body = assert_problem(open_couple_case(api, couple), 409, "consent_missing")
    assert body["missing"] == [{"client": str(second.pk), "kind": "treatment"}]

    consent(api, second, method="verbal", witness="Jo Park, practice manager")
    opened = open_couple_case(api, couple)
    assert opened.status_code == 201, opened.content
    assert opened.json()["confidentiality_policy"] == "limited_secrets"  # the default


def test_a_revoked_treatment_consent_no_longer_counts(api, couple):
    first, second = partners(couple)
    consent(api, first)
    revoked = consent(api, second)
    assert api.post(f"{API}consents/{revoked['id']}/revoke/").status_code == 200
    assert_problem(open_couple_case(api, couple), 409, "consent_missing")


def test_the_practice_may_ask_for_consent_only_before_the_first_joint_session(api, couple, settings):
    settings.COUPLE_CONSENT_REQUIRED_BEFORE = "first_joint_session"
    first, second = partners(couple)
    case = open_couple_case(api, couple).json()
    starts = timezone.now() + timedelta(days=2)
    ends = starts + timedelta(minutes=50)
    session = {
        "case": case["id"],
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "modality": "in_person",
    }
    assert_problem(api.post(f"{API}sessions/", session, format="json"), 409, "consent_missing")
    assert not Session.objects.exists()
    alone = api.post(f"{API}sessions/", {**session, "kind": "individual", "partner": str(first.pk)}, format="json")
    assert alone.status_code == 201, alone.content  # seeing one partner alone needs no joint consent
    consent(api, first)
    consent(api, second)
    later = {**session, "starts_at": (starts + timedelta(hours=2)).isoformat(),
             "ends_at": (starts + timedelta(hours=3)).isoformat()}  # fmt: skip
    assert api.post(f"{API}sessions/", later, format="json").status_code == 201


# ---------------------------------------------------------------- documents and consents


def test_clients_read_the_documents_and_consent_to_the_newest_version(call_as, care, admin_api, api):
    as_a = call_as(care.a_user, HOMEWORK)
    listed = as_a.get(f"{API}consent-documents/", {"kind": "electronic_communication"}).json()["results"]
    assert [d["version"] for d in listed] == ["1"]
    assert listed[0]["text"]
    text = "Reminders through the app, never about what your therapy is about. Stop them at any time."
    published = admin_api.post(
        f"{API}consent-documents/",
        {"kind": "electronic_communication", "title": "Reminders", "version": "2027-01", "text": text},
        format="json",
    )
    assert published.status_code == 201, published.content
    assert len(published.json()["digest"]) == 64
    given = as_a.post(f"{API}me/consents/", {"kind": "electronic_communication"}, format="json").json()
    assert given["document"]["version"] == "2027-01"
    assert given["method"] == "app"
    # Consenting to the version read, even when a newer one exists.
    older = listed[0]["id"]
    as_a.post(f"{API}me/consents/{given['id']}/revoke/")
    again = as_a.post(f"{API}me/consents/", {"kind": "electronic_communication", "document": older}, format="json")
    assert again.json()["document"]["id"] == older
    # A document of another kind is refused.
    wrong = as_a.post(f"{API}me/consents/", {"kind": "treatment", "document": older}, format="json")
    assert_problem(wrong, 400)
    # Publishing the same version again, or the same text, is refused; a clinician does not publish.
    again = {"kind": "electronic_communication", "title": "Reminders", "version": "2027-01", "text": text + "!"}
    assert_problem(
        admin_api.post(f"{API}consent-documents/", again, format="json"), 409, "consent_document_version_taken"
    )
    same = {"kind": "electronic_communication", "title": "Reminders", "version": "2027-02", "text": text}
    assert_problem(admin_api.post(f"{API}consent-documents/", same, format="json"), 409, "consent_document_unchanged")
    assert_problem(api.post(f"{API}consent-documents/", {**same, "text": "x"}, format="json"), 403)


def test_recorded_consents_say_how_they_were_given_and_who_revoked_them(api, care, call_as, other_api):
    assert_problem(
        api.post(f"{API}consents/", {"client": str(care.a.pk), "kind": "recording", "method": "verbal"}, format="json"),
        400,
    )
    assert_problem(
        api.post(f"{API}consents/", {"client": str(care.a.pk), "kind": "release_of_records", "method": "paper"},
                 format="json"),
        400,
    )  # fmt: skip
    release = consent(api, care.a, kind="release_of_records", released_to="Dr. Lee, GP", release_purpose="Referral")
    assert (release["released_to"], release["method"]) == ("Dr. Lee, GP", "paper")
    # A release to another party is another consent; the same one again is the same consent.
    assert consent(api, care.a, kind="release_of_records", released_to="Dr. Lee, GP", release_purpose="Referral")[
        "id"] == release["id"]  # fmt: skip
    assert (
        consent(api, care.a, kind="release_of_records", released_to="Court", release_purpose="Custody")["id"]
        != release["id"]
    )
    # Another clinician's client is out of reach.
    stranger = other_api.post(f"{API}consents/", {"client": str(care.a.pk), "kind": "treatment", "method": "paper"},
                              format="json")  # fmt: skip
    assert_problem(stranger, 400)
    assert other_api.get(f"{API}consents/{release['id']}/").status_code == 404
    # The clinician records a revocation; the client sees it revoked in the app.
    assert api.post(f"{API}consents/{release['id']}/revoke/").status_code == 200
    assert Consent.objects.get(pk=release["id"]).revoked_by == api.user
    mine = call_as(care.a_user, HOMEWORK).get(f"{API}me/consents/").json()["results"]
    assert next(c for c in mine if c["id"] == release["id"])["revoked_at"] is not None
    # Clients do not use the staff resource.
    assert_problem(call_as(care.a_user, HOMEWORK).get(f"{API}consents/"), 403)


# ---------------------------------------------------------------- the safety screen and the conjoint hold


def screen(api, care, client, result, **extra):
    body = {"case": str(care.case.pk), "client": str(client.pk), "result": result, **extra}
    response = api.post(f"{API}safety-screens/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def joint_homework(api, care, catalog, **extra):
    body = {"case": str(care.case.pk), "exercise": str(catalog[WEEKLY_COUPLE].pk),
            "assignees": [str(care.a.pk), str(care.b.pk)], **extra}  # fmt: skip
    return api.post(f"{API}assignments/", body, format="json")


def joint_session(api, care, hours=48):
    starts = timezone.now() + timedelta(hours=hours)
    body = {"case": str(care.case.pk), "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=50)).isoformat(), "modality": "video"}  # fmt: skip
    return api.post(f"{API}sessions/", body, format="json")


def test_a_positive_screen_holds_joint_work_until_the_clinician_decides(api, care, catalog, supervisor_api, call_as):
    reports = call_as(supervisor_api.user, ["clinical:read", "reports"])
    screen(api, care, care.a, "negative")
    assert not ConjointHold.objects.exists()
    positive = screen(api, care, care.b, "positive", notes="Afraid during arguments.")
    hold = api.get(f"{API}conjoint-holds/", {"case": str(care.case.pk)}).json()["results"]
    assert [(h["status"], h["screen"]) for h in hold] == [("held", positive["id"])]
    hold = hold[0]
    # Joint homework and a joint session are refused, and nothing is written.
    assert_problem(joint_homework(api, care, catalog), 409, "conjoint_hold")
    assert_problem(joint_session(api, care), 409, "conjoint_hold")
    assert not HomeworkAssignment.objects.exists()
    assert not Session.objects.exists()
    # Each partner's own work goes on.
    alone = {"case": str(care.case.pk), "exercise": str(catalog[ONCE_INDIVIDUAL].pk), "assignees": [str(care.a.pk)]}
    assert api.post(f"{API}assignments/", alone, format="json").status_code == 201
    starts = timezone.now() + timedelta(days=3)
    individual = {"case": str(care.case.pk), "kind": "individual", "partner": str(care.b.pk), "modality": "video",
                  "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=50)).isoformat()}  # fmt: skip
    assert api.post(f"{API}sessions/", individual, format="json").status_code == 201
    # The supervisor sees the hold in the caseload report.
    rows = reports.get(f"{API}reports/caseload/").json()["rows"]
    assert next(r for r in rows if r["clinician"] == str(api.user.pk))["conjoint_holds"] == 1
    # A decision needs its reason; the supervisor reads but does not decide.
    decide = f"{API}conjoint-holds/{hold['id']}/decide/"
    assert_problem(api.post(decide, {"decision": "individual_work", "reason": " "}, format="json"), 400)
    assert_problem(supervisor_api.post(decide, {"decision": "continue_jointly", "reason": "x"}, format="json"), 403)
    decided = api.post(decide, {"decision": "individual_work", "reason": "Individual sessions first."}, format="json")
    assert decided.status_code == 200
    assert decided.json()["status"] == "individual_work"
    assert_problem(joint_homework(api, care, catalog), 409, "conjoint_hold")  # still refused
    assert_problem(
        api.post(decide, {"decision": "individual_work", "reason": "again"}, format="json"), 409, "hold_decided"
    )
    resumed = api.post(decide, {"decision": "continue_jointly", "reason": "Safety plan agreed."}, format="json")
    assert resumed.json()["status"] == "continue_jointly"
    assert joint_homework(api, care, catalog).status_code == 201
    assert joint_session(api, care).status_code == 201
    assert_problem(api.post(decide, {"decision": "close", "reason": "x"}, format="json"), 409, "hold_decided")
    rows = reports.get(f"{API}reports/caseload/").json()["rows"]
    assert next(r for r in rows if r["clinician"] == str(api.user.pk))["conjoint_holds"] == 0


def test_closing_on_a_hold_closes_the_case_with_the_reason(api, care):
    screen(api, care, care.a, "positive")
    hold = ConjointHold.objects.get()
    answer = api.post(f"{API}conjoint-holds/{hold.pk}/decide/", {"decision": "close", "reason": "Referred on."},
                      format="json")  # fmt: skip
    assert answer.status_code == 200, answer.content
    care.case.refresh_from_db()
    assert (care.case.status, care.case.closing_reason) == ("closed", "Referred on.")


def test_screens_are_the_clinicians_and_supervisors_only(api, care, call_as, other_api, supervisor_api, admin_api):
    recorded = screen(api, care, care.a, "declined", notes="Chose not to answer today.")
    assert supervisor_api.get(f"{API}safety-screens/{recorded['id']}/").json()["notes"] == "Chose not to answer today."
    for partner in (care.a_user, care.b_user):
        app = call_as(partner, HOMEWORK)
        assert_problem(app.get(f"{API}safety-screens/"), 403)
        assert_problem(app.get(f"{API}safety-screens/{recorded['id']}/"), 403)
        assert_problem(app.get(f"{API}conjoint-holds/"), 403)
    assert_problem(admin_api.get(f"{API}safety-screens/"), 403)
    assert other_api.get(f"{API}safety-screens/{recorded['id']}/").status_code == 404
    assert other_api.get(f"{API}safety-screens/").json()["results"] == []
    # The notes are encrypted at rest.
    with connection.cursor() as cursor:
        cursor.execute("SELECT notes FROM clinical_safetyscreen WHERE id = %s", [recorded["id"]])
        assert "answer" not in cursor.fetchone()[0]
    # Reads are audited.
    assert AuditEvent.objects.filter(action="read", object_type="safety_screen").exists()


def test_a_screen_is_for_a_partner_of_a_couple_case(api, care, case):
    body = {"case": str(case.pk), "client": str(case.client.pk), "result": "negative"}
    assert_problem(api.post(f"{API}safety-screens/", body, format="json"), 400)
    stranger = ClientFactory(primary_clinician=api.user)
    body = {"case": str(care.case.pk), "client": str(stranger.pk), "result": "negative"}
    assert_problem(api.post(f"{API}safety-screens/", body, format="json"), 400)
    assert not SafetyScreen.objects.exists()


# ---------------------------------------------------------------- the confidentiality policy


def test_the_clinician_changes_the_policy_with_a_reason(api, care, case, supervisor_api):
    url = f"{API}cases/{care.case.pk}/confidentiality/"
    assert_problem(api.post(url, {"policy": "separate_records", "reason": ""}, format="json"), 400)
    assert_problem(supervisor_api.post(url, {"policy": "separate_records", "reason": "x"}, format="json"), 403)
    changed = api.post(url, {"policy": "separate_records", "reason": "Both asked for it."}, format="json")
    assert changed.status_code == 200
    assert changed.json()["confidentiality_policy"] == "separate_records"
    event = AuditEvent.objects.get(action="confidentiality")
    assert event.detail == {"from": "limited_secrets", "to": "separate_records", "reason": "Both asked for it."}
    individual = api.post(f"{API}cases/{case.pk}/confidentiality/", {"policy": "no_secrets", "reason": "x"},
                          format="json")  # fmt: skip
    assert_problem(individual, 400)
    assert_problem(
        api.post(f"{API}cases/", {"subject_type": "individual", "client": str(case.client.pk),
                                  "confidentiality_policy": "no_secrets"}, format="json"),
        400,
    )  # fmt: skip


def test_under_separate_records_a_partner_sees_none_of_the_others_material(api, care, catalog, call_as):
    from clinical.services.homework import submission_create
    from tests.api.test_submissions import answers

    assignment = care.assign(catalog)
    shared = submission_create(
        actor=care.a_user,
        assignment=assignment,
        completed_at=timezone.now() - timedelta(hours=1),
        responses=answers(),
        shared_with_partner=True,
    )
    partner = call_as(care.b_user, HOMEWORK)
    assert partner.get(f"{API}submissions/{shared.pk}/").status_code == 200  # limited_secrets: what is shared shows
    url = f"{API}cases/{care.case.pk}/confidentiality/"
    api.post(url, {"policy": "separate_records", "reason": "Each keeps their own."}, format="json")
    assert partner.get(f"{API}submissions/{shared.pk}/").status_code == 404
    assert str(shared.pk) not in {s["id"] for s in partner.get(f"{API}submissions/").json()["results"]}
    fhir = partner.get(f"/fhir/r4/Patient/{care.b.pk}/$everything").json()
    assert str(shared.pk) not in str(fhir)
    # The author still reads their own; back under no_secrets, the partner sees it again.
    assert call_as(care.a_user, HOMEWORK).get(f"{API}submissions/{shared.pk}/").status_code == 200
    api.post(url, {"policy": "no_secrets", "reason": "Agreed again."}, format="json")
    assert partner.get(f"{API}submissions/{shared.pk}/").status_code == 200


def test_the_caseload_report_counts_holds_of_cases_in_care_only(api, care, supervisor_api, call_as):
    reports = call_as(supervisor_api.user, ["clinical:read", "reports"])

    def held():
        rows = reports.get(f"{API}reports/caseload/").json()["rows"]
        return next(r for r in rows if r["clinician"] == str(api.user.pk))["conjoint_holds"]

    screen(api, care, care.a, "positive")
    assert held() == 1
    closed = api.post(f"{API}cases/{care.case.pk}/close/", {"closing_reason": "Moved away."}, format="json")
    assert closed.status_code == 200
    assert held() == 0
