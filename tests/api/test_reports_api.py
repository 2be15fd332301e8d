"""The caseload and outcome reports through HTTP: who may ask for whose figures, filters, CSV parsed back against
the JSON, the demo practice's figures computed by hand, and a query count that does not grow with the caseload."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from clinical.models import (
    GoalAchievement,
    GoalDomain,
    NoteStatus,
    Role,
    SubjectType,
    User,
)
from clinical.services import homework
from clinical.services import measures as outcome_services
from clinical.services.demo import seed_demo
from tests.factories import (
    GAS_LEVELS,
    CaseFactory,
    ClientFactory,
    CoupleFactory,
    GASRatingFactory,
    GoalFactory,
    NoteFactory,
    SupervisionFactory,
    UserFactory,
)
from tests.factories.scenes import answers_for
from tests.helpers import days_ago, problem
from tools import schema

CASELOAD = "/api/v1/reports/caseload/"
OUTCOMES = "/api/v1/reports/outcomes/"
AS_CSV = {CASELOAD: "/api/v1/reports/caseload.csv", OUTCOMES: "/api/v1/reports/outcomes.csv"}
REPORTS = ["reports"]
MEASURES = ("phq9", "gad7", "csi4")
# CSI-4 reliable change is off unless the environment configures it; these tests fix that choice.
pytestmark = pytest.mark.usefixtures("no_csi4_parameters")


def record(case, client, code, total, ago, item9=0):
    return outcome_services.assessment_record(
        actor=case.clinician,
        client=client,
        case=case,
        instrument=code,
        answers=answers_for(code, total, item9),
        administered_at=days_ago(ago),
    )


def report(api, path, **params):
    response = api.get(path, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def row_ids(body):
    return [row["clinician"] for row in body["rows"]]


# ---------------------------------------------------------------- who may ask


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
def test_the_reports_scope_is_needed(call_as, clinician, path):
    response = call_as(clinician, ["clinical:read", "clinical:write", "homework", "admin"]).get(path)

    assert response.status_code == 403
    body = problem(response)
    assert body["code"] == "insufficient_scope"
    assert body["required_scopes"] == [["reports"]]


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
@pytest.mark.parametrize("role", [Role.ADMIN, Role.CLIENT])
def test_admins_and_clients_get_no_report(call_as, path, role):
    response = call_as(UserFactory(role=role)).get(path)  # every scope: the role is what refuses

    assert response.status_code == 403
    assert problem(response)["code"] == "role_not_allowed"


def test_a_clinician_reports_on_themself_only(call_as, clinician, other_clinician):
    CaseFactory(clinician=clinician)
    CaseFactory(clinician=other_clinician)
    api = call_as(clinician, REPORTS)

    caseload = report(api, CASELOAD)
    outcomes = report(api, OUTCOMES)

    assert row_ids(caseload) == [str(clinician.pk)]
    assert caseload["rows"][0]["clinician_name"] == clinician.display_name
    assert caseload["rows"][0]["open_cases"] == 1
    assert row_ids(outcomes) == [str(clinician.pk)]
    assert outcomes["rows"][0]["cases"] == outcomes["total"]["cases"] == 1
    assert (outcomes["total"]["clinician"], outcomes["total"]["clinician_name"]) == (None, "All")


def test_a_supervisor_reports_on_themself_and_current_supervisees_only(call_as, supervisor, clinician, other_clinician):
    second = UserFactory(role=Role.CLINICIAN, display_name="Aaron Second")
    SupervisionFactory(supervisor=supervisor, supervisee=second)
    former = UserFactory(role=Role.CLINICIAN, display_name="Fern Former")
    SupervisionFactory(
        supervisor=supervisor,
        supervisee=former,
        started_on=timezone.localdate() - timedelta(days=90),
        ended_on=timezone.localdate() - timedelta(days=3),
    )
    elsewhere = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisee=elsewhere)  # someone else's supervisee
    for holder, n in ((supervisor, 1), (clinician, 2), (second, 3), (former, 4), (other_clinician, 5), (elsewhere, 6)):
        for _ in range(n):
            CaseFactory(clinician=holder)
    api = call_as(supervisor, REPORTS)

    caseload = report(api, CASELOAD)
    outcomes = report(api, OUTCOMES)

    supervisees = sorted([clinician, second], key=lambda u: (u.display_name, u.pk))
    expected = [str(supervisor.pk), *(str(u.pk) for u in supervisees)]
    assert row_ids(caseload) == expected
    assert {row["clinician"]: row["open_cases"] for row in caseload["rows"]} == {
        str(supervisor.pk): 1,
        str(clinician.pk): 2,
        str(second.pk): 3,
    }
    assert row_ids(outcomes) == expected
    assert {row["clinician"]: row["cases"] for row in outcomes["rows"]} == {
        str(supervisor.pk): 1,
        str(clinician.pk): 2,
        str(second.pk): 3,
    }
    assert outcomes["total"]["cases"] == 6


def test_a_supervisor_may_narrow_the_outcomes_to_one_supervisee(call_as, supervisor, clinician):
    second = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisor=supervisor, supervisee=second)
    CaseFactory(clinician=clinician)
    CaseFactory(clinician=second)
    CaseFactory(clinician=second)

    body = report(call_as(supervisor, REPORTS), OUTCOMES, clinician=str(second.pk))

    assert row_ids(body) == [str(second.pk)]
    assert body["rows"][0]["cases"] == body["total"]["cases"] == 2


@pytest.mark.parametrize("who", ["other_clinician", "former_supervisee", "nobody", "the_supervisor", "admin"])
def test_naming_a_clinician_out_of_reach_is_404(call_as, supervisor, clinician, other_clinician, who):
    former = UserFactory(role=Role.CLINICIAN)
    SupervisionFactory(supervisor=supervisor, supervisee=former, ended_on=timezone.localdate())
    named = {
        "other_clinician": lambda: other_clinician.pk,
        "former_supervisee": lambda: former.pk,
        "nobody": uuid.uuid4,
        "the_supervisor": lambda: supervisor.pk,
        "admin": lambda: UserFactory(role=Role.ADMIN).pk,
    }[who]()
    api = call_as(supervisor if who != "the_supervisor" else clinician, REPORTS)

    response = api.get(OUTCOMES, {"clinician": str(named)})

    assert response.status_code == 404
    assert problem(response)["code"] == "not_found"


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
def test_the_404_for_a_clinician_out_of_reach_is_documented(path):
    # Found by the contract fuzzer: the schema listed no 404 for the reports.
    assert "404" in yaml.safe_load(schema.SCHEMA_FILE.read_text())["paths"][path]["get"]["responses"]


def test_a_clinician_may_name_themself(call_as, clinician):
    CaseFactory(clinician=clinician)

    body = report(call_as(clinician, REPORTS), OUTCOMES, clinician=str(clinician.pk))

    assert row_ids(body) == [str(clinician.pk)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "last-week"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "21/11/2026"}, "to"),
        ({"domain": "romance"}, "domain"),
        ({"clinician": "not-a-uuid"}, "clinician"),
        # Found by the contract fuzzer: a parameter given with no value was read as absent.
        ({"clinician": ""}, "clinician"),
        ({"to": ""}, "to"),
    ],
)
def test_bad_filters_are_field_errors(call_as, clinician, params, field):
    response = call_as(clinician, REPORTS).get(OUTCOMES, params)

    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "invalid"
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
@pytest.mark.parametrize("value", ["xml", ""])
def test_a_format_the_report_lacks_is_406_not_404(call_as, clinician, path, value):
    # Found by the contract fuzzer: DRF answered ?format=xml with 404, which reads as "no such report", and
    # ignored ?format= (JSON).
    response = call_as(clinician, REPORTS).get(path, {"format": value})

    assert response.status_code == 406
    assert problem(response)["code"] == "not_acceptable"


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
def test_each_report_has_one_representation_per_operation(call_as, clinician, path):
    # A generated client parses what the contract says an operation answers: JSON at reports/…/, CSV at …csv.
    api = call_as(clinician, REPORTS)

    assert api.get(path)["Content-Type"] == "application/json"
    assert_problem_code(api.get(path, HTTP_ACCEPT="text/csv"), 406, "not_acceptable")
    assert api.get(AS_CSV[path])["Content-Type"] == "text/csv; charset=utf-8"
    assert_problem_code(api.get(AS_CSV[path], HTTP_ACCEPT="application/json"), 406, "not_acceptable")


def assert_problem_code(response, status, code):
    assert response.status_code == status, response.content
    assert problem(response)["code"] == code


def test_bad_filters_are_problem_json_even_when_csv_was_asked_for(call_as, clinician):
    response = call_as(clinician, REPORTS).get(AS_CSV[OUTCOMES], {"from": "soon"})

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["from"]


# ---------------------------------------------------------------- filters


def test_the_period_and_domain_filters_narrow_the_figures(call_as, clinician):
    today = timezone.localdate()
    talking = CaseFactory(clinician=clinician, opened_on=today - timedelta(days=40))
    GoalFactory(case=talking, domain=GoalDomain.COMMUNICATION)
    record(talking, talking.client, "phq9", 15, 30)
    record(talking, talking.client, "phq9", 9, 20)
    record(talking, talking.client, "phq9", 3, 2)
    trusting = CaseFactory(clinician=clinician, opened_on=today - timedelta(days=40))
    GoalFactory(case=trusting, domain=GoalDomain.TRUST_REBUILDING, achievement_status=GoalAchievement.ACHIEVED)
    record(trusting, trusting.client, "gad7", 10, 25)
    record(trusting, trusting.client, "gad7", 12, 5)
    CaseFactory(clinician=clinician, opened_on=today - timedelta(days=5))  # opened after the period below
    api = call_as(clinician, REPORTS)

    everything = report(api, OUTCOMES)["total"]
    until_ten_days_ago = report(api, OUTCOMES, to=(today - timedelta(days=10)).isoformat())
    talking_only = report(api, OUTCOMES, domain="communication")["total"]

    assert everything["cases"] == 3
    assert everything["goals_achieved_rate"] == 0.5
    # 15 → 3: twelve points better, recovered; 10 → 12: two worse, still a case
    assert (everything["instruments"]["phq9"]["n_clients"], everything["instruments"]["phq9"]["mean_change"]) == (
        1,
        -12.0,
    )
    assert everything["instruments"]["gad7"] == {
        "n_clients": 1,
        "mean_change": 2.0,
        "reliably_improved_rate": 0.0,
        "reliably_deteriorated_rate": 0.0,
        "recovered_rate": 0.0,
        "mean_change_adherence_at_least_0_7": None,
        "mean_change_adherence_below_0_7": None,  # no homework: adherence unknown
    }
    # up to ten days ago: the 9 of twenty days ago is the latest; the GAD-7 follow-up had not happened
    assert until_ten_days_ago["date_to"] == (today - timedelta(days=10)).isoformat()
    total = until_ten_days_ago["total"]
    assert total["cases"] == 2
    assert total["instruments"]["phq9"] == {
        "n_clients": 1,
        "mean_change": -6.0,
        "reliably_improved_rate": 1.0,
        "reliably_deteriorated_rate": 0.0,
        "recovered_rate": 1.0,
        "mean_change_adherence_at_least_0_7": None,
        "mean_change_adherence_below_0_7": None,
    }
    assert total["instruments"]["gad7"]["n_clients"] == 0
    assert talking_only["cases"] == 1
    assert talking_only["goals_achieved_rate"] == 0.0
    assert talking_only["instruments"]["phq9"]["n_clients"] == 1
    assert talking_only["instruments"]["gad7"]["n_clients"] == 0


# ---------------------------------------------------------------- CSV


def flatten(row, prefix=""):
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def same_value(text, value):
    if value is None:
        return text == ""
    if isinstance(value, bool):
        return text == str(value)
    if isinstance(value, int):
        return int(text) == value
    if isinstance(value, float):
        return float(text) == value
    return text == str(value)


def parse_csv(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


@pytest.fixture
def busy_practice(supervisor, clinician, catalog):
    """A supervisor with a busy supervisee: a couple case with goals, GAS ratings, homework done in part, notes and
    an alert; the supervisor holds a quiet case of their own."""
    return busy_case(clinician, catalog), CaseFactory(clinician=supervisor)


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
def test_csv_has_every_figure_of_the_json(call_as, supervisor, busy_practice, path):
    api = call_as(supervisor, REPORTS)
    body = report(api, path)
    json_rows = body["rows"] + ([body["total"]] if "total" in body else [])

    rows = parse_csv(api.get(AS_CSV[path]))

    assert len(rows) == len(json_rows) == (3 if path == OUTCOMES else 2)
    for parsed, expected in zip(rows, json_rows, strict=True):
        flat = flatten(expected)
        assert list(parsed) == list(flat)
        mismatched = {k: (parsed[k], flat[k]) for k in flat if not same_value(parsed[k], flat[k])}
        assert mismatched == {}
    if path == OUTCOMES:
        header = list(rows[0])
        for code in MEASURES:
            assert f"instruments_{code}_mean_change" in header
            assert f"instruments_{code}_reliably_improved_rate" in header
            assert f"instruments_{code}_mean_change_adherence_at_least_0_7" in header
        assert (rows[-1]["clinician"], rows[-1]["clinician_name"]) == ("", "All")
        assert rows[1]["instruments_phq9_mean_change"] == "-7.0"
    else:
        assert "notes_awaiting_cosign" in rows[0]


# ---------------------------------------------------------------- hand-computed scenes


def busy_case(holder, catalog):
    """A couple case of `holder`, opened 30 days ago: a scaled goal rated +1, homework half done, a draft note a week
    old, a signed note awaiting co-signature, and PHQ-9 for the first partner 15 → 8 with an alert."""
    today = timezone.localdate()
    a = ClientFactory(primary_clinician=holder)
    b = ClientFactory(primary_clinician=holder)
    for client in (a, b):
        client.user = UserFactory(role=Role.CLIENT)
        client.save(update_fields=["user"])
    couple = CoupleFactory(partners=[a, b])
    case = CaseFactory(
        clinician=holder, subject_type=SubjectType.COUPLE, couple=couple, opened_on=today - timedelta(days=30)
    )
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS, domain=GoalDomain.COMMUNICATION)
    GASRatingFactory(goal=goal, rated_on=today - timedelta(days=3), score=1)
    assignment = homework.assignment_create(
        actor=holder,
        case=case,
        exercise=catalog["daily-appreciation-note"],
        assignees=[a, b],
        start_date=today - timedelta(days=3),
        frequency="daily",
        target_count=7,
    )
    for client, ago in ((a, 3), (a, 2), (b, 1)):
        homework.submission_create(
            actor=client.user,
            assignment=assignment,
            completed_at=days_ago(ago),
            responses={"appreciated": "Made tea", "shared": True, "mood_after": 4},
        )
    NoteFactory(case=case, session_date=today - timedelta(days=7))
    NoteFactory(case=case, status=NoteStatus.SIGNED, signed_at=timezone.now(), cosign_required=True)
    record(case, a, "phq9", 15, 20)
    record(case, a, "phq9", 8, 2, item9=1)
    return case


def test_the_demo_practice_reports_chris_morgans_figures(call_as):
    """seed_demo: Chris Morgan holds Alex and Sam's couple case, opened 28 days ago, supervised by Dr. Sofia Reyes.

    Homework: the weekly check-in (joint, target 4, begun 14 days ago: 3 weeks expected, weeks 0 and 1 done → 2 of
    3) and the daily appreciation note (each, target 7, begun 5 days ago: 6 days expected each; Alex days 0, 1, 3,
    Sam days 0, 2 → 5 of 12). Adherence (2 + 5) / (3 + 12) = 7/15 = 0.4667; per client Alex (2 + 3) / 9, Sam
    (2 + 2) / 9, both below 0.7.

    Measures (baseline → latest): Alex PHQ-9 12 → 5 (-7, reliable, recovered), GAD-7 11 → 6 (-5, reliable,
    recovered), CSI-4 8 → 12 (+4, still distressed); Sam PHQ-9 7 → 5 (-2, not a case at baseline), GAD-7 9 → 8
    (-1, still a case), CSI-4 12 → 15 (+3, recovered). CSI-4 reliable change is not available.
    GAS: the trust goal's latest rating is 0 → T = 50. Goals: three active, none achieved. One signed note awaits
    co-signature. Sessions: three joint sessions attended in the last four weeks (15, 8 and 1 days ago), the two
    older without a note. One alert: a split alliance (Sam's session ratings trail Alex's by 10 and then 11 points
    in the last two joint sessions); none from the measures (item 9 is 0 throughout)."""
    seed_demo()
    supervisor = User.objects.get(email="supervisor@demo.test")
    chris = User.objects.get(email="clinician@demo.test")
    api = call_as(supervisor, REPORTS)

    caseload = report(api, CASELOAD)
    outcomes = report(api, OUTCOMES)

    quiet = {
        "open_cases": 0,
        "paused_cases": 0,
        "goals_proposed": 0,
        "goals_active": 0,
        "goals_on_hold": 0,
        "goals_completed": 0,
        "goals_cancelled": 0,
        "active_homework": 0,
        "homework_adherence": None,
        "overdue_homework": 0,
        "notes_unsigned_over_72h": 0,
        "notes_awaiting_cosign": 0,
        "unacknowledged_alerts": 0,
        "conjoint_holds": 0,
        "sessions_attended": 0,
        "sessions_cancelled": 0,
        "sessions_late_cancelled": 0,
        "sessions_no_show": 0,
        "sessions_missing_note": 0,
    }
    assert caseload["rows"] == [
        {"clinician": str(supervisor.pk), "clinician_name": "Dr. Sofia Reyes", **quiet},
        {
            "clinician": str(chris.pk),
            "clinician_name": "Chris Morgan, LMFT",
            **quiet,
            "open_cases": 1,
            "goals_active": 3,
            "active_homework": 2,
            "homework_adherence": 0.4667,
            "notes_awaiting_cosign": 1,
            "unacknowledged_alerts": 1,
            "conjoint_holds": 0,
            "sessions_attended": 3,
            "sessions_missing_note": 2,
        },
    ]

    chris_measures = {
        "phq9": {
            "n_clients": 2,
            "mean_change": -4.5,
            "reliably_improved_rate": 0.5,
            "reliably_deteriorated_rate": 0.0,
            "recovered_rate": 1.0,
            "mean_change_adherence_at_least_0_7": None,
            "mean_change_adherence_below_0_7": -4.5,
        },
        "gad7": {
            "n_clients": 2,
            "mean_change": -3.0,
            "reliably_improved_rate": 0.5,
            "reliably_deteriorated_rate": 0.0,
            "recovered_rate": 0.5,
            "mean_change_adherence_at_least_0_7": None,
            "mean_change_adherence_below_0_7": -3.0,
        },
        "csi4": {
            "n_clients": 2,
            "mean_change": 3.5,
            "reliably_improved_rate": None,
            "reliably_deteriorated_rate": None,
            "recovered_rate": 0.5,
            "mean_change_adherence_at_least_0_7": None,
            "mean_change_adherence_below_0_7": 3.5,
        },
    }
    chris_row = {
        "clinician": str(chris.pk),
        "clinician_name": "Chris Morgan, LMFT",
        "cases": 1,
        "goals_achieved_rate": 0.0,
        "mean_gas_t": 50.0,
        "homework_adherence": 0.4667,
        "sessions_attended": 3,
        "sessions_cancelled": 0,
        "sessions_late_cancelled": 0,
        "sessions_no_show": 0,
        "instruments": chris_measures,
        "measures": chris_measures,  # every published measure: the demo practice has only the built-in ones
    }
    no_measures = {
        "n_clients": 0,
        "mean_change": None,
        "reliably_improved_rate": None,
        "reliably_deteriorated_rate": None,
        "recovered_rate": None,
        "mean_change_adherence_at_least_0_7": None,
        "mean_change_adherence_below_0_7": None,
    }
    assert outcomes == {
        "date_from": None,
        "date_to": timezone.localdate().isoformat(),
        "domain": None,
        "rows": [
            {
                "clinician": str(supervisor.pk),
                "clinician_name": "Dr. Sofia Reyes",
                "cases": 0,
                "goals_achieved_rate": None,
                "mean_gas_t": None,
                "homework_adherence": None,
                "sessions_attended": 0,
                "sessions_cancelled": 0,
                "sessions_late_cancelled": 0,
                "sessions_no_show": 0,
                "instruments": dict.fromkeys(MEASURES, no_measures),
                "measures": dict.fromkeys(MEASURES, no_measures),
            },
            chris_row,
        ],
        "total": {**chris_row, "clinician": None, "clinician_name": "All"},
    }


def test_a_busy_case_is_counted_as_computed_by_hand(call_as, supervisor, clinician, busy_practice):
    """The busy case: daily homework for both partners begun 3 days ago (4 days expected each, 8 in all); done: the
    first partner on days 0 and 1, the second on day 2 → 3 of 8 = 0.375. A draft note 7 days after its session
    (late), one signed note awaiting co-signature, one open alert. PHQ-9 15 → 8: -7, reliable, recovered."""
    api = call_as(supervisor, REPORTS)

    caseload = {row["clinician"]: row for row in report(api, CASELOAD)["rows"]}
    outcomes = report(api, OUTCOMES)

    mine = caseload[str(clinician.pk)]
    assert {k: v for k, v in mine.items() if k not in ("clinician", "clinician_name")} == {
        "open_cases": 1,
        "paused_cases": 0,
        "goals_proposed": 0,
        "goals_active": 1,
        "goals_on_hold": 0,
        "goals_completed": 0,
        "goals_cancelled": 0,
        "active_homework": 1,
        "homework_adherence": 0.375,
        "overdue_homework": 0,
        "notes_unsigned_over_72h": 1,
        "notes_awaiting_cosign": 1,
        "unacknowledged_alerts": 1,
        "conjoint_holds": 0,
        "sessions_attended": 0,
        "sessions_cancelled": 0,
        "sessions_late_cancelled": 0,
        "sessions_no_show": 0,
        "sessions_missing_note": 0,
    }
    assert caseload[str(supervisor.pk)]["open_cases"] == 1
    row = outcomes["rows"][1]
    assert row["clinician"] == str(clinician.pk)
    assert (row["cases"], row["goals_achieved_rate"], row["mean_gas_t"], row["homework_adherence"]) == (
        1,
        0.0,
        60.0,
        0.375,
    )
    assert row["instruments"]["phq9"] == {
        "n_clients": 1,
        "mean_change": -7.0,
        "reliably_improved_rate": 1.0,
        "reliably_deteriorated_rate": 0.0,
        "recovered_rate": 1.0,
        "mean_change_adherence_at_least_0_7": None,
        "mean_change_adherence_below_0_7": -7.0,  # the first partner: 2 of 4
    }
    total = outcomes["total"]
    assert (total["cases"], total["goals_achieved_rate"], total["mean_gas_t"], total["homework_adherence"]) == (
        2,
        0.0,
        60.0,
        0.375,
    )
    assert total["instruments"] == row["instruments"]


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
def test_report_query_count_does_not_grow_with_the_caseload(
    call_as, supervisor, clinician, catalog, count_queries, path
):
    api = call_as(supervisor, REPORTS)
    busy_case(clinician, catalog)
    one = count_queries(lambda: report(api, path))
    for _ in range(29):
        busy_case(clinician, catalog)

    many = count_queries(lambda: report(api, path))

    cases = {row["clinician"]: row for row in report(api, path)["rows"]}[str(clinician.pk)]
    assert cases["open_cases" if path == CASELOAD else "cases"] == 30
    assert one == many


def test_a_period_ending_in_the_future_ends_today(call_as, clinician):
    body = report(call_as(clinician, REPORTS), OUTCOMES, to=(timezone.localdate() + timedelta(days=30)).isoformat())

    assert body["date_to"] == timezone.localdate().isoformat()


def test_from_after_to_is_a_field_error(call_as, clinician):
    response = call_as(clinician, REPORTS).get(OUTCOMES, {"from": "2026-06-02", "to": "2026-06-01"})

    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["from"]


def test_the_caseload_narrows_to_one_supervisee_and_refuses_others(call_as, supervisor, clinician, other_clinician):
    api = call_as(supervisor, REPORTS)

    assert row_ids(report(api, CASELOAD, clinician=str(clinician.pk))) == [str(clinician.pk)]
    assert api.get(CASELOAD, {"clinician": str(other_clinician.pk)}).status_code == 404


@pytest.mark.parametrize("path", [CASELOAD, OUTCOMES])
def test_reading_a_report_is_audited_with_the_clinicians_it_names(call_as, supervisor, clinician, path):
    from clinical.models import AuditEvent

    report(call_as(supervisor, REPORTS), path)

    event = AuditEvent.objects.get(object_type="report")
    assert event.action == "read"
    assert event.actor_id == supervisor.pk
    assert set(event.object_ids) == {supervisor.pk, clinician.pk}
    assert event.detail == {"report": "caseload" if path == CASELOAD else "outcomes"}
