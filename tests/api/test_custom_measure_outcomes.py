"""A practice's own measures in the read paths that once knew only PHQ-9, GAD-7 and CSI-4: a case's outcomes
(`measures` per client), its chart (a panel per measure, drawn with the version its latest score was scored with)
and the outcomes report (`measures` per row, JSON and CSV), with hand-computed figures and flat query counts."""

import copy
import csv
import io

import pytest
from PIL import Image

from api.charts import band_shades
from clinical.case_outcomes import case_outcomes
from clinical.instruments import HIGHER_IS_BETTER, LOWER_IS_BETTER
from clinical.services import instruments as published
from clinical.services import measures as services
from tests.clinical.test_instrument_engine import closeness
from tests.factories.scenes import CoupleInCare
from tests.helpers import days_ago

OUTCOMES_REPORT = "/api/v1/reports/outcomes/"
OUTCOMES_CSV = "/api/v1/reports/outcomes.csv"
BUILT_IN = ["phq9", "gad7", "csi4"]
pytestmark = pytest.mark.usefixtures("no_csi4_parameters")

AMOUNT = [
    {"value": v, "label": label}
    for v, label in enumerate(["Not at all", "A little", "Somewhat", "Quite a bit", "Very much"])
]


def strain():
    """A practice's own four-item measure, 0-4 each (total 0-16), lower is better: item c reverse-scored (4 - answer),
    a subscale `arguing` of items a and b; caseness at 11 or more, reliable change 4 points."""
    return {
        "code": "couple_strain",
        "name": "Couple strain check-in",
        "prompt": "In the last week:",
        "citation": "Written by the practice, 2026.",
        "licence": "The practice's own.",
        "items": [
            {"key": "a", "text": "We argued about small things.", "options": AMOUNT},
            {"key": "b", "text": "An argument stayed with me for hours.", "options": AMOUNT},
            {"key": "c", "text": "We settled a disagreement well.", "options": AMOUNT, "reverse": True},
            {"key": "d", "text": "I kept out of my partner's way.", "options": AMOUNT},
        ],
        "subscales": [{"key": "arguing", "name": "Arguing", "items": ["a", "b"]}],
        "bands": [
            {"low": 0, "high": 5, "label": "low"},
            {"low": 6, "high": 10, "label": "moderate"},
            {"low": 11, "high": 16, "label": "high"},
        ],
        "direction": "lower_is_better",
        "caseness": {"at_or_above": 11, "source": "The practice's clinical judgement."},
        "reliable_change": {"points": 4, "citation": "The practice's own rule, 2026."},
    }


def record(care, client, code, answers, ago):
    return services.assessment_record(
        actor=care.clinician,
        client=client,
        case=care.case,
        instrument=code,
        answers=answers,
        administered_at=days_ago(ago),
    )


@pytest.fixture
def practice_measures(admin_user):
    """The practice's own measures, published by its admin: couple strain (lower is better) and closeness (higher
    is better; items b and d reverse-scored, 0-3 each, total 0-12, caseness below 6, reliable change 3 points)."""
    return [published.instrument_publish(definition=d, author=admin_user)[0] for d in (strain(), closeness())]


def scene(care):
    """Worked by hand (reverse items count from the other end):

    Partner A, couple strain: day 20 [3, 3, 0, 2] → 3 + 3 + (4 - 0) + 2 = 12, high, at caseness (the baseline);
    day 10 [2, 2, 2, 1] → 2 + 2 + 2 + 1 = 7, moderate, -5 (≥ 4: improved), recovered;
    day 2 [1, 1, 3, 1] → 1 + 1 + 1 + 1 = 4, low, -8, improved, recovered. PHQ-9 12 → 5: -7, improved, recovered.
    Partner B, couple strain: day 18 [2, 1, 2, 2] → 7, moderate, not a case; day 3 [3, 3, 1, 3] → 12, high, +5:
    deteriorated (lower is better). Closeness: day 15 [3, 1, 2, 0] → 3 + (3 - 1) + 2 + (3 - 0) = 10, close, not a
    case (below 6 is); day 4 [1, 2, 1, 2] → 1 + 1 + 1 + 1 = 4, distant, -6 (≥ 3): deteriorated (higher is better).
    """
    return {
        "a_strain": [
            record(care, care.a, "couple_strain", [3, 3, 0, 2], 20),
            record(care, care.a, "couple_strain", [2, 2, 2, 1], 10),
            record(care, care.a, "couple_strain", [1, 1, 3, 1], 2),
        ],
        "a_phq9": [care.record(care.a, "phq9", 12, days_ago(20)), care.record(care.a, "phq9", 5, days_ago(2))],
        "b_strain": [
            record(care, care.b, "couple_strain", [2, 1, 2, 2], 18),
            record(care, care.b, "couple_strain", [3, 3, 1, 3], 3),
        ],
        "b_closeness": [
            record(care, care.b, "closeness", [3, 1, 2, 0], 15),
            record(care, care.b, "closeness", [1, 2, 1, 2], 4),
        ],
    }


def outcomes_url(case, suffix=""):
    return f"/api/v1/cases/{case.pk}/outcomes/{suffix}"


def points(series):
    return [(p["assessment"], p["total"], p["band"], p["change"], p["reliable_change"]) for p in series]


# ---------------------------------------------------------------- a case's outcomes


def test_a_cases_outcomes_give_each_partners_series_of_every_measure_they_answered(call_as, care, practice_measures):
    made = scene(care)

    response = call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case))

    assert response.status_code == 200, response.content
    first, second = response.json()["clients"]
    assert (first["client"], second["client"]) == (str(care.a.pk), str(care.b.pk))
    # built-in first, then the practice's own by code; only what each partner answered
    assert list(first["measures"]) == ["phq9", "couple_strain"]
    assert list(second["measures"]) == ["closeness", "couple_strain"]
    a1, a2, a3 = (str(a.pk) for a in made["a_strain"])
    assert points(first["measures"]["couple_strain"]) == [
        (a1, 12, "high", None, None),
        (a2, 7, "moderate", -5, "improved"),
        (a3, 4, "low", -8, "improved"),
    ]
    b1, b2 = (str(a.pk) for a in made["b_strain"])
    assert points(second["measures"]["couple_strain"]) == [
        (b1, 7, "moderate", None, None),
        (b2, 12, "high", 5, "deteriorated"),
    ]
    c1, c2 = (str(a.pk) for a in made["b_closeness"])
    assert points(second["measures"]["closeness"]) == [
        (c1, 10, "close", None, None),
        (c2, 4, "distant", -6, "deteriorated"),
    ]
    # the built-in series under their fixed keys as before, and the same points under `measures`
    assert first["measures"]["phq9"] == first["phq9"]
    assert [p["total"] for p in first["phq9"]] == [12, 5]
    assert (first["gad7"], first["csi4"], second["phq9"], second["gad7"], second["csi4"]) == ([],) * 5
    assert set(first) == set(second) == {"client", "phq9", "gad7", "csi4", "measures"}


def test_a_client_without_assessments_has_no_measures(call_as, care, practice_measures):
    body = call_as(care.clinician, ["clinical:read"]).get(outcomes_url(care.case)).json()

    assert [c["measures"] for c in body["clients"]] == [{}, {}]


def test_the_case_outcomes_query_count_does_not_grow_with_scores_or_measures(
    call_as, care, practice_measures, count_queries
):
    api = call_as(care.clinician, ["clinical:read"])
    record(care, care.a, "couple_strain", [1, 1, 1, 1], 30)
    one = count_queries(lambda: api.get(outcomes_url(care.case)))
    one_chart = count_queries(lambda: api.get(outcomes_url(care.case, "chart.png")))
    scene(care)
    care.record(care.b, "gad7", 9, days_ago(5))
    care.record(care.b, "csi4", 12, days_ago(5))

    many = count_queries(lambda: api.get(outcomes_url(care.case)))
    many_chart = count_queries(lambda: api.get(outcomes_url(care.case, "chart.png")))

    body = api.get(outcomes_url(care.case)).json()
    assert sum(len(s) for c in body["clients"] for s in c["measures"].values()) == 12
    assert (one, one_chart) == (many, many_chart)


# ---------------------------------------------------------------- the chart


def chart(api, case):
    response = api.get(outcomes_url(case, "chart.png"))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_the_chart_has_a_panel_for_each_of_the_practices_measures(call_as, care, practice_measures):
    api = call_as(care.clinician, ["clinical:read"])
    care.record(care.a, "phq9", 12, days_ago(20))
    one_panel = chart(api, care.case).size
    record(care, care.a, "couple_strain", [3, 3, 0, 2], 20)

    two_panels = chart(api, care.case).size
    record(care, care.b, "closeness", [3, 1, 2, 0], 15)
    three_panels = chart(api, care.case).size

    # each panel is 3.2 inches at 110 dpi, one under the other
    assert one_panel == (880, 352)
    assert two_panels == (880, 2 * 352)
    assert three_panels == (880, 3 * 352)


def test_the_chart_of_a_case_with_only_a_practice_measure_is_not_the_empty_chart(call_as, care, practice_measures):
    api = call_as(care.clinician, ["clinical:read"])
    empty = chart(api, care.case)
    record(care, care.b, "closeness", [3, 1, 2, 0], 15)

    drawn = chart(api, care.case)

    assert drawn.size == empty.size == (880, 352)
    second_partner = (0xD9, 0x82, 0x2B)
    assert second_partner in {colour for _, colour in drawn.convert("RGB").getcolors(maxcolors=1 << 24)}
    assert second_partner not in {colour for _, colour in empty.convert("RGB").getcolors(maxcolors=1 << 24)}


def test_a_panel_is_drawn_with_the_version_its_latest_score_was_scored_with(care, admin_user, practice_measures):
    record(care, care.a, "couple_strain", [3, 3, 0, 2], 20)
    record(care, care.a, "couple_strain", [2, 2, 2, 1], 10)
    renamed = copy.deepcopy(strain())
    renamed["bands"] = [
        {"low": 0, "high": 4, "label": "settled"},
        {"low": 5, "high": 9, "label": "strained"},
        {"low": 10, "high": 16, "label": "in crisis"},
    ]
    renamed["caseness"]["at_or_above"] = 10
    published.instrument_publish(definition=renamed, author=admin_user)

    # version 2 is current, but the latest score (day 10) was scored with version 1
    older = record(care, care.b, "couple_strain", [2, 1, 2, 2], 25)
    assert older.instrument_version.number == 2
    measure = case_outcomes(case=care.case).measures["couple_strain"]
    assert (measure.version, [b.label for b in measure.bands], measure.case_at_or_above) == (
        1,
        ["low", "moderate", "high"],
        11,
    )

    record(care, care.b, "couple_strain", [2, 1, 2, 2], 1)  # now the latest: version 2
    measure = case_outcomes(case=care.case).measures["couple_strain"]
    assert (measure.version, [b.label for b in measure.bands], measure.case_at_or_above) == (
        2,
        ["settled", "strained", "in crisis"],
        10,
    )


def test_band_shades_run_from_the_best_band_to_the_worst_as_the_built_in_ones_did():
    assert band_shades(5, LOWER_IS_BETTER) == ["#e8f5e9", "#fff8e1", "#ffe0b2", "#ffccbc", "#ffcdd2"]  # PHQ-9
    assert band_shades(4, LOWER_IS_BETTER) == ["#e8f5e9", "#fff8e1", "#ffe0b2", "#ffccbc"]  # GAD-7
    assert band_shades(2, HIGHER_IS_BETTER) == ["#ffcdd2", "#e8f5e9"]  # CSI-4
    assert band_shades(3, HIGHER_IS_BETTER) == ["#ffcdd2", "#ffe0b2", "#e8f5e9"]
    seven = band_shades(7, LOWER_IS_BETTER)
    assert (len(set(seven)), seven[0], seven[-1]) == (7, "#e8f5e9", "#ffcdd2")
    assert band_shades(7, HIGHER_IS_BETTER) == seven[::-1]


# ---------------------------------------------------------------- the outcomes report

NO_FIGURES = {
    "n_clients": 0,
    "mean_change": None,
    "reliably_improved_rate": None,
    "reliably_deteriorated_rate": None,
    "recovered_rate": None,
    "mean_change_adherence_at_least_0_7": None,
    "mean_change_adherence_below_0_7": None,
}


def test_the_outcomes_report_gives_the_figures_of_every_published_measure(call_as, care, practice_measures):
    """The scene's latest scores against each baseline (no homework, so no adherence split):

    couple strain: A -8 (improved; at caseness at baseline, recovered), B +5 (deteriorated; not a case at baseline)
    → 2 clients, mean change -1.5, improved 1/2, deteriorated 1/2, recovered 1/1.
    closeness: B -6 (deteriorated; 10 was not a case) → 1 client, mean -6, improved 0, deteriorated 1, no recovery
    rate. PHQ-9: A -7 (improved, recovered). GAD-7 and CSI-4: nobody."""
    scene(care)
    api = call_as(care.clinician, ["reports"])

    response = api.get(OUTCOMES_REPORT)

    assert response.status_code == 200, response.content
    body = response.json()
    (row,) = body["rows"]
    expected = {
        "phq9": {
            **NO_FIGURES,
            "n_clients": 1,
            "mean_change": -7.0,
            "reliably_improved_rate": 1.0,
            "reliably_deteriorated_rate": 0.0,
            "recovered_rate": 1.0,
        },
        "gad7": NO_FIGURES,
        "csi4": NO_FIGURES,
        "closeness": {
            **NO_FIGURES,
            "n_clients": 1,
            "mean_change": -6.0,
            "reliably_improved_rate": 0.0,
            "reliably_deteriorated_rate": 1.0,
        },
        "couple_strain": {
            **NO_FIGURES,
            "n_clients": 2,
            "mean_change": -1.5,
            "reliably_improved_rate": 0.5,
            "reliably_deteriorated_rate": 0.5,
            "recovered_rate": 1.0,
        },
    }
    assert row["clinician"] == str(care.clinician.pk)
    assert row["measures"] == expected
    assert list(row["measures"]) == [*BUILT_IN, "closeness", "couple_strain"]
    # `instruments` stays the built-in three, with the same figures
    assert row["instruments"] == {code: expected[code] for code in BUILT_IN}
    assert body["total"]["measures"] == expected

    table = list(csv.DictReader(io.StringIO(api.get(OUTCOMES_CSV).content.decode())))
    assert [line["measures_couple_strain_mean_change"] for line in table] == ["-1.5", "-1.5"]
    assert [line["measures_closeness_reliably_deteriorated_rate"] for line in table] == ["1.0", "1.0"]
    assert [line["measures_gad7_mean_change"] for line in table] == ["", ""]
    assert table[0]["instruments_phq9_mean_change"] == table[0]["measures_phq9_mean_change"] == "-7.0"


def test_a_published_measure_nobody_answered_is_in_the_report_without_figures(call_as, clinician, practice_measures):
    body = call_as(clinician, ["reports"]).get(OUTCOMES_REPORT).json()

    assert body["rows"][0]["measures"] == dict.fromkeys([*BUILT_IN, "closeness", "couple_strain"], NO_FIGURES)
    assert body["total"]["measures"] == body["rows"][0]["measures"]


def test_the_report_query_count_does_not_grow_with_cases_or_measures(call_as, clinician, admin_user, count_queries):
    api = call_as(clinician, ["reports"])
    published.instrument_publish(definition=strain(), author=admin_user)
    first = CoupleInCare(clinician)
    record(first, first.a, "couple_strain", [3, 3, 0, 2], 20)
    record(first, first.a, "couple_strain", [1, 1, 3, 1], 2)
    one = count_queries(lambda: api.get(OUTCOMES_REPORT))
    published.instrument_publish(definition=closeness(), author=admin_user)
    for _ in range(9):
        scene(CoupleInCare(clinician))

    many = count_queries(lambda: api.get(OUTCOMES_REPORT))

    row = api.get(OUTCOMES_REPORT).json()["rows"][0]
    figures = row["measures"]
    assert (row["cases"], figures["couple_strain"]["n_clients"], figures["closeness"]["n_clients"]) == (10, 19, 9)
    assert one == many
