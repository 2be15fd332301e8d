"""Standard measures through HTTP: the instruments, assessments recorded by clinicians and self-reported by clients
(schedules, what is due, exactly-once answers), change against the baseline, safety alerts, a case's outcomes
(series, the couple's CSI-4 discrepancy, GAS T) and its chart, with scoping, audit and query counts."""

import io
import math
import uuid
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from PIL import Image

from api.models import IdempotencyRecord
from clinical.models import (
    Assessment,
    AssessmentSchedule,
    AuditEvent,
    GoalLifecycle,
    Role,
    SafetyAlert,
)
from clinical.services import measures as services
from tests.factories import (
    GAS_LEVELS,
    CaseFactory,
    GASRatingFactory,
    GoalFactory,
    UserFactory,
)
from tests.factories.scenes import answers_for, link_login
from tests.helpers import HOMEWORK, READ_WRITE, days_ago, problem
from tools import schema

INSTRUMENTS = "/api/v1/instruments/"
ASSESSMENTS = "/api/v1/assessments/"
SCHEDULES = "/api/v1/assessment-schedules/"
DUE = "/api/v1/me/assessments-due/"
ALERTS = "/api/v1/alerts/"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# CSI-4 reliable change is off unless the environment configures it; these tests fix that choice.
pytestmark = pytest.mark.usefixtures("no_csi4_parameters")


def field_errors(response):
    """{field: [(code, message)]} of a 400 validation problem."""
    assert response.status_code == 400, response.content
    body = problem(response)
    assert body["code"] == "invalid", body
    out = {}
    for error in body["errors"]:
        out.setdefault(error["field"], []).append((error["code"], error["message"]))
    return out


def post_assessment(api, *, client, case, instrument="phq9", answers=None, at=None, key=None, **extra):
    body = {
        "client": str(client.pk),
        "case": str(case.pk),
        "instrument": instrument,
        "answers": answers_for(instrument, 5) if answers is None else answers,
        "administered_at": (at or days_ago(1)).isoformat(),
        **extra,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(ASSESSMENTS, body, format="json", **headers)


def self_report(api, schedule, *, answers, instrument=None, at=None, key=None, **extra):
    """A client answers a schedule; `key=False` sends no Idempotency-Key."""
    body = {
        "schedule": str(getattr(schedule, "pk", schedule)),
        "instrument": instrument or schedule.instrument,
        "answers": answers,
        "administered_at": (at or timezone.now()).isoformat(),
        **extra,
    }
    headers = {} if key is False else {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return api.post(ASSESSMENTS, body, format="json", **headers)


def state():
    """Everything a refused request must leave as it was."""
    return (
        sorted(
            Assessment.objects.values_list(
                "id", "version", "total", "is_baseline", "change", "reliable_change", "recovered"
            )
        ),
        sorted(AssessmentSchedule.objects.values_list("id", "status", "version", "start_date")),
        sorted(SafetyAlert.objects.values_list("id", "version", "acknowledged_at")),
        IdempotencyRecord.objects.count(),
        AuditEvent.objects.count(),
    )


def series_of(api, client, instrument):
    """(administered_at, total, is_baseline, change, reliable_change, recovered, clinically_significant) in time
    order, as the assessments list shows them."""
    response = api.get(ASSESSMENTS, {"client": str(client.pk), "instrument": instrument})
    assert response.status_code == 200, response.content
    rows = sorted(response.json()["results"], key=lambda r: parse_datetime(r["administered_at"]))
    return [
        (
            r["total"],
            r["is_baseline"],
            r["change"],
            r["reliable_change"],
            r["recovered"],
            r["clinically_significant"],
        )
        for r in rows
    ]


# ---------------------------------------------------------------- instruments

FREQUENCY_OPTIONS = [
    {"value": 0, "label": "Not at all"},
    {"value": 1, "label": "Several days"},
    {"value": 2, "label": "More than half the days"},
    {"value": 3, "label": "Nearly every day"},
]


def test_the_instrument_list_is_documented_as_the_page_it_answers():
    # Found by the contract fuzzer: the schema described an array of pages instead of one page.
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    answer = document["paths"][INSTRUMENTS]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert answer == {"$ref": "#/components/schemas/InstrumentList"}
    assert set(document["components"]["schemas"]["InstrumentList"]["required"]) == {"next", "previous", "results"}


def test_the_three_measures_are_listed_with_their_scoring(call_as, clinician):
    response = call_as(clinician, ["clinical:read"]).get(INSTRUMENTS)

    assert response.status_code == 200, response.content
    assert (response.json()["next"], response.json()["previous"]) == (None, None)
    body = response.json()["results"]
    assert [m["code"] for m in body] == ["phq9", "gad7", "csi4"]
    phq9, gad7, csi4 = body
    summary = {m["code"]: (len(m["items"]), m["min_total"], m["max_total"], m["direction"], m["cutoff"]) for m in body}
    assert summary == {
        "phq9": (9, 0, 27, "lower_is_better", 10.0),
        "gad7": (7, 0, 21, "lower_is_better", 8.0),
        "csi4": (4, 0, 21, "higher_is_better", 13.5),
    }
    assert [m["reliable_change_threshold"] for m in body] == [6.0, 4.0, None]
    assert [(b["low"], b["high"], b["label"]) for b in phq9["bands"]] == [
        (0, 4, "minimal"),
        (5, 9, "mild"),
        (10, 14, "moderate"),
        (15, 19, "moderately severe"),
        (20, 27, "severe"),
    ]
    assert [(b["low"], b["high"], b["label"]) for b in gad7["bands"]] == [
        (0, 4, "minimal"),
        (5, 9, "mild"),
        (10, 14, "moderate"),
        (15, 21, "severe"),
    ]
    assert [(b["low"], b["high"], b["label"]) for b in csi4["bands"]] == [
        (0, 13, "distressed"),
        (14, 21, "not distressed"),
    ]
    assert [item["number"] for item in phq9["items"]] == list(range(1, 10))
    assert all(item["options"] == FREQUENCY_OPTIONS for item in phq9["items"] + gad7["items"])
    assert phq9["items"][8]["text"] == "Thoughts that you would be better off dead or of hurting yourself in some way"
    assert gad7["items"][0]["text"] == "Feeling nervous, anxious, or on edge"
    assert [[o["value"] for o in item["options"]] for item in csi4["items"]] == [
        [0, 1, 2, 3, 4, 5, 6],
        [0, 1, 2, 3, 4, 5],
        [0, 1, 2, 3, 4, 5],
        [0, 1, 2, 3, 4, 5],
    ]
    assert [o["label"] for o in csi4["items"][0]["options"]] == [
        "Extremely Unhappy",
        "Fairly Unhappy",
        "A Little Unhappy",
        "Happy",
        "Very Happy",
        "Extremely Happy",
        "Perfect",
    ]
    assert all(m["citation"] and m["prompt"] and m["name"] for m in body)


@pytest.mark.parametrize("code", ["phq9", "gad7", "csi4"])
def test_one_measure_reads_as_in_the_list(call_as, clinician, code):
    api = call_as(clinician, ["clinical:read"])
    listed = {m["code"]: m for m in api.get(INSTRUMENTS).json()["results"]}

    response = api.get(f"{INSTRUMENTS}{code}/")

    assert response.status_code == 200, response.content
    assert response.json() == listed[code]


def test_an_unknown_measure_is_404(call_as, clinician):
    response = call_as(clinician, ["clinical:read"]).get(f"{INSTRUMENTS}bdi2/")

    assert response.status_code == 404
    assert problem(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("who", "scopes"),
    [
        ("clinician", ["clinical:read"]),
        ("supervisor", ["clinical:read"]),
        ("client", ["homework"]),
        ("admin", ["admin"]),  # who publishes the practice's own (tests/api/test_published_measures.py)
    ],
)
def test_clinicians_supervisors_client_apps_and_the_admin_read_the_measures(
    call_as, care, supervisor, admin_user, who, scopes
):
    user = {"clinician": care.clinician, "supervisor": supervisor, "client": care.a_user, "admin": admin_user}[who]
    api = call_as(user, scopes)

    assert api.get(INSTRUMENTS).status_code == 200
    assert api.get(f"{INSTRUMENTS}csi4/").status_code == 200


def test_a_token_without_a_reading_scope_may_not_read_the_measures(call_as, clinician):
    response = call_as(clinician, ["reports"]).get(INSTRUMENTS)

    assert response.status_code == 403
    assert problem(response)["code"] == "insufficient_scope"


# ---------------------------------------------------------------- clinician-recorded assessments


def test_a_clinician_records_a_baseline_and_later_scores_get_change_figures(api, care):
    a = care.a
    first = post_assessment(api, client=a, case=care.case, answers=answers_for("phq9", 12), at=days_ago(30))

    assert first.status_code == 201, first.content
    body = first.json()
    assert first["ETag"] == '"1"'
    assert {k: body[k] for k in ("client", "case", "instrument", "source", "schedule", "recorded_by")} == {
        "client": str(a.pk),
        "case": str(care.case.pk),
        "instrument": "phq9",
        "source": "clinician",
        "schedule": None,
        "recorded_by": str(care.clinician.pk),
    }
    assert body["answers"] == answers_for("phq9", 12)
    assert parse_datetime(body["administered_at"]) == days_ago(30)
    assert (body["total"], body["band"], body["is_baseline"]) == (12, "moderate", True)
    assert (body["change"], body["reliable_change"], body["recovered"], body["clinically_significant"]) == (
        None,
        None,
        None,
        None,
    )
    stored = Assessment.objects.get(pk=body["id"])
    assert (stored.total, stored.band, stored.is_baseline, stored.recorded_by_id) == (
        12,
        "moderate",
        True,
        care.clinician.pk,
    )
    assert AuditEvent.objects.filter(
        actor=care.clinician, action="create", object_type="assessment", object_ids=[stored.pk]
    ).exists()

    # 12 → 5: six points better (reliable), out of caseness (recovered)
    second = post_assessment(api, client=a, case=care.case, answers=answers_for("phq9", 5), at=days_ago(15))
    assert second.status_code == 201, second.content
    body = second.json()
    assert (body["total"], body["band"], body["is_baseline"]) == (5, "mild", False)
    assert (body["change"], body["reliable_change"], body["recovered"], body["clinically_significant"]) == (
        -7,
        "improved",
        True,
        True,
    )

    # 12 → 18: six points worse
    third = post_assessment(api, client=a, case=care.case, answers=answers_for("phq9", 18), at=days_ago(1))
    body = third.json()
    assert (body["total"], body["band"], body["change"], body["reliable_change"]) == (
        18,
        "moderately severe",
        6,
        "deteriorated",
    )
    assert (body["recovered"], body["clinically_significant"]) == (False, False)


def test_gad7_and_csi4_change_in_their_own_direction(api, care):
    a, b = care.a, care.b
    post_assessment(api, client=a, case=care.case, instrument="gad7", answers=answers_for("gad7", 8), at=days_ago(9))
    gad = post_assessment(
        api, client=a, case=care.case, instrument="gad7", answers=answers_for("gad7", 4), at=days_ago(2)
    ).json()
    # 8 (caseness) → 4: exactly the four points NHS Talking Therapies require
    assert (gad["total"], gad["band"], gad["change"], gad["reliable_change"], gad["recovered"]) == (
        4,
        "minimal",
        -4,
        "improved",
        True,
    )

    post_assessment(api, client=b, case=care.case, instrument="csi4", answers=[1, 3, 3, 3], at=days_ago(9))
    csi = post_assessment(api, client=b, case=care.case, instrument="csi4", answers=[3, 4, 4, 3], at=days_ago(2)).json()
    # 10 (distressed) → 14: higher is better; reliable change is not available without published parameters
    assert (csi["total"], csi["band"], csi["change"], csi["reliable_change"]) == (14, "not distressed", 4, None)
    assert (csi["recovered"], csi["clinically_significant"]) == (True, None)


def test_csi4_reliable_change_uses_the_configured_jacobson_truax_parameters(settings, api, care):
    # SD 5, r 0.9: SE = 5·√0.1, so RC = change / √(2·2.5) = change / √5; +4 → 1.79 (not reliable), +5 → 2.24
    settings.RELIABLE_CHANGE_PARAMETERS = {"csi4": (5.0, 0.9)}
    post_assessment(api, client=care.a, case=care.case, instrument="csi4", answers=[2, 2, 2, 2], at=days_ago(9))

    plus_four = post_assessment(
        api, client=care.a, case=care.case, instrument="csi4", answers=[3, 3, 3, 3], at=days_ago(5)
    ).json()
    plus_five = post_assessment(
        api, client=care.a, case=care.case, instrument="csi4", answers=[4, 3, 3, 3], at=days_ago(2)
    ).json()

    assert (plus_four["change"], plus_four["reliable_change"], plus_four["clinically_significant"]) == (
        4,
        "none",
        False,
    )
    assert (plus_five["change"], plus_five["reliable_change"], plus_five["recovered"]) == (5, "improved", False)
    threshold = api.get(f"{INSTRUMENTS}csi4/").json()["reliable_change_threshold"]
    assert threshold == round(1.96 * math.sqrt(2) * 5 * math.sqrt(0.1), 2) == 4.38


@pytest.mark.parametrize(
    ("instrument", "answers", "at_offset", "expected"),
    [
        pytest.param(
            "phq9",
            [1, 1, 1, 1, 1, 1, 1, 1],
            None,
            {"answers": [("invalid", "Patient Health Questionnaire (PHQ-9) has 9 items; 8 answers given.")]},
            id="too-few-answers",
        ),
        pytest.param(
            "gad7",
            [0] * 9,
            None,
            {"answers": [("invalid", "Generalized Anxiety Disorder scale (GAD-7) has 7 items; 9 answers given.")]},
            id="too-many-answers",
        ),
        pytest.param(
            "phq9",
            [0, 0, 4, 0, 0, 0, 0, 0, 0],
            None,
            {"answers": [("invalid", "Item 3: a whole number from 0 to 3.")]},
            id="out-of-range",
        ),
        pytest.param(
            "phq9",
            [0, 0, 0, 0, 0, 0, 0, 0, -1],
            None,
            {"answers": [("invalid", "Item 9: a whole number from 0 to 3.")]},
            id="negative",
        ),
        pytest.param(
            "csi4",
            [6, 6, 0, 0],
            None,
            {"answers": [("invalid", "Item 2: a whole number from 0 to 5.")]},
            id="csi4-item-2-above-5",
        ),
        pytest.param(
            "phq9",
            [0, 0, 1.5, 0, 0, 0, 0, 0, 0],
            None,
            {"answers.2": [("invalid", "A valid integer is required.")]},
            id="not-an-integer",
        ),
        pytest.param(
            "phq9",
            [0, "often", 0, 0, 0, 0, 0, 0, 0],
            None,
            {"answers.1": [("invalid", "A valid integer is required.")]},
            id="text",
        ),
        pytest.param(
            "bdi2",
            [0] * 9,
            None,
            {"instrument": [("invalid_choice", '"bdi2" is not a valid choice.')]},
            id="unknown-instrument",
        ),
        pytest.param(
            "phq9",
            [0] * 9,
            timedelta(hours=1),
            {"administered_at": [("invalid", "This is in the future.")]},
            id="in-the-future",
        ),
    ],
)
def test_invalid_assessments_name_the_field_and_store_nothing(api, care, instrument, answers, at_offset, expected):
    care.record(care.a, "phq9", 9, days_ago(20))
    before = state()
    at = timezone.now() + at_offset if at_offset else days_ago(1)

    response = post_assessment(api, client=care.a, case=care.case, instrument=instrument, answers=answers, at=at)

    assert field_errors(response) == expected
    assert state() == before


def test_a_client_who_is_not_on_the_case_is_refused(api, care, clinician):
    elsewhere = CaseFactory(clinician=clinician)  # the clinician's own client, on another case
    before = state()

    response = post_assessment(api, client=elsewhere.client, case=care.case)

    assert field_errors(response) == {"client": [("invalid", "A client of this case.")]}
    assert state() == before


def test_another_clinicians_case_is_a_field_error_on_case(api, care, other_clinician):
    foreign = CaseFactory(clinician=other_clinician)
    before = state()

    response = post_assessment(api, client=care.a, case=foreign)

    errors = field_errors(response)
    assert list(errors) == ["case"]
    assert errors["case"][0][0] == "does_not_exist"
    assert state() == before


def test_a_clinician_must_name_client_and_case(api, care):
    response = api.post(
        ASSESSMENTS,
        {"instrument": "phq9", "answers": [0] * 9, "administered_at": days_ago(1).isoformat()},
        format="json",
    )

    assert field_errors(response) == {"case": [("invalid", "Name the client and the case.")]}
    assert Assessment.objects.count() == 0


def test_a_clinician_cannot_file_an_assessment_under_another_clients_schedule(api, as_a, care):
    """A schedule named on a clinician's assessment must be the one of that client, case and measure; otherwise
    the stored row points at a schedule it does not answer, and that schedule stops being due for its client."""
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="phq9", frequency="once"
    )
    before = state()

    response = post_assessment(
        api, client=care.b, case=care.case, instrument="gad7", answers=[1] * 7, schedule=str(schedule.pk)
    )

    assert list(field_errors(response)) == ["schedule"]
    assert state() == before
    assert [d["schedule"] for d in due_list(as_a)] == [str(schedule.pk)]


def test_a_supervisor_may_not_record_on_a_supervisees_case(supervisor_api, care):
    before = state()

    response = post_assessment(supervisor_api, client=care.a, case=care.case)

    assert response.status_code == 403
    assert problem(response)["code"] == "not_case_clinician"
    assert state() == before


def test_recording_needs_the_write_scope(call_as, care):
    response = post_assessment(call_as(care.clinician, ["clinical:read"]), client=care.a, case=care.case)

    assert response.status_code == 403
    assert problem(response)["code"] == "insufficient_scope"
    assert Assessment.objects.count() == 0


def test_an_earlier_assessment_entered_later_becomes_the_baseline(api, care):
    a = care.a
    post_assessment(api, client=a, case=care.case, answers=answers_for("phq9", 15), at=days_ago(10))
    post_assessment(api, client=a, case=care.case, answers=answers_for("phq9", 9), at=days_ago(5))
    # 15 → 9: six points, out of caseness
    assert series_of(api, a, "phq9") == [
        (15, True, None, None, None, None),
        (9, False, -6, "improved", True, True),
    ]

    late = post_assessment(api, client=a, case=care.case, answers=answers_for("phq9", 20), at=days_ago(20))

    assert late.status_code == 201, late.content
    assert (late.json()["is_baseline"], late.json()["change"]) == (True, None)
    # Now against 20: 15 is five better (not reliable, still a case); 9 is eleven better and recovered.
    assert series_of(api, a, "phq9") == [
        (20, True, None, None, None, None),
        (15, False, -5, "none", False, False),
        (9, False, -11, "improved", True, True),
    ]
    # the other partner's series and other measures are untouched
    assert not Assessment.objects.exclude(client=a).exists()


def test_a_recomputed_assessment_gets_a_new_version_for_etags_and_delta_sync(api, care):
    """Change figures rewritten by a late baseline are a change of the row: its ETag and `updated_at` move, so a
    client that syncs with ?updated_since= or revalidates by ETag sees the new figures."""
    first = care.record(care.a, "phq9", 15, days_ago(10))
    before_late_entry = timezone.now()

    post_assessment(api, client=care.a, case=care.case, answers=answers_for("phq9", 20), at=days_ago(20))

    response = api.get(f"{ASSESSMENTS}{first.pk}/")
    assert response.json()["is_baseline"] is False
    assert response["ETag"] != '"1"'
    synced = api.get(ASSESSMENTS, {"updated_since": before_late_entry.isoformat()}).json()["results"]
    assert str(first.pk) in {row["id"] for row in synced}


def test_assessments_are_listed_within_reach_only(call_as, care, supervisor, other_clinician, as_a):
    mine = care.record(care.a, "phq9", 5, days_ago(3))
    partners = care.record(care.b, "phq9", 6, days_ago(3))
    foreign_case = CaseFactory(clinician=other_clinician)
    foreign = services.assessment_record(
        actor=other_clinician,
        client=foreign_case.client,
        case=foreign_case,
        instrument="gad7",
        answers=[0] * 7,
        administered_at=days_ago(2),
    )

    def ids(api):
        response = api.get(ASSESSMENTS)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(call_as(care.clinician, ["clinical:read"])) == {str(mine.pk), str(partners.pk)}
    assert ids(call_as(supervisor, ["clinical:read"])) == {str(mine.pk), str(partners.pk)}
    assert ids(call_as(other_clinician, ["clinical:read"])) == {str(foreign.pk)}
    assert ids(as_a) == {str(mine.pk)}  # a client: their own, not their partner's
    assert as_a.get(f"{ASSESSMENTS}{partners.pk}/").status_code == 404
    assert call_as(other_clinician, ["clinical:read"]).get(f"{ASSESSMENTS}{mine.pk}/").status_code == 404
    assert AuditEvent.objects.filter(
        actor=care.a_user, action="read", object_type="assessment", object_ids=[mine.pk]
    ).exists()


@pytest.mark.parametrize("reader", ["clinician", "supervisor", "client"])
def test_the_assessment_list_query_count_is_the_same_for_1_and_20(reader, call_as, care, supervisor, count_queries):
    api = {
        "clinician": lambda: call_as(care.clinician, ["clinical:read"]),
        "supervisor": lambda: call_as(supervisor, ["clinical:read"]),
        "client": lambda: call_as(care.a_user, HOMEWORK),
    }[reader]()
    care.record(care.a, "phq9", 10, days_ago(40))
    one = count_queries(lambda: api.get(ASSESSMENTS))
    for n in range(19):
        care.record(care.a, ["phq9", "gad7", "csi4"][n % 3], 5 + n % 4, days_ago(39 - n))

    many = count_queries(lambda: api.get(ASSESSMENTS))

    assert len(api.get(ASSESSMENTS).json()["results"]) == 20
    assert one == many


# ---------------------------------------------------------------- self-report


def schedule_via_api(api, care, client, *, instrument="phq9", frequency="once", **extra):
    response = api.post(
        SCHEDULES,
        {
            "client": str(client.pk),
            "case": str(care.case.pk),
            "instrument": instrument,
            "frequency": frequency,
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return AssessmentSchedule.objects.get(pk=response.json()["id"])


def due_list(api):
    response = api.get(DUE)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_scheduled_measure_is_due_answered_once_and_then_no_longer_due(api, as_a, as_b, care):
    response = api.post(
        SCHEDULES,
        {"client": str(care.a.pk), "case": str(care.case.pk), "instrument": "phq9", "frequency": "once"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["status"], created["frequency"], created["start_date"], created["end_date"]) == (
        "active",
        "once",
        timezone.localdate().isoformat(),
        None,
    )
    schedule = AssessmentSchedule.objects.get(pk=created["id"])

    due = due_list(as_a)
    assert [(d["schedule"], d["case"], d["frequency"], d["due_since"]) for d in due] == [
        (str(schedule.pk), str(care.case.pk), "once", timezone.localdate().isoformat())
    ]
    assert due[0]["instrument"] == api.get(f"{INSTRUMENTS}phq9/").json()  # the whole questionnaire
    assert due_list(as_b) == []  # the partner has nothing due

    key = str(uuid.uuid4())
    answered = self_report(as_a, schedule, answers=answers_for("phq9", 7), key=key)

    assert answered.status_code == 201, answered.content
    body = answered.json()
    assert (body["source"], body["schedule"], body["client"], body["case"], body["recorded_by"]) == (
        "self_report",
        str(schedule.pk),
        str(care.a.pk),
        str(care.case.pk),
        str(care.a_user.pk),
    )
    assert (body["total"], body["band"], body["is_baseline"]) == (7, "mild", True)
    assert due_list(as_a) == []
    assert Assessment.objects.filter(schedule=schedule).count() == 1


def test_a_client_app_must_send_an_idempotency_key(as_a, care):
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="gad7", frequency="once"
    )
    before = state()

    response = self_report(as_a, schedule, answers=answers_for("gad7", 3), key=False)

    assert response.status_code == 428
    assert problem(response)["code"] == "precondition_required"
    assert state() == before
    assert len(due_list(as_a)) == 1


def test_a_retried_self_report_returns_the_first_answer_and_stores_one_row(as_a, care):
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="csi4", frequency="weekly"
    )
    key = str(uuid.uuid4())
    at = timezone.now() - timedelta(minutes=3)
    first = self_report(as_a, schedule, answers=[3, 3, 2, 2], at=at, key=key)
    assert first.status_code == 201, first.content
    after_first = state()

    again = self_report(as_a, schedule, answers=[3, 3, 2, 2], at=at, key=key)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert state() == after_first
    assert Assessment.objects.filter(schedule=schedule).count() == 1

    other_body = self_report(as_a, schedule, answers=[5, 5, 5, 5], at=at, key=key)

    assert other_body.status_code == 422
    assert problem(other_body)["code"] == "idempotency_key_reused"
    assert state() == after_first


def test_a_recurring_schedule_comes_due_again_in_the_next_period(as_a, care):
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="phq9", frequency="weekly"
    )
    today = timezone.localdate()
    assert [d["due_since"] for d in due_list(as_a)] == [today.isoformat()]
    answered = self_report(as_a, schedule, answers=answers_for("phq9", 4))
    assert answered.status_code == 201, answered.content
    assert due_list(as_a) == []

    def shift(days):
        """Move the schedule and its answer `days` into the past, as if that much time had gone by."""
        AssessmentSchedule.objects.filter(pk=schedule.pk).update(start_date=schedule.start_date - timedelta(days))
        Assessment.objects.filter(schedule=schedule).update(
            administered_at=parse_datetime(answered.json()["administered_at"]) - timedelta(days)
        )

    shift(6)  # six days later: still the same week
    assert due_list(as_a) == []

    shift(7)  # the next week has begun (day 7 of the schedule)
    due = due_list(as_a)
    assert [(d["schedule"], d["frequency"], d["due_since"]) for d in due] == [
        (str(schedule.pk), "weekly", today.isoformat())
    ]

    again = self_report(as_a, schedule, answers=answers_for("phq9", 2))
    assert again.status_code == 201, again.content
    assert (again.json()["is_baseline"], again.json()["change"]) == (False, -2)
    assert due_list(as_a) == []


def test_a_cancelled_schedule_is_not_due_and_cannot_be_answered(api, as_a, care):
    schedule = schedule_via_api(api, care, care.a, instrument="gad7", frequency="fortnightly")
    assert len(due_list(as_a)) == 1

    cancelled = api.post(f"{SCHEDULES}{schedule.pk}/cancel/")
    assert cancelled.status_code == 200, cancelled.content
    assert (cancelled.json()["status"], cancelled.json()["version"]) == ("cancelled", 2)
    assert due_list(as_a) == []
    before = state()

    response = self_report(as_a, schedule, answers=answers_for("gad7", 3))

    assert response.status_code == 409
    assert problem(response)["code"] == "schedule_cancelled"
    assert state() == before

    twice = api.post(f"{SCHEDULES}{schedule.pk}/cancel/")
    assert twice.status_code == 409
    assert problem(twice)["code"] == "schedule_cancelled"


def test_a_client_cannot_answer_someone_elses_schedule(as_b, care):
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="phq9", frequency="once"
    )
    before = state()

    response = self_report(as_b, schedule, answers=answers_for("phq9", 3))

    errors = field_errors(response)
    assert list(errors) == ["schedule"]
    assert errors["schedule"][0][0] == "does_not_exist"
    assert state() == before


def test_a_client_cannot_record_without_a_schedule(as_a, care):
    before = state()
    body = {"instrument": "phq9", "answers": [0] * 9, "administered_at": timezone.now().isoformat()}

    bare = as_a.post(ASSESSMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    # naming their own client and case as a clinician would: a client reaches no client record (their case is their
    # own to see, so it is not the one refused), and records nothing
    as_clinician_would = as_a.post(
        ASSESSMENTS,
        {**body, "client": str(care.a.pk), "case": str(care.case.pk)},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert field_errors(bare) == {"schedule": [("invalid", "The schedule you are answering.")]}
    errors = field_errors(as_clinician_would)
    assert {field: [code for code, _ in problems] for field, problems in errors.items()} == {
        "client": ["does_not_exist"],
    }
    assert state() == before


def test_a_self_report_must_answer_the_scheduled_measure(as_a, care):
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="phq9", frequency="once"
    )
    before = state()

    response = self_report(as_a, schedule, instrument="gad7", answers=answers_for("gad7", 3))

    assert field_errors(response) == {"instrument": [("invalid", "This schedule asks for phq9.")]}
    assert state() == before


def test_a_client_without_an_app_login_cannot_be_scheduled(api, clinician):
    case = CaseFactory(clinician=clinician)
    before = state()

    response = api.post(
        SCHEDULES,
        {"client": str(case.client.pk), "case": str(case.pk), "instrument": "phq9", "frequency": "once"},
        format="json",
    )

    assert field_errors(response) == {"client": [("invalid", "This client has no app login yet; invite them first.")]}
    assert state() == before


def test_only_the_cases_clinician_schedules(api, supervisor_api, care, other_clinician):
    foreign = CaseFactory(clinician=other_clinician)
    link_login(foreign.client)
    before = state()

    to_foreign = api.post(
        SCHEDULES,
        {"client": str(care.a.pk), "case": str(foreign.pk), "instrument": "phq9", "frequency": "once"},
        format="json",
    )
    by_supervisor = supervisor_api.post(
        SCHEDULES,
        {"client": str(care.a.pk), "case": str(care.case.pk), "instrument": "phq9", "frequency": "once"},
        format="json",
    )

    assert [code for code, _ in field_errors(to_foreign)["case"]] == ["does_not_exist"]
    assert list(field_errors(to_foreign)) == ["case"]
    assert by_supervisor.status_code == 403
    assert problem(by_supervisor)["code"] == "not_case_clinician"
    assert state() == before


def test_the_due_list_is_for_client_apps_only(call_as, care):
    response = call_as(care.clinician, READ_WRITE + HOMEWORK).get(DUE)

    assert response.status_code == 403
    assert problem(response)["code"] == "role_not_allowed"


# ---------------------------------------------------------------- safety alerts

ALERT_FIELDS = {
    "id",
    "case",
    "client",
    "assessment",
    "session",
    "kind",
    "detail",
    "acknowledged_by",
    "acknowledged_at",
    "created_at",
    "updated_at",
    "version",
}


def test_phq9_item_9_above_0_raises_one_alert_with_the_assessment(api, care):
    response = post_assessment(
        api, client=care.b, case=care.case, answers=answers_for("phq9", 8, item9=2), at=days_ago(1)
    )

    assert response.status_code == 201, response.content
    alert = SafetyAlert.objects.get()
    assert (alert.assessment_id, alert.case_id, alert.client_id, alert.kind) == (
        uuid.UUID(response.json()["id"]),
        care.case.pk,
        care.b.pk,
        "phq9_item9",
    )
    assert alert.detail == "PHQ-9 item 9 (thoughts of self-harm) answered 2 of 3."
    assert (alert.acknowledged_at, alert.acknowledged_by) == (None, None)
    assert AuditEvent.objects.filter(action="create", object_type="alert", object_ids=[alert.pk]).count() == 1


def test_a_self_reported_item_9_raises_the_alert_once_even_when_retried(as_a, care):
    schedule = services.schedule_create(
        actor=care.clinician, client=care.a, case=care.case, instrument="phq9", frequency="once"
    )
    key = str(uuid.uuid4())
    at = timezone.now()

    first = self_report(as_a, schedule, answers=answers_for("phq9", 10, item9=1), at=at, key=key)
    again = self_report(as_a, schedule, answers=answers_for("phq9", 10, item9=1), at=at, key=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert SafetyAlert.objects.get().assessment_id == uuid.UUID(first.json()["id"])


def test_a_refused_assessment_raises_no_alert(api, care):
    before = state()

    response = post_assessment(
        api,
        client=care.a,
        case=care.case,
        answers=answers_for("phq9", 12, item9=3),
        at=timezone.now() + timedelta(hours=2),
    )

    assert response.status_code == 400
    assert state() == before
    assert not SafetyAlert.objects.exists()


@pytest.mark.parametrize("instrument", ["phq9", "gad7"])
def test_no_alert_without_thoughts_of_self_harm(api, care, instrument):
    answers = [3] * 8 + [0] if instrument == "phq9" else [3] * 7  # severe, but item 9 at 0

    response = post_assessment(api, client=care.a, case=care.case, instrument=instrument, answers=answers)

    assert response.status_code == 201, response.content
    assert not SafetyAlert.objects.exists()


def test_the_alert_reaches_the_clinician_and_their_supervisor_only(call_as, care, supervisor, other_clinician):
    assessment = care.record(care.a, "phq9", 11, days_ago(1), item9=1)
    alert = SafetyAlert.objects.get(assessment=assessment)

    for user in (care.clinician, supervisor):
        api = call_as(user, ["clinical:read"])
        listed = api.get(ALERTS)
        assert listed.status_code == 200, listed.content
        assert [row["id"] for row in listed.json()["results"]] == [str(alert.pk)]
        one = api.get(f"{ALERTS}{alert.pk}/")
        assert one.status_code == 200
        body = one.json()
        assert set(body) == ALERT_FIELDS  # the answers stay on the assessment
        assert (body["assessment"], body["client"], body["case"], body["detail"]) == (
            str(assessment.pk),
            str(care.a.pk),
            str(care.case.pk),
            "PHQ-9 item 9 (thoughts of self-harm) answered 1 of 3.",
        )
        assert AuditEvent.objects.filter(actor=user, action="read", object_type="alert", object_ids=[alert.pk]).exists()

    outsider = call_as(other_clinician, READ_WRITE)
    assert outsider.get(ALERTS).json()["results"] == []
    assert outsider.get(f"{ALERTS}{alert.pk}/").status_code == 404
    before = state()
    refused = outsider.post(f"{ALERTS}{alert.pk}/acknowledge/")
    assert refused.status_code == 404
    assert problem(refused)["code"] == "not_found"
    assert state() == before


def test_client_apps_do_not_see_alerts(call_as, care):
    care.record(care.a, "phq9", 11, days_ago(1), item9=1)

    response = call_as(care.a_user).get(ALERTS)  # every scope: the role is what refuses

    assert response.status_code == 403
    assert problem(response)["code"] == "role_not_allowed"


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_an_alert_is_acknowledged_once(call_as, care, supervisor, who):
    user = care.clinician if who == "clinician" else supervisor
    api = call_as(user, READ_WRITE)
    care.record(care.a, "phq9", 11, days_ago(1), item9=1)
    alert = SafetyAlert.objects.get()

    response = api.post(f"{ALERTS}{alert.pk}/acknowledge/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["acknowledged_by"], body["version"]) == (str(user.pk), 2)
    assert response["ETag"] == '"2"'
    alert.refresh_from_db()
    assert (alert.acknowledged_by_id, alert.version) == (user.pk, 2)
    assert abs(alert.acknowledged_at - timezone.now()) < timedelta(minutes=1)
    assert AuditEvent.objects.filter(actor=user, action="acknowledge", object_type="alert").count() == 1
    assert api.get(ALERTS, {"acknowledged": "false"}).json()["results"] == []
    before = state()

    twice = api.post(f"{ALERTS}{alert.pk}/acknowledge/")

    assert twice.status_code == 409
    assert problem(twice)["code"] == "already_acknowledged"
    assert state() == before


def test_the_alert_list_query_count_is_the_same_for_1_and_20(call_as, care, supervisor, count_queries):
    api = call_as(supervisor, ["clinical:read"])
    care.record(care.a, "phq9", 11, days_ago(30), item9=1)
    one = count_queries(lambda: api.get(ALERTS))
    for n in range(19):
        care.record([care.a, care.b][n % 2], "phq9", 10, days_ago(29 - n), item9=1 + n % 3)

    many = count_queries(lambda: api.get(ALERTS))

    assert len(api.get(ALERTS).json()["results"]) == 20
    assert one == many


# ---------------------------------------------------------------- a case's outcomes


def outcomes_url(case, suffix=""):
    return f"/api/v1/cases/{case.pk}/outcomes/{suffix}"


def test_a_couple_case_shows_each_partners_series_in_time_order(call_as, care):
    a, b = care.a, care.b
    # entered out of time order on purpose
    b2 = care.record(b, "phq9", 6, days_ago(3))
    a1 = care.record(a, "phq9", 14, days_ago(20))
    b1 = care.record(b, "phq9", 13, days_ago(18))
    a2 = care.record(a, "phq9", 8, days_ago(4))
    g1 = care.record(a, "gad7", 9, days_ago(20))

    response = call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["case"] == str(care.case.pk)
    assert [c["client"] for c in body["clients"]] == [str(a.pk), str(b.pk)]

    def points(rows):
        return [
            (
                r["assessment"],
                parse_datetime(r["administered_at"]),
                r["total"],
                r["band"],
                r["change"],
                r["reliable_change"],
            )
            for r in rows
        ]

    first, second = body["clients"]
    assert points(first["phq9"]) == [
        (str(a1.pk), days_ago(20), 14, "moderate", None, None),
        (str(a2.pk), days_ago(4), 8, "mild", -6, "improved"),
    ]
    assert points(first["gad7"]) == [(str(g1.pk), days_ago(20), 9, "mild", None, None)]
    assert first["csi4"] == []
    assert points(second["phq9"]) == [
        (str(b1.pk), days_ago(18), 13, "moderate", None, None),
        (str(b2.pk), days_ago(3), 6, "mild", -7, "improved"),
    ]
    assert (second["gad7"], second["csi4"]) == ([], [])
    assert body["csi4_discrepancy"] == []
    assert (body["gas_t_score"], body["gas_goals"]) == (None, 0)


CSI4_FOR = {8: [2, 2, 2, 2], 9: [3, 2, 2, 2], 11: [2, 3, 3, 3], 12: [3, 3, 3, 3], 19: [6, 5, 4, 4]}


def test_the_csi4_discrepancy_pairs_each_score_with_the_partners_nearest_in_time(call_as, care):
    """First partner on days 0 and 10 (8, 12); second on days 1, 4 and 20 (9, 11, 19), counted from 30 days ago.

    Nearest in time: day 0 ↔ day 1; day 10 → day 4 (6 days, not day 20's 10); day 4 → day 0 (4 days, not 6);
    day 20 → day 10. Each pair once, at the later of its two dates:
        day 1  (8, 9)  → 1;  day 4 (8, 11) → 3;  day 10 (12, 11) → 1;  day 20 (12, 19) → 7.
    Pairing by position (1st with 1st, 2nd with 2nd) would have given (12, 11) at day 10 and no others."""

    def on(day):
        return days_ago(30 - day)

    def csi4(client, total, day):
        return services.assessment_record(
            actor=care.clinician,
            client=client,
            case=care.case,
            instrument="csi4",
            answers=CSI4_FOR[total],
            administered_at=on(day),
        )

    csi4(care.b, 19, 20)
    csi4(care.a, 12, 10)
    csi4(care.b, 11, 4)
    csi4(care.a, 8, 0)
    csi4(care.b, 9, 1)
    care.record(care.a, "phq9", 20, on(2))  # other measures play no part

    body = call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case)).json()

    assert [
        (parse_datetime(r["at"]), r["first_partner_score"], r["second_partner_score"], r["discrepancy"])
        for r in body["csi4_discrepancy"]
    ] == [
        (on(1), 8, 9, 1),
        (on(4), 8, 11, 3),
        (on(10), 12, 11, 1),
        (on(20), 12, 19, 7),
    ]
    assert [r["total"] for r in body["clients"][0]["csi4"]] == [8, 12]
    assert [r["total"] for r in body["clients"][1]["csi4"]] == [9, 11, 19]


def test_an_individual_case_has_no_discrepancy(call_as, clinician):
    case = CaseFactory(clinician=clinician)
    services.assessment_record(
        actor=clinician,
        client=case.client,
        case=case,
        instrument="csi4",
        answers=[3, 3, 3, 3],
        administered_at=days_ago(2),
    )

    body = call_as(clinician, ["clinical:read"]).get(outcomes_url(case)).json()

    assert [c["client"] for c in body["clients"]] == [str(case.client.pk)]
    assert [p["total"] for p in body["clients"][0]["csi4"]] == [12]
    assert body["csi4_discrepancy"] == []


def test_the_gas_t_score_uses_the_latest_rating_of_each_scaled_goal(call_as, care):
    from datetime import date

    trust = GoalFactory(case=care.case, gas_levels=GAS_LEVELS)
    talk = GoalFactory(case=care.case, gas_levels=GAS_LEVELS)
    GASRatingFactory(goal=trust, rated_on=date(2026, 1, 5), score=1)
    GASRatingFactory(goal=trust, rated_on=date(2026, 1, 1), score=-2)  # older, entered later
    GASRatingFactory(goal=talk, rated_on=date(2026, 1, 3), score=2)
    GoalFactory(case=care.case, gas_levels=GAS_LEVELS)  # scaled but never rated
    GASRatingFactory(goal=GoalFactory(case=care.case, gas_levels=None), rated_on=date(2026, 1, 4), score=-2)
    retired = GoalFactory(case=care.case, gas_levels=GAS_LEVELS, lifecycle_status=GoalLifecycle.ENTERED_IN_ERROR)
    GASRatingFactory(goal=retired, rated_on=date(2026, 1, 4), score=-2)
    GASRatingFactory(goal__case=CaseFactory(clinician=care.clinician), rated_on=date(2026, 1, 4), score=-2)

    body = call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case)).json()

    # scores +1 and +2: T = 50 + 10·3 / √(0.7·2 + 0.3·4) = 50 + 30 / √2.6 = 68.6052…
    assert (body["gas_t_score"], body["gas_goals"]) == (68.61, 2)


def test_one_goal_at_plus_one_gives_60(call_as, care):
    GASRatingFactory(goal__case=care.case, score=1)

    body = call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case)).json()

    assert (body["gas_t_score"], body["gas_goals"]) == (60.0, 1)


def test_reading_a_cases_outcomes_is_audited_and_scoped(call_as, care, supervisor, other_clinician):
    care.record(care.a, "phq9", 10, days_ago(2))

    for user in (care.clinician, supervisor):
        response = call_as(user, ["clinical:read"]).get(outcomes_url(care.case))
        assert response.status_code == 200, response.content
        assert (
            AuditEvent.objects.filter(
                actor=user, action="read", object_type="case_outcomes", object_ids=[care.case.pk]
            ).count()
            == 1
        )

    before = AuditEvent.objects.count()
    refused = call_as(other_clinician, ["clinical:read"]).get(outcomes_url(care.case))
    assert refused.status_code == 404
    assert problem(refused)["code"] == "not_found"
    assert AuditEvent.objects.count() == before
    as_partner = call_as(care.a_user)  # a client app, even with every scope
    assert as_partner.get(outcomes_url(care.case)).status_code == 403
    assert problem(as_partner.get(outcomes_url(care.case)))["code"] == "role_not_allowed"


# ---------------------------------------------------------------- the chart

FIRST_PARTNER_COLOUR = (0x6B, 0x3E, 0x75)
SECOND_PARTNER_COLOUR = (0xD9, 0x82, 0x2B)


def png(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    content = response.content
    assert content.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(content))
    image.load()
    assert image.format == "PNG"
    return image


def colours(image):
    return {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 24)}


def test_the_chart_is_a_png_of_each_partners_scores(call_as, care):
    for total, day in ((14, 20), (9, 10), (5, 2)):
        care.record(care.a, "phq9", total, days_ago(day))
    for total, day in ((7, 19), (6, 3)):
        care.record(care.b, "phq9", total, days_ago(day))
    care.record(care.b, "csi4", 10, days_ago(19))
    care.record(care.b, "csi4", 15, days_ago(3))

    image = png(call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case, "chart.png")))

    width, height = image.size
    assert 600 <= width <= 2000
    assert 500 <= height <= 2400  # two panels: PHQ-9 and CSI-4
    drawn = colours(image)
    assert FIRST_PARTNER_COLOUR in drawn
    assert SECOND_PARTNER_COLOUR in drawn
    assert AuditEvent.objects.filter(
        actor=care.clinician, action="read", object_type="case_outcomes", object_ids=[care.case.pk]
    ).exists()


def test_a_case_without_assessments_still_gets_a_chart(call_as, care):
    image = png(call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case, "chart.png")))

    width, height = image.size
    assert 600 <= width <= 2000
    assert 200 <= height <= 1200
    drawn = colours(image)
    assert FIRST_PARTNER_COLOUR not in drawn
    assert SECOND_PARTNER_COLOUR not in drawn
    assert len(drawn) > 2  # not a blank image: there is a title and a message


def test_more_measures_make_a_taller_chart(call_as, care):
    api = call_as(care.clinician, ["clinical:read"])
    care.record(care.a, "phq9", 10, days_ago(3))
    one_panel = png(api.get(outcomes_url(care.case, "chart.png"))).size
    care.record(care.a, "gad7", 10, days_ago(3))
    care.record(care.b, "csi4", 10, days_ago(3))

    three_panels = png(api.get(outcomes_url(care.case, "chart.png"))).size

    assert three_panels[0] == one_panel[0]
    assert three_panels[1] > 2 * one_panel[1]


def test_the_chart_downloads_as_bytes_for_clients_that_know_no_image_types(call_as, care):
    # openapi-python-client omits image/png answers; it takes application/octet-stream, the same PNG.
    care.record(care.a, "phq9", 10, days_ago(3))
    api = call_as(care.clinician, ["clinical:read"])

    as_image = api.get(outcomes_url(care.case, "chart.png"), HTTP_ACCEPT="image/png")
    as_bytes = api.get(outcomes_url(care.case, "chart.png"), HTTP_ACCEPT="application/octet-stream")

    assert (as_image.status_code, as_image["Content-Type"]) == (200, "image/png")
    assert (as_bytes.status_code, as_bytes["Content-Type"]) == (200, "application/octet-stream")
    assert as_bytes.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(as_bytes.content)).size == png(as_image).size


def test_the_chart_refuses_to_be_json(call_as, care):
    response = call_as(care.clinician, ["clinical:read"]).get(
        outcomes_url(care.case, "chart.png"), HTTP_ACCEPT="application/json"
    )

    assert response.status_code == 406
    assert problem(response)["code"] == "not_acceptable"


def test_another_clinician_gets_no_chart(call_as, care, other_clinician):
    care.record(care.a, "phq9", 10, days_ago(3))

    response = call_as(other_clinician, ["clinical:read"]).get(outcomes_url(care.case, "chart.png"))

    assert response.status_code == 404
    assert problem(response)["code"] == "not_found"


def test_closing_a_case_withdraws_its_homework_and_schedules(call_as, clinician, catalog):
    from clinical.models import AssessmentSchedule, HomeworkAssignment
    from clinical.services import homework, measures

    case = CaseFactory(clinician=clinician)
    client = case.client
    client.user = UserFactory(role=Role.CLIENT)
    client.save()
    assignment = homework.assignment_create(
        actor=clinician, case=case, exercise=catalog["daily-appreciation-note"], assignees=[client]
    )
    schedule = measures.schedule_create(
        actor=clinician, client=client, case=case, instrument="phq9", frequency="weekly"
    )
    app = call_as(client.user, ["homework"])
    assert len(app.get("/api/v1/me/assessments-due/").json()["results"]) == 1

    closed = call_as(clinician).post(f"/api/v1/cases/{case.pk}/close/", {"closing_reason": "goals met"})

    assert closed.status_code == 200
    assert HomeworkAssignment.objects.get(pk=assignment.pk).status == "cancelled"
    assert AssessmentSchedule.objects.get(pk=schedule.pk).status == "cancelled"
    assert app.get("/api/v1/me/assessments-due/").json()["results"] == []
    assert app.get("/api/v1/me/assignments/").json()["results"] == []


def test_a_self_report_dated_before_its_schedule_starts_is_refused(call_as, clinician):
    import uuid

    from clinical.models import Assessment
    from clinical.services import measures

    case = CaseFactory(clinician=clinician)
    client = case.client
    client.user = UserFactory(role=Role.CLIENT)
    client.save()
    schedule = measures.schedule_create(actor=clinician, client=client, case=case, instrument="gad7", frequency="once")

    response = call_as(client.user, ["homework"]).post(
        "/api/v1/assessments/",
        {
            "schedule": str(schedule.pk),
            "instrument": "gad7",
            "answers": [0] * 7,
            "administered_at": (timezone.now() - timedelta(days=2)).isoformat(),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["administered_at"]
    assert not Assessment.objects.exists()


@pytest.mark.parametrize("path", ["", "chart.png"])
def test_options_names_the_methods_whatever_the_representation(call_as, care, path):
    # Found by the contract fuzzer: OPTIONS on the chart rendered DRF's metadata as a PNG (500).
    api = call_as(care.clinician, ["clinical:read"])

    for accept in ("*/*", "image/png", "application/octet-stream", "application/json"):
        response = api.options(outcomes_url(care.case, path), HTTP_ACCEPT=accept)
        assert (response.status_code, response.content) == (204, b""), accept
        assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
