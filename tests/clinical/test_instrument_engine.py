"""The measures engine (clinical/instruments.py) against the hard-coded scorers it replaced
(tests/clinical/legacy_instruments.py, kept verbatim): for thousands of random answer sets of PHQ-9, GAD-7 and CSI-4,
the same totals, bands, caseness, change, reliable change, recovery and safety alerts; with and without configured
Jacobson & Truax parameters for the CSI-4. Then what a definition must be, and a practice's own measure with
reverse-scored items and a subscale, scored by hand."""

from dataclasses import astuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinical import instruments
from tests.clinical import legacy_instruments as legacy

EXAMPLES = 1500  # per measure and test: 3 measures, 1,500 answer sets and 1,500 pairs each, in 2 configurations


def answer_sets(code):
    return st.tuples(*(st.sampled_from([o.value for o in item.options]) for item in legacy.INSTRUMENTS[code].items))


def legacy_alerts(code, answers):
    """The old service's rule (clinical/services/measures.py before the engine): PHQ-9 item 9 above 0."""
    measure, item = legacy.SAFETY_ITEM
    if code == measure and answers[item - 1] > 0:
        return [("phq9_item9", f"PHQ-9 item 9 (thoughts of self-harm) answered {answers[item - 1]} of 3.")]
    return []


CODES = ["phq9", "gad7", "csi4"]
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["unset", "configured"])
def csi4_parameters(request, settings):
    # Illustrative SD 4 and r 0.9 (tests/clinical/test_instruments.py), and none: CSI-4 reliable change unavailable.
    settings.RELIABLE_CHANGE_PARAMETERS = {"csi4": (4, 0.9)} if request.param == "configured" else {}


def test_the_definitions_describe_the_old_measures_word_for_word():
    assert list(instruments.INSTRUMENTS) == list(legacy.INSTRUMENTS)
    for code, old in legacy.INSTRUMENTS.items():
        new = instruments.INSTRUMENTS[code]
        for name in ("code", "name", "prompt", "citation", "direction", "case_at_or_above", "case_below"):
            assert getattr(new, name) == getattr(old, name), (code, name)
        assert [(i.number, i.text, [(o.value, o.label) for o in i.options]) for i in new.items] == [
            (i.number, i.text, [(o.value, o.label) for o in i.options]) for i in old.items
        ]
        assert [(b.low, b.high, b.label) for b in new.bands] == [(b.low, b.high, b.label) for b in old.bands]
        assert (new.min_total, new.max_total, new.cutoff) == (old.min_total, old.max_total, old.cutoff)
        assert (new.reliable_change_points, new.reliable_change_sd, new.reliable_change_r) == (
            old.reliable_change_points,
            old.reliable_change_sd,
            old.reliable_change_r,
        )
    assert instruments.SAFETY_ITEM == legacy.SAFETY_ITEM


@pytest.mark.parametrize("code", CODES)
def test_scores_bands_and_alerts_are_the_old_ones(code, csi4_parameters):
    old, new = legacy.INSTRUMENTS[code], instruments.INSTRUMENTS[code]

    @PROPERTY
    @given(answer_sets(code))
    def check(answers):
        answers = list(answers)
        assert instruments.answer_problems(new, answers) == legacy.answer_problems(old, answers) == []
        score = instruments.total(new, answers)
        assert score == legacy.total(old, answers)
        assert instruments.band(new, score) == legacy.band(old, score)
        assert instruments.is_case(new, score) == legacy.is_case(old, score)
        assert [(r.alert, r.detail) for r in instruments.risks(new, answers)] == legacy_alerts(code, answers)

    check()


@pytest.mark.parametrize("code", CODES)
def test_change_and_reliable_change_are_the_old_ones(code, csi4_parameters):
    old, new = legacy.INSTRUMENTS[code], instruments.INSTRUMENTS[code]

    @PROPERTY
    @given(answer_sets(code), answer_sets(code))
    def check(first, later):
        baseline, current = legacy.total(old, list(first)), legacy.total(old, list(later))
        assert astuple(instruments.change_from_baseline(new, baseline, current)) == astuple(
            legacy.change_from_baseline(old, baseline, current)
        )
        assert instruments.reliable_change_threshold(new) == legacy.reliable_change_threshold(old)

    check()


@pytest.mark.parametrize("code", CODES)
def test_wrong_answers_get_the_old_problems(code):
    old, new = legacy.INSTRUMENTS[code], instruments.INSTRUMENTS[code]

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.lists(st.one_of(st.integers(-2, 8), st.booleans(), st.text(max_size=2), st.none())), st.none()))
    def check(answers):
        assert instruments.answer_problems(new, answers) == legacy.answer_problems(old, answers)

    check()


# ---------------------------------------------------------------- a practice's own measure


def closeness():
    """A made-up four-item measure: items b and d reverse-scored, a subscale of a and b."""
    agree = [{"value": v, "label": label} for v, label in enumerate(["Never", "Sometimes", "Often", "Always"])]
    return {
        "code": "closeness",
        "name": "Closeness check-in",
        "prompt": "In the last week:",
        "citation": "Written by the practice, 2026.",
        "licence": "The practice's own.",
        "items": [
            {"key": "a", "text": "We talked about our day.", "options": agree},
            {"key": "b", "text": "I felt alone with a problem.", "options": agree, "reverse": True},
            {"key": "c", "text": "We laughed together.", "options": agree},
            {"key": "d", "text": "I held back what I felt.", "options": agree, "reverse": True},
        ],
        "subscales": [{"key": "connection", "name": "Connection", "items": ["a", "b"]}],
        "bands": [{"low": 0, "high": 5, "label": "distant"}, {"low": 6, "high": 12, "label": "close"}],
        "direction": "higher_is_better",
        "caseness": {"below": 6, "source": "The practice's clinical judgement."},
        "reliable_change": {"points": 3, "citation": "The practice's own rule, 2026."},
        "risk_rules": [
            {"item": "b", "at_or_above": 3, "alert": "isolation", "detail": "Item {item}: {answer} of {max}."}
        ],
    }


def test_a_practice_measure_scores_reverse_items_and_subscales_as_worked_by_hand():
    measure = instruments.from_definition(closeness())
    assert (measure.min_total, measure.max_total) == (0, 12)
    # answers a=3, b=1, c=2, d=0 → scored 3, 3-1=2, 2, 3-0=3 → total 10; connection = 3 + 2 = 5
    assert instruments.total(measure, [3, 1, 2, 0]) == 10
    assert instruments.subscale_totals(measure, [3, 1, 2, 0]) == {"connection": 5}
    assert instruments.band(measure, 10) == "close"
    # answers 0, 3, 0, 3 → scored 0, 0, 0, 0: distant, at caseness (below 6), and b=3 raises the alert
    assert instruments.total(measure, [0, 3, 0, 3]) == 0
    assert instruments.is_case(measure, 0)
    assert [(r.alert, r.detail) for r in instruments.risks(measure, [0, 3, 0, 3])] == [("isolation", "Item b: 3 of 3.")]
    assert instruments.risks(measure, [0, 2, 0, 3]) == []
    # from 4 to 10: +6 points, reliable (≥ 3) and better (higher is better); 4 was below 6, 10 is not: recovered
    assert instruments.change_from_baseline(measure, 4, 10) == instruments.Change(6, "improved", True, True)
    assert instruments.change_from_baseline(measure, 10, 8) == instruments.Change(-2, "none", False, False)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["items"].append(dict(d["items"][0])), "items.4.key"),  # a key used twice
        (lambda d: d["items"][0]["options"].append({"value": 101, "label": "Too much"}), "items.0.options.4.value"),
        (lambda d: d["items"][0]["options"].append({"value": 2, "label": "Again"}), "items.0.options.4.value"),
        (lambda d: d["bands"][1].update(low=7), "bands"),  # a gap at 6
        (lambda d: d["bands"][1].update(low=5), "bands"),  # 5 in both
        (lambda d: d["bands"][1].update(high=11), "bands"),  # 12 not covered
        (lambda d: d["reliable_change"].pop("citation"), "reliable_change"),
        (lambda d: d.update(reliable_change={"sd": 4, "reliability": 0.9}), "reliable_change"),
        (
            lambda d: d.update(reliable_change={"sd": 4, "reliability": 1.2, "citation": "x"}),
            "reliable_change.reliability",
        ),
        (lambda d: d["subscales"][0]["items"].append("z"), "subscales.0.items"),
        (lambda d: d["risk_rules"][0].update(item="z"), "risk_rules.0.item"),
        (lambda d: d["risk_rules"][0].update(item=["b"]), "risk_rules.0.item"),
        (lambda d: d["subscales"][0].update(items=[["a"]]), "subscales.0.items"),
        (lambda d: d["items"][0].update(key=["a"]), "items.0.key"),
        (lambda d: d["risk_rules"][0].update(at_or_above=0), "risk_rules.0.at_or_above"),
        (lambda d: d["risk_rules"][0].update(detail="{name}"), "risk_rules.0.detail"),
        (lambda d: d["risk_rules"][0].update(detail="{answer.__class__}"), "risk_rules.0.detail"),
        (lambda d: d["risk_rules"][0].update(detail="{answer:>999999999}"), "risk_rules.0.detail"),
        (lambda d: d["risk_rules"][0].update(detail="Item {item"), "risk_rules.0.detail"),
        (lambda d: d.update(caseness={"at_or_above": 6, "source": "x"}), "caseness"),  # wrong side for higher
        (lambda d: d.update(caseness={"below": 40, "source": "x"}), "caseness"),  # outside 0..12
        (lambda d: d.update(code="Closeness!"), "code"),
        (lambda d: d.update(colour="blue"), "colour"),
        # a reliable-change parameter needs its citation, whichever kind it is
        (
            lambda d: d.update(reliable_change={"sd": 4, "reliability": 0.9, "citation": " "}),
            "reliable_change.citation",
        ),
        (lambda d: d["reliable_change"].update(citation=None), "reliable_change.citation"),
        (lambda d: d.update(reliable_change={"sd": 4, "citation": "x"}), "reliable_change"),
        (lambda d: d["reliable_change"].update(points=0), "reliable_change.points"),
        (lambda d: d["reliable_change"].update(points=13), "reliable_change.points"),  # the range is 0 to 12
        # bands: gaps, overlaps and the ends of the range, whatever order they are listed in
        (lambda d: d["bands"].reverse() or d["bands"][0].update(low=7), "bands"),
        (lambda d: d["bands"].append({"low": 3, "high": 4, "label": "inside another"}), "bands"),
        (lambda d: d["bands"][0].update(low=1), "bands"),  # 0 not covered
        (lambda d: d["bands"][0].update(low=-1), "bands"),  # below the lowest total
        (lambda d: d["bands"][0].update(high=4), "bands"),  # a band ending before the next begins
        # option values: whole numbers 0 to 100, each once in its item
        (lambda d: d["items"][1]["options"][0].update(value=-1), "items.1.options.0.value"),
        (lambda d: d["items"][1]["options"][0].update(value=1.5), "items.1.options.0.value"),
        (lambda d: d["items"][1]["options"][0].update(value=True), "items.1.options.0.value"),
        (lambda d: d["items"][1]["options"][3].update(value=0), "items.1.options.3.value"),
        # unique keys, of items and of subscales
        (lambda d: d["items"][3].update(key="a"), "items.3.key"),
        (lambda d: d["subscales"].append(dict(d["subscales"][0])), "subscales.1.key"),
        # refused, not a TypeError or KeyError: a key that is not text, a cut-off when the direction is unknown
        (lambda d: d["subscales"][0].update(key={"a": 1}), "subscales.0.key"),
        (lambda d: d["subscales"][0].update(key=["a"]), "subscales.0.key"),
        (lambda d: d.update(direction="sideways"), "direction"),
        (lambda d: d.update(direction=None, caseness={"below": "six", "source": "x"}), "direction"),
        (lambda d: d.update(direction=["higher_is_better"], caseness={"at_or_above": 6, "source": "x"}), "direction"),
    ],
)
def test_a_definition_that_is_not_valid_says_where(change, where):
    definition = closeness()
    change(definition)
    problems = instruments.definition_problems(definition)
    assert where in problems, problems
    with pytest.raises(ValueError, match="not a valid measure"):
        instruments.from_definition(definition)


def test_the_built_in_and_the_practice_definitions_are_valid():
    for definition in [*instruments.builtin_definitions(), closeness()]:
        assert instruments.definition_problems(definition) == {}


# Any JSON value, to put anywhere in a definition.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


def places(value, path=()):
    """Every place in a definition: (path to its container, key or index)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield path, key
            yield from places(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield path, index
            yield from places(child, (*path, index))


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_whatever_a_definition_holds_it_is_judged_never_a_crash(data):
    """An admin's definition reaches definition_problems from the API: any value at any place (or a place removed)
    is a list of problems by where they are, or a valid measure; never an exception."""
    definition = closeness()
    for _ in range(data.draw(st.integers(1, 3))):
        path, key = data.draw(st.sampled_from(list(places(definition))))
        container = definition
        for step in path:
            container = container[step]
        if isinstance(container, dict) and data.draw(st.booleans()):
            del container[key]
        else:
            container[key] = data.draw(JSON)
    problems = instruments.definition_problems(definition)
    assert isinstance(problems, dict)
    assert all(isinstance(where, str) and messages for where, messages in problems.items())
    if not problems:
        instruments.from_definition(definition)
