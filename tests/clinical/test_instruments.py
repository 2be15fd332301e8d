"""The standard measures as data, their scoring, bands, caseness, reliable change, recovery and GAS T-scores
(clinical.instruments), against the published values and numbers worked out by hand.

Every expected value is a literal, with the arithmetic that gives it in a comment; none is obtained by calling the
function under test.
"""

import math

import pytest

from clinical.instruments import (
    CSI4,
    GAD7,
    HIGHER_IS_BETTER,
    INSTRUMENTS,
    LOWER_IS_BETTER,
    PHQ9,
    SAFETY_ITEM,
    Change,
    answer_problems,
    band,
    change_from_baseline,
    gas_t_score,
    is_case,
    jacobson_truax_parameters,
    reliable_change_index,
    reliable_change_threshold,
    total,
)

FREQUENCY_LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]

# Jacobson & Truax parameters used for the CSI-4 below (illustrative, not a published value):
#   SD = 4, r = 0.9 → SE = 4·√(1 - 0.9) = 4·√0.1 = 4 * 0.316228 = 1.264911
#   S_diff = √(2·SE²) = SE·√2 = 1.264911 * 1.414214 = 1.788854
#   threshold = 1.96 * S_diff = 3.506155 points: a change of 4 is reliable (RC = 4 / 1.788854 = 2.236 > 1.96),
#   a change of 3 is not (RC = 3 / 1.788854 = 1.677).
CSI4_SD, CSI4_R = 4, 0.9


@pytest.fixture
def csi4_parameters(settings):
    settings.RELIABLE_CHANGE_PARAMETERS = {"csi4": (CSI4_SD, CSI4_R)}


# ---------------------------------------------------------------- the instruments as data


def test_the_catalogue_holds_exactly_the_three_instruments():
    assert list(INSTRUMENTS) == ["phq9", "gad7", "csi4"]
    assert INSTRUMENTS["phq9"] is PHQ9
    assert INSTRUMENTS["gad7"] is GAD7
    assert INSTRUMENTS["csi4"] is CSI4
    assert SAFETY_ITEM == ("phq9", 9)


def test_phq9_has_nine_items_scored_0_to_3_with_the_standard_labels():
    assert [item.number for item in PHQ9.items] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    for item in PHQ9.items:
        assert [o.value for o in item.options] == [0, 1, 2, 3]
        assert [o.label for o in item.options] == FREQUENCY_LABELS
    assert (PHQ9.min_total, PHQ9.max_total) == (0, 27)  # 9 * 3 = 27
    assert PHQ9.direction == LOWER_IS_BETTER
    assert PHQ9.items[0].text == "Little interest or pleasure in doing things"
    assert PHQ9.items[8].text.startswith("Thoughts that you would be better off dead")


def test_gad7_has_seven_items_scored_0_to_3_with_the_standard_labels():
    assert [item.number for item in GAD7.items] == [1, 2, 3, 4, 5, 6, 7]
    for item in GAD7.items:
        assert [o.value for o in item.options] == [0, 1, 2, 3]
        assert [o.label for o in item.options] == FREQUENCY_LABELS
    assert (GAD7.min_total, GAD7.max_total) == (0, 21)  # 7 * 3 = 21
    assert GAD7.direction == LOWER_IS_BETTER
    assert GAD7.items[0].text == "Feeling nervous, anxious, or on edge"


def test_csi4_item_1_is_scored_0_to_6_and_items_2_to_4_0_to_5():
    assert [item.number for item in CSI4.items] == [1, 2, 3, 4]
    first, *rest = CSI4.items
    assert [o.value for o in first.options] == [0, 1, 2, 3, 4, 5, 6]
    assert [o.label for o in first.options] == [
        "Extremely Unhappy",
        "Fairly Unhappy",
        "A Little Unhappy",
        "Happy",
        "Very Happy",
        "Extremely Happy",
        "Perfect",
    ]
    for item in rest:
        assert [o.value for o in item.options] == [0, 1, 2, 3, 4, 5]
        assert len({o.label for o in item.options}) == 6
    assert (CSI4.min_total, CSI4.max_total) == (0, 21)  # 6 + 5 + 5 + 5 = 21
    assert CSI4.direction == HIGHER_IS_BETTER


@pytest.mark.parametrize("instrument", [PHQ9, GAD7, CSI4], ids=lambda i: i.code)
def test_every_item_and_option_has_text(instrument):
    assert instrument.name.strip()
    assert instrument.prompt.strip()
    for item in instrument.items:
        assert item.text.strip()
        assert item.text == item.text.strip()
        assert all(option.label.strip() for option in item.options)
    texts = [item.text for item in instrument.items]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize(
    ("instrument", "authors", "year"),
    [
        (PHQ9, ["Kroenke", "Spitzer", "Williams"], "2001"),
        (GAD7, ["Spitzer", "Kroenke", "Williams", "Löwe"], "2006"),
        (CSI4, ["Funk", "Rogge"], "2007"),
    ],
    ids=["phq9", "gad7", "csi4"],
)
def test_citations(instrument, authors, year):
    for author in authors:
        assert author in instrument.citation
    assert year in instrument.citation


@pytest.mark.parametrize(
    ("instrument", "answers", "score"),
    [
        (PHQ9, [0] * 9, 0),
        (PHQ9, [3] * 9, 27),
        (PHQ9, [1, 2, 3, 0, 1, 2, 3, 0, 1], 13),  # 1+2+3+0+1+2+3+0+1
        (GAD7, [3] * 7, 21),
        (GAD7, [2, 1, 0, 3, 2, 1, 0], 9),
        (CSI4, [6, 5, 5, 5], 21),
        (CSI4, [3, 2, 4, 1], 10),
    ],
)
def test_total_is_the_sum_of_the_answers(instrument, answers, score):
    assert total(instrument, answers) == score


# ---------------------------------------------------------------- bands at every boundary


@pytest.mark.parametrize(
    ("score", "label"),
    [
        # Kroenke, Spitzer & Williams (2001): 0-4, 5-9, 10-14, 15-19, 20-27
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(score, label):
    assert band(PHQ9, score) == label


@pytest.mark.parametrize(
    ("score", "label"),
    [
        # Spitzer et al. (2006): 0-4, 5-9, 10-14, 15-21
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands(score, label):
    assert band(GAD7, score) == label


@pytest.mark.parametrize(
    ("score", "label"),
    [
        # Funk & Rogge (2007): below 13.5 indicates relationship distress
        (0, "distressed"),
        (13, "distressed"),
        (14, "not distressed"),
        (21, "not distressed"),
    ],
)
def test_csi4_bands(score, label):
    assert band(CSI4, score) == label


@pytest.mark.parametrize("instrument", [PHQ9, GAD7, CSI4], ids=lambda i: i.code)
def test_bands_cover_every_possible_total_exactly_once(instrument):
    for score in range(instrument.min_total, instrument.max_total + 1):
        assert sum(b.low <= score <= b.high for b in instrument.bands) == 1, score
    assert instrument.bands[0].low == instrument.min_total
    assert instrument.bands[-1].high == instrument.max_total


# ---------------------------------------------------------------- caseness


@pytest.mark.parametrize(
    ("instrument", "score", "case"),
    [
        (PHQ9, 0, False),
        (PHQ9, 9, False),  # NHS Talking Therapies: PHQ-9 caseness at 10 and above
        (PHQ9, 10, True),
        (PHQ9, 27, True),
        (GAD7, 0, False),
        (GAD7, 7, False),  # GAD-7 caseness at 8 and above
        (GAD7, 8, True),
        (GAD7, 21, True),
        (CSI4, 0, True),
        (CSI4, 13, True),  # CSI-4: distress below 13.5
        (CSI4, 14, False),
        (CSI4, 21, False),
    ],
)
def test_caseness_at_the_boundaries(instrument, score, case):
    assert is_case(instrument, score) is case


def test_cutoffs():
    assert PHQ9.cutoff == 10
    assert GAD7.cutoff == 8
    assert CSI4.cutoff == 13.5


# ---------------------------------------------------------------- reliable change, PHQ-9 and GAD-7 (fixed points)


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        # PHQ-9: a change of 6 points or more is reliable (lower is better).
        (15, 9, Change(-6, "improved", True, True)),  # -6: reliable; 15 is a case, 9 is not → recovered
        (15, 10, Change(-5, "none", False, False)),  # -5: not reliable; 10 still a case
        (4, 10, Change(6, "deteriorated", False, False)),  # +6: reliable, worse
        (4, 9, Change(5, "none", False, False)),  # +5: not reliable
        (27, 0, Change(-27, "improved", True, True)),
        (0, 27, Change(27, "deteriorated", False, False)),
        (12, 12, Change(0, "none", False, False)),
    ],
)
def test_phq9_reliable_change(baseline, current, expected):
    assert change_from_baseline(PHQ9, baseline, current) == expected


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        # GAD-7: a change of 4 points or more is reliable (lower is better).
        (12, 8, Change(-4, "improved", False, False)),  # -4: reliable; 8 is still a case
        (12, 9, Change(-3, "none", False, False)),  # -3: not reliable
        (3, 7, Change(4, "deteriorated", False, False)),  # +4: reliable, worse
        (3, 6, Change(3, "none", False, False)),  # +3: not reliable
    ],
)
def test_gad7_reliable_change(baseline, current, expected):
    assert change_from_baseline(GAD7, baseline, current) == expected


def test_phq9_and_gad7_thresholds_are_fixed_points():
    assert reliable_change_threshold(PHQ9) == 6
    assert reliable_change_threshold(GAD7) == 4


# ---------------------------------------------------------------- reliable change, CSI-4 (Jacobson & Truax)


@pytest.mark.usefixtures("csi4_parameters")
@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        # Higher is better. Threshold 3.506 points with SD 4, r 0.9 (see the top of this file).
        (15, 19, Change(4, "improved", False, False)),  # RC = 4 / 1.788854 = 2.236 > 1.96; 15 was not distressed
        (15, 18, Change(3, "none", False, False)),  # RC = 1.677
        (19, 15, Change(-4, "deteriorated", False, False)),  # RC = -2.236
        (18, 15, Change(-3, "none", False, False)),
        (10, 14, Change(4, "improved", True, True)),  # distressed → not: recovered, and reliably so
        (12, 15, Change(3, "none", True, False)),  # recovered but not reliable
        (14, 10, Change(-4, "deteriorated", False, False)),  # worsening into distress is not recovery
    ],
)
def test_csi4_reliable_change_with_parameters(baseline, current, expected):
    assert change_from_baseline(CSI4, baseline, current) == expected


@pytest.mark.usefixtures("csi4_parameters")
def test_csi4_parameters_come_from_the_settings():
    assert jacobson_truax_parameters(CSI4) == (4, 0.9)
    # 1.96 * √2 * 4 * √0.1 = 1.96 * 1.788854 = 3.506155
    assert reliable_change_threshold(CSI4) == pytest.approx(3.506155, abs=1e-6)


@pytest.mark.usefixtures("no_csi4_parameters")
@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (10, 15, Change(5, "", True, None)),  # recovered still known; reliable change and significance are not
        (15, 10, Change(-5, "", False, None)),
        (16, 20, Change(4, "", False, None)),
        (12, 13, Change(1, "", False, None)),  # 13 is still distressed
    ],
)
def test_csi4_without_parameters_reports_no_reliable_change(baseline, current, expected):
    assert jacobson_truax_parameters(CSI4) is None
    assert reliable_change_threshold(CSI4) is None
    assert change_from_baseline(CSI4, baseline, current) == expected


@pytest.mark.usefixtures("no_csi4_parameters")
def test_phq9_and_gad7_need_no_parameters():
    assert jacobson_truax_parameters(PHQ9) is None
    assert change_from_baseline(PHQ9, 16, 8) == Change(-8, "improved", True, True)
    assert change_from_baseline(GAD7, 16, 8) == Change(-8, "improved", False, False)  # 8 is still a GAD-7 case


# ---------------------------------------------------------------- recovery and clinical significance


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (12, 5, Change(-7, "improved", True, True)),  # case → not, reliably: clinically significant
        (12, 9, Change(-3, "none", True, False)),  # case → not, but only 3 points: recovered, not significant
        (9, 3, Change(-6, "improved", False, False)),  # reliably better, but 9 was never a case
        (10, 4, Change(-6, "improved", True, True)),  # 10 is a case (boundary)
        (10, 9, Change(-1, "none", True, False)),
        (5, 12, Change(7, "deteriorated", False, False)),  # worsening into caseness is not recovery
        (12, 20, Change(8, "deteriorated", False, False)),  # a case staying a case
        (12, 6, Change(-6, "improved", True, True)),
    ],
)
def test_phq9_recovery(baseline, current, expected):
    assert change_from_baseline(PHQ9, baseline, current) == expected


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (10, 5, Change(-5, "improved", True, True)),
        (9, 7, Change(-2, "none", True, False)),  # 8 is the cut-off: 9 a case, 7 not
        (8, 7, Change(-1, "none", True, False)),  # boundary
        (7, 3, Change(-4, "improved", False, False)),  # 7 was never a case
        (4, 9, Change(5, "deteriorated", False, False)),
        (11, 8, Change(-3, "none", False, False)),  # 8 is still a case
    ],
)
def test_gad7_recovery(baseline, current, expected):
    assert change_from_baseline(GAD7, baseline, current) == expected


@pytest.mark.usefixtures("csi4_parameters")
@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (10, 15, Change(5, "improved", True, True)),  # RC = 5 / 1.788854 = 2.795 > 1.96
        (13, 14, Change(1, "none", True, False)),  # boundary: 13 distressed, 14 not
        (14, 20, Change(6, "improved", False, False)),  # not distressed at baseline
        (15, 10, Change(-5, "deteriorated", False, False)),
        (5, 13, Change(8, "improved", False, False)),  # still distressed at 13
    ],
)
def test_csi4_recovery(baseline, current, expected):
    assert change_from_baseline(CSI4, baseline, current) == expected


# ---------------------------------------------------------------- the formulas


@pytest.mark.parametrize(
    ("baseline", "current", "sd", "r", "rc"),
    [
        # SD 4, r 0.9: S_diff = 1.788854
        (10, 14, 4, 0.9, 2.236068),  # 4 / 1.788854
        (10, 15, 4, 0.9, 2.795085),  # 5 / 1.788854
        (14, 10, 4, 0.9, -2.236068),
        (10, 13, 4, 0.9, 1.677051),  # 3 / 1.788854
        # SD 7.5, r 0.94: SE = 7.5·√0.06 = 7.5 * 0.244949 = 1.837117; S_diff = 1.837117 * √2 = 2.598076
        (20, 14, 7.5, 0.94, -2.309401),  # -6 / 2.598076
        # SD 1, r 0.5: SE = √0.5 = 0.707107; S_diff = √(2 * 0.5) = 1
        (3, 5, 1, 0.5, 2.0),
        (5, 5, 4, 0.9, 0.0),
    ],
)
def test_reliable_change_index(baseline, current, sd, r, rc):
    assert reliable_change_index(baseline, current, sd=sd, reliability=r) == pytest.approx(rc, abs=1e-6)


@pytest.mark.parametrize(
    ("sd", "r", "threshold"),
    [
        (4, 0.9, 3.506155),  # 1.96 * 1.788854
        (7.5, 0.94, 5.092229),  # 1.96 * 2.598076
        (1, 0.5, 1.96),  # 1.96 * 1
    ],
)
def test_reliable_change_threshold_from_parameters(settings, sd, r, threshold):
    settings.RELIABLE_CHANGE_PARAMETERS = {"csi4": (sd, r)}
    assert reliable_change_threshold(CSI4) == pytest.approx(threshold, abs=1e-6)
    # The threshold and the index agree: a change just above the threshold is reliable, just below is not.
    assert abs(reliable_change_index(0, threshold + 0.001, sd=sd, reliability=r)) > 1.96
    assert abs(reliable_change_index(0, threshold - 0.001, sd=sd, reliability=r)) < 1.96


# ---------------------------------------------------------------- answer validation


def test_valid_answers_have_no_problems():
    assert answer_problems(PHQ9, [0, 1, 2, 3, 0, 1, 2, 3, 0]) == []
    assert answer_problems(GAD7, [3] * 7) == []
    assert answer_problems(CSI4, [6, 5, 5, 5]) == []
    assert answer_problems(CSI4, [0, 0, 0, 0]) == []


@pytest.mark.parametrize(
    ("instrument", "answers", "problems"),
    [
        (PHQ9, [0] * 8, ["Patient Health Questionnaire (PHQ-9) has 9 items; 8 answers given."]),
        (PHQ9, [0] * 10, ["Patient Health Questionnaire (PHQ-9) has 9 items; 10 answers given."]),
        (PHQ9, [], ["Patient Health Questionnaire (PHQ-9) has 9 items; 0 answers given."]),
        (GAD7, [1] * 9, ["Generalized Anxiety Disorder scale (GAD-7) has 7 items; 9 answers given."]),
        (CSI4, [3, 3, 3], ["Couples Satisfaction Index (CSI-4) has 4 items; 3 answers given."]),
    ],
)
def test_wrong_number_of_answers(instrument, answers, problems):
    assert answer_problems(instrument, answers) == problems


@pytest.mark.parametrize(
    ("instrument", "answers", "problems"),
    [
        (PHQ9, [0] * 8 + [4], ["Item 9: a whole number from 0 to 3."]),
        (PHQ9, [-1] + [0] * 8, ["Item 1: a whole number from 0 to 3."]),
        (GAD7, [0, 0, 7, 0, 0, 0, -2], ["Item 3: a whole number from 0 to 3.", "Item 7: a whole number from 0 to 3."]),
        (CSI4, [7, 5, 5, 5], ["Item 1: a whole number from 0 to 6."]),
        (CSI4, [6, 6, 5, 5], ["Item 2: a whole number from 0 to 5."]),  # 6 is valid for item 1 only
        (CSI4, [6, 5, 5, 6], ["Item 4: a whole number from 0 to 5."]),
    ],
)
def test_out_of_range_answers(instrument, answers, problems):
    assert answer_problems(instrument, answers) == problems


@pytest.mark.parametrize(
    ("answers", "problems"),
    [
        ([1.0, 0, 0, 0, 0, 0, 0, 0, 0], ["Item 1: a whole number from 0 to 3."]),
        ([0, 1.5, 0, 0, 0, 0, 0, 0, 0], ["Item 2: a whole number from 0 to 3."]),
        ([0, 0, "1", 0, 0, 0, 0, 0, 0], ["Item 3: a whole number from 0 to 3."]),
        ([0, 0, 0, None, 0, 0, 0, 0, 0], ["Item 4: a whole number from 0 to 3."]),
        ([0, 0, 0, 0, [1], 0, 0, 0, 0], ["Item 5: a whole number from 0 to 3."]),
        # A boolean is not an answer, although True == 1 and False == 0 in Python.
        ([0, 0, 0, 0, 0, True, 0, 0, 0], ["Item 6: a whole number from 0 to 3."]),
        ([False, 0, 0, 0, 0, 0, 0, 0, 0], ["Item 1: a whole number from 0 to 3."]),
    ],
)
def test_non_integer_answers(answers, problems):
    assert answer_problems(PHQ9, answers) == problems


@pytest.mark.parametrize("answers", [(0,) * 9, "000000000", {"1": 0}, None, 9, range(9)])
def test_answers_must_be_a_list(answers):
    assert answer_problems(PHQ9, answers) == ["A list with one answer per item, in item order."]


def test_wrong_count_and_bad_values_are_both_reported():
    assert answer_problems(GAD7, [0, 5, 0]) == [
        "Generalized Anxiety Disorder scale (GAD-7) has 7 items; 3 answers given.",
        "Item 2: a whole number from 0 to 3.",
    ]


# ---------------------------------------------------------------- Goal Attainment Scaling


@pytest.mark.parametrize(
    ("scores", "t"),
    [
        # Kiresuk & Sherman, rho = 0.3, equal weights: T = 50 + 10·Σx / √(0.7n + 0.3n²)
        ([1], 60.0),  # n = 1: √(0.7 + 0.3) = 1 → 50 + 10 = 60
        ([0], 50.0),  # Σx = 0
        ([-1], 40.0),  # 50 - 10
        ([2], 70.0),
        ([-2], 30.0),
        ([1, 1], 62.40),  # n = 2: √(1.4 + 1.2) = √2.6 = 1.612452; 20 / 1.612452 = 12.4035
        ([1, -1], 50.0),  # Σx = 0
        ([1, 0], 56.20),  # 10 / 1.612452 = 6.2017
        ([-2, -2], 25.19),  # -40 / 1.612452 = -24.8069
        ([-1, 0, 2], 54.56),  # n = 3: √(2.1 + 2.7) = √4.8 = 2.190890; Σx = 1 → 10 / 2.190890 = 4.5644
        ([0, 0, 0], 50.0),
        ([2, 2, 2, 2, 2], 80.15),  # n = 5: √(3.5 + 7.5) = √11 = 3.316625; 100 / 3.316625 = 30.1511
    ],
)
def test_gas_t_equal_weights(scores, t):
    assert gas_t_score(scores) == t


def test_gas_t_weighted():
    # General formula: T = 50 + 10·Σ(w·x) / √((1 - rho)·Σw² + rho·(Σw)²)
    # scores 1, -1 with weights 2, 1: Σwx = 2 - 1 = 1; Σw² = 4 + 1 = 5; (Σw)² = 9
    #   √(0.7 * 5 + 0.3 * 9) = √(3.5 + 2.7) = √6.2 = 2.489980 → 50 + 10 / 2.489980 = 50 + 4.0161 = 54.02
    assert gas_t_score([1, -1], weights=[2, 1]) == 54.02
    # scores 2, 0, -1 with weights 3, 2, 1: Σwx = 6 + 0 - 1 = 5; Σw² = 9 + 4 + 1 = 14; (Σw)² = 36
    #   √(0.7 * 14 + 0.3 * 36) = √(9.8 + 10.8) = √20.6 = 4.538722 → 50 + 50 / 4.538722 = 50 + 11.0163 = 61.02
    assert gas_t_score([2, 0, -1], weights=[3, 2, 1]) == 61.02
    # Equal weights of any size give the equal-weights result: weights 2, 2 on +1, +1 → 40 / √(0.7·8 + 0.3·16)
    #   = 40 / √10.4 = 40 / 3.224903 = 12.4035 → 62.40, as with weights 1, 1
    assert gas_t_score([1, 1], weights=[2, 2]) == 62.40


def test_gas_t_with_another_rho():
    # rho = 0.5, one goal: √(0.5 + 0.5) = 1 → 60; rho = 0, two goals at +1: 20 / √2 = 14.1421 → 64.14
    assert gas_t_score([1], rho=0.5) == 60.0
    assert gas_t_score([1, 1], rho=0) == 64.14


def test_gas_t_of_nothing_is_none():
    assert gas_t_score([]) is None
    assert gas_t_score([], weights=[]) is None


def test_gas_t_rounds_to_two_places():
    value = gas_t_score([1, 1])
    assert value == round(value, 2)
    assert not math.isclose(value, 62.40347345892084, abs_tol=1e-6)  # rounded, not the raw 62.4035
