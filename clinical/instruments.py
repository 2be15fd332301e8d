"""Outcome measures as data, and the one engine that scores them.

A measure is a definition (clinical/instrument_definitions.yaml for the built-in PHQ-9, GAD-7 and CSI-4; the same
format for a practice's own): items with their answer options, reverse-scored items, subscales, bands over the
total, direction, caseness cut-off, reliable-change rule (a point threshold, or SD and reliability for Jacobson &
Truax, each with its citation) and risk rules (an item answer that raises a safety alert of a named kind).
`definition_problems` says what is wrong with one; `from_definition` reads a valid one; the functions below score
answers against any of them. Nothing here knows a measure by name.

- PHQ-9: Kroenke, Spitzer & Williams (2001), J Gen Intern Med 16(9):606-613. Public domain.
- GAD-7: Spitzer, Kroenke, Williams & Löwe (2006), Arch Intern Med 166(10):1092-1097. Public domain.
- CSI-4: Funk & Rogge (2007), J Fam Psychol 21(4):572-583. Free for research and clinical use.

Caseness and reliable-change thresholds for PHQ-9 and GAD-7 are those of NHS Talking Therapies (manual,
2024): caseness PHQ-9 >= 10, GAD-7 >= 8; reliable change 6 and 4 points. The CSI-4 uses its published distress
cut-off (< 13.5) and the Jacobson & Truax reliable change index once SD and reliability are known
(docs/outcome-measures.md).
"""

import functools
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

LOWER_IS_BETTER = "lower_is_better"
HIGHER_IS_BETTER = "higher_is_better"
DIRECTIONS = (LOWER_IS_BETTER, HIGHER_IS_BETTER)
DEFINITIONS_FILE = Path(__file__).with_name("instrument_definitions.yaml")

CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")  # a measure's code, also used in URLs and as a FHIR code
KEY = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")  # an item's or subscale's key
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
PLACEHOLDERS = ("{answer}", "{max}", "{item}")  # what a risk rule's detail may name (filled in by `risks`)
MAX_ITEMS = 200
MAX_OPTION_VALUE = 100


@dataclass(frozen=True)
class Option:
    value: int
    label: str


@dataclass(frozen=True)
class Item:
    number: int  # its place, from 1
    text: str
    options: tuple[Option, ...]
    key: str = ""
    reverse: bool = False

    @property
    def low(self) -> int:
        return min(o.value for o in self.options)

    @property
    def high(self) -> int:
        return max(o.value for o in self.options)

    def scored(self, answer: int) -> int:
        """The answer as it counts: a reverse-scored item counts from the other end of its options."""
        return self.low + self.high - answer if self.reverse else answer


@dataclass(frozen=True)
class Band:
    low: int
    high: int
    label: str


@dataclass(frozen=True)
class Subscale:
    key: str
    name: str
    items: tuple[str, ...]  # item keys


@dataclass(frozen=True)
class RiskRule:
    """An answer to `item` at or above `at_or_above` raises a safety alert of kind `alert`; `detail` may name
    {answer}, {max} and {item}."""

    item: str
    at_or_above: int
    alert: str
    detail: str


@dataclass(frozen=True)
class Risk:
    alert: str
    detail: str


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str
    prompt: str
    citation: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    direction: str
    # Caseness: at or above `case_at_or_above` (lower is better), or below `case_below` (higher is better).
    case_at_or_above: float | None
    case_below: float | None
    # Reliable change: a fixed number of points, or the Jacobson & Truax index from SD and reliability.
    reliable_change_points: int | None = None
    reliable_change_sd: float | None = None
    reliable_change_r: float | None = None
    reliable_change_source: str = ""
    caseness_source: str = ""
    licence: str = ""
    source: str = ""
    subscales: tuple[Subscale, ...] = ()
    risk_rules: tuple[RiskRule, ...] = ()
    definition: dict = field(default_factory=dict, compare=False, repr=False)  # as published
    version: int | None = None  # its version's number, once published (measure_of)

    @property
    def min_total(self) -> int:
        return sum(item.low for item in self.items)

    @property
    def max_total(self) -> int:
        return sum(item.high for item in self.items)

    @property
    def cutoff(self) -> float:
        return self.case_at_or_above if self.case_at_or_above is not None else self.case_below

    def item(self, key: str) -> Item:
        return next(item for item in self.items if item.key == key)


# ---------------------------------------------------------------- definitions


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(errors: dict, where: str, value, *, required=True, limit=2000) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        errors.setdefault(where, []).append("Text, not empty.")
    elif len(value) > limit:
        errors.setdefault(where, []).append(f"At most {limit} characters.")


def definition_problems(definition) -> dict[str, list[str]]:
    """Every problem with a measure's definition, by where it is (`items.2.options`, `bands`, ...); empty when
    valid: unique item keys, whole option values from 0 to 100 unique within an item, bands covering the range of
    the total without gap or overlap, a caseness cut-off inside that range, a citation for any reliable-change
    parameters, subscales and risk rules naming items that exist."""
    if not isinstance(definition, dict):
        return {"definition": ["An object."]}
    errors: dict[str, list[str]] = {}
    known = {
        "code",
        "name",
        "prompt",
        "citation",
        "licence",
        "source",
        "items",
        "subscales",
        "bands",
        "direction",
        "caseness",
        "reliable_change",
        "risk_rules",
    }
    for unknown in sorted(set(definition) - known):
        errors.setdefault(unknown, []).append("Not a field of a measure.")
    code = definition.get("code")
    if not isinstance(code, str) or not CODE.match(code):
        errors["code"] = ["2 to 32 lowercase letters, digits or underscores, starting with a letter."]
    _text(errors, "name", definition.get("name"), limit=200)
    _text(errors, "prompt", definition.get("prompt"), limit=1000)
    _text(errors, "citation", definition.get("citation"))
    _text(errors, "licence", definition.get("licence"), limit=500)
    _text(errors, "source", definition.get("source"), required=False, limit=500)

    items = definition.get("items")
    ranges: dict[str, tuple[int, int]] = {}
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        errors["items"] = [f"A list of 1 to {MAX_ITEMS} items."]
        items = []
    for index, item in enumerate(items):
        where = f"items.{index}"
        if not isinstance(item, dict):
            errors[where] = ["An object with key, text and options."]
            continue
        for unknown in sorted(set(item) - {"key", "text", "options", "reverse"}):
            errors.setdefault(f"{where}.{unknown}", []).append("Not a field of an item.")
        key = item.get("key")
        if not isinstance(key, str) or not KEY.match(key):
            errors[f"{where}.key"] = ["1 to 32 letters, digits, '.', '_' or '-'."]
        elif key in ranges:
            errors[f"{where}.key"] = [f"Item key {key!r} is used twice."]
        _text(errors, f"{where}.text", item.get("text"))
        if not isinstance(item.get("reverse", False), bool):
            errors[f"{where}.reverse"] = ["true or false."]
        options = item.get("options")
        if not isinstance(options, list) or len(options) < 2:
            errors[f"{where}.options"] = ["At least two options."]
            continue
        values = []
        for number, option in enumerate(options):
            spot = f"{where}.options.{number}"
            if not isinstance(option, dict) or set(option) != {"value", "label"}:
                errors[spot] = ["An object with value and label."]
                continue
            value = option["value"]
            if type(value) is not int or not 0 <= value <= MAX_OPTION_VALUE:
                errors[f"{spot}.value"] = [f"A whole number from 0 to {MAX_OPTION_VALUE}."]
            elif value in values:
                errors[f"{spot}.value"] = [f"Value {value} is used twice in this item."]
            else:
                values.append(value)
            _text(errors, f"{spot}.label", option["label"], limit=200)
        if len(values) == len(options) and isinstance(key, str):
            ranges[key] = (min(values), max(values))
    complete = bool(items) and len(ranges) == len(items)
    low = sum(r[0] for r in ranges.values())
    high = sum(r[1] for r in ranges.values())

    subscales = definition.get("subscales", [])
    if not isinstance(subscales, list):
        errors["subscales"] = ["A list."]
        subscales = []
    seen = set()
    for index, subscale in enumerate(subscales):
        where = f"subscales.{index}"
        if not isinstance(subscale, dict) or set(subscale) != {"key", "name", "items"}:
            errors[where] = ["An object with key, name and items."]
            continue
        if not isinstance(subscale["key"], str) or not KEY.match(subscale["key"]) or subscale["key"] in seen:
            errors[f"{where}.key"] = ["A key of its own: 1 to 32 letters, digits, '.', '_' or '-'."]
        else:
            seen.add(subscale["key"])
        _text(errors, f"{where}.name", subscale["name"], limit=200)
        members = subscale["items"]
        if (
            not isinstance(members, list)
            or not members
            or not all(isinstance(member, str) for member in members)
            or len(set(members)) != len(members)
        ):
            errors[f"{where}.items"] = ["A list of item keys, each once."]
        elif complete and any(member not in ranges for member in members):
            errors[f"{where}.items"] = [f"Items of this measure: {', '.join(ranges)}."]

    bands = definition.get("bands")
    if not isinstance(bands, list) or not bands:
        errors["bands"] = ["A list of bands (low, high, label) covering the range of the total."]
    elif not all(
        isinstance(b, dict) and set(b) == {"low", "high", "label"} and type(b["low"]) is int and type(b["high"]) is int
        for b in bands
    ):
        errors["bands"] = ["Each band: whole numbers low and high, and a label."]
    else:
        for index, band_ in enumerate(bands):
            _text(errors, f"bands.{index}.label", band_["label"], limit=100)
        ordered = sorted(bands, key=lambda b: b["low"])
        if any(b["low"] > b["high"] for b in ordered):
            errors["bands"] = ["Each band's low is at most its high."]
        elif any(a["high"] + 1 != b["low"] for a, b in itertools.pairwise(ordered)):
            errors["bands"] = ["Bands follow one another without gap or overlap."]
        elif complete and (ordered[0]["low"] != low or ordered[-1]["high"] != high):
            errors["bands"] = [f"Bands cover the range of the total, {low} to {high}."]

    direction = definition.get("direction")
    if direction not in DIRECTIONS:
        errors["direction"] = [f"One of: {', '.join(DIRECTIONS)}."]
    caseness = definition.get("caseness")
    expected = "at_or_above" if direction == LOWER_IS_BETTER else "below"
    if not isinstance(caseness, dict) or set(caseness) - {"at_or_above", "below", "source"} or "source" not in caseness:
        errors["caseness"] = ["An object: at_or_above (lower is better) or below (higher is better), and source."]
    elif direction not in DIRECTIONS:
        # Which side the cut-off is on follows from the direction; only its source can be checked without it.
        _text(errors, "caseness.source", caseness["source"])
    elif set(caseness) - {"source"} != {expected} or not _number(caseness[expected]):
        errors["caseness"] = [f"A number `{expected}` for a measure where {direction.replace('_', ' ')}."]
    elif complete and not low <= caseness[expected] <= high + (1 if expected == "below" else 0):
        errors["caseness"] = [f"A cut-off within the range of the total, {low} to {high}."]
    else:
        _text(errors, "caseness.source", caseness["source"])

    change = definition.get("reliable_change")
    if change is not None:
        if not isinstance(change, dict) or "citation" not in change:
            errors["reliable_change"] = [
                "An object with points, or sd and reliability, and the citation they come from."
            ]
        elif set(change) - {"citation"} == {"points"}:
            points = change["points"]
            if type(points) is not int or points < 1 or (complete and points > max(high - low, 1)):
                errors["reliable_change.points"] = ["A whole number of points, at least 1, within the range."]
        elif set(change) - {"citation"} == {"sd", "reliability"}:
            if not _number(change["sd"]) or change["sd"] <= 0:
                errors["reliable_change.sd"] = ["A standard deviation above 0."]
            if not _number(change["reliability"]) or not 0 < change["reliability"] < 1:
                errors["reliable_change.reliability"] = ["A reliability between 0 and 1."]
        else:
            errors["reliable_change"] = ["Either points, or sd and reliability (Jacobson & Truax); with citation."]
        if isinstance(change, dict) and "citation" in change:
            _text(errors, "reliable_change.citation", change["citation"])

    rules = definition.get("risk_rules", [])
    if not isinstance(rules, list):
        errors["risk_rules"] = ["A list."]
        rules = []
    for index, rule in enumerate(rules):
        where = f"risk_rules.{index}"
        if not isinstance(rule, dict) or set(rule) != {"item", "at_or_above", "alert", "detail"}:
            errors[where] = ["An object with item, at_or_above, alert and detail."]
            continue
        if not isinstance(rule["item"], str) or (complete and rule["item"] not in ranges):
            errors[f"{where}.item"] = [f"An item of this measure: {', '.join(ranges)}."]
        elif complete and (
            type(rule["at_or_above"]) is not int
            or not ranges[rule["item"]][0] < rule["at_or_above"] <= ranges[rule["item"]][1]
        ):
            errors[f"{where}.at_or_above"] = ["A whole number above the item's lowest option, at most its highest."]
        if not isinstance(rule["alert"], str) or not CODE.match(rule["alert"]):
            errors[f"{where}.alert"] = ["The alert's kind: 2 to 32 lowercase letters, digits or underscores."]
        _text(errors, f"{where}.detail", rule["detail"], limit=300)
        if isinstance(rule["detail"], str):
            named = PLACEHOLDER.findall(rule["detail"])
            braces = rule["detail"].count("{") + rule["detail"].count("}")
            if not set(named) <= set(PLACEHOLDERS) or braces != 2 * len(named):
                errors[f"{where}.detail"] = ["Text that may name {answer}, {max} and {item}, nothing else."]
    return errors


def from_definition(definition: dict) -> Instrument:
    """The measure a valid definition describes (ValueError, naming the problems, if it is not valid)."""
    problems = definition_problems(definition)
    if problems:
        raise ValueError(f"not a valid measure: {problems}")
    caseness = definition["caseness"]
    change = definition.get("reliable_change") or {}
    return Instrument(
        code=definition["code"],
        name=definition["name"],
        prompt=definition["prompt"],
        citation=definition["citation"],
        licence=definition["licence"],
        source=definition.get("source") or "",
        items=tuple(
            Item(
                number,
                item["text"],
                tuple(Option(o["value"], o["label"]) for o in item["options"]),
                key=item["key"],
                reverse=item.get("reverse", False),
            )
            for number, item in enumerate(definition["items"], start=1)
        ),
        subscales=tuple(Subscale(s["key"], s["name"], tuple(s["items"])) for s in definition.get("subscales", [])),
        bands=tuple(Band(b["low"], b["high"], b["label"]) for b in sorted(definition["bands"], key=lambda b: b["low"])),
        direction=definition["direction"],
        case_at_or_above=caseness.get("at_or_above"),
        case_below=caseness.get("below"),
        caseness_source=caseness["source"],
        reliable_change_points=change.get("points"),
        reliable_change_sd=change.get("sd"),
        reliable_change_r=change.get("reliability"),
        reliable_change_source=change.get("citation", ""),
        risk_rules=tuple(
            RiskRule(r["item"], r["at_or_above"], r["alert"], r["detail"]) for r in definition.get("risk_rules", [])
        ),
        definition=definition,
    )


_PUBLISHED: dict = {}  # a published version's id -> its measure: versions are immutable (a trigger refuses UPDATE)


def measure_of(version) -> Instrument:
    """The measure a published version (clinical.models.InstrumentVersion) defines, parsed once per process."""
    measure = _PUBLISHED.get(version.pk)
    if measure is None:
        measure = _PUBLISHED[version.pk] = replace(from_definition(version.definition), version=version.number)
    return measure


def content_hash(definition: dict) -> str:
    """The same for the same definition however its keys are ordered: a changed definition is a new version."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@functools.cache
def builtin_definitions(path: Path = DEFINITIONS_FILE) -> list[dict]:
    """The built-in definitions as the file gives them, read once per process (not to be changed by callers)."""
    with path.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


INSTRUMENTS = {instrument.code: instrument for instrument in map(from_definition, builtin_definitions())}
PHQ9, GAD7, CSI4 = INSTRUMENTS["phq9"], INSTRUMENTS["gad7"], INSTRUMENTS["csi4"]
# The built-in risk rule as (measure, item number): PHQ-9 item 9. What the generated practice (bench/generate.py)
# writes its alerts from; the services read every measure's risk rules (`risks`).
SAFETY_ITEM = next(
    (instrument.code, instrument.item(rule.item).number)
    for instrument in INSTRUMENTS.values()
    for rule in instrument.risk_rules
)


# ---------------------------------------------------------------- scoring


def answer_problems(instrument: Instrument, answers) -> list[str]:
    """Every problem with a list of answers (one per item, in item order), empty when valid."""
    if not isinstance(answers, list):
        return ["A list with one answer per item, in item order."]
    problems = []
    if len(answers) != len(instrument.items):
        problems.append(f"{instrument.name} has {len(instrument.items)} items; {len(answers)} answers given.")
    for item, answer in zip(instrument.items, answers, strict=False):
        allowed = [o.value for o in item.options]
        if type(answer) is not int or answer not in allowed:
            problems.append(f"Item {item.number}: a whole number from {allowed[0]} to {allowed[-1]}.")
    return problems


def total(instrument: Instrument, answers: list[int]) -> int:
    """The sum of every item as it counts (reverse-scored items from the other end)."""
    return sum(item.scored(answer) for item, answer in zip(instrument.items, answers, strict=True))


def subscale_totals(instrument: Instrument, answers: list[int]) -> dict[str, int]:
    by_key = {item.key: item.scored(answer) for item, answer in zip(instrument.items, answers, strict=True)}
    return {subscale.key: sum(by_key[key] for key in subscale.items) for subscale in instrument.subscales}


def risks(instrument: Instrument, answers: list[int]) -> list[Risk]:
    """The safety alerts these answers raise: one per risk rule whose item was answered at or above its value."""
    raised = []
    for rule in instrument.risk_rules:
        item = instrument.item(rule.item)
        answer = answers[item.number - 1]
        if answer >= rule.at_or_above:
            detail = rule.detail.replace("{answer}", str(answer)).replace("{max}", str(item.high))
            raised.append(Risk(rule.alert, detail.replace("{item}", item.key)))
    return raised


def band(instrument: Instrument, score: int) -> str:
    return next(b.label for b in instrument.bands if b.low <= score <= b.high)


def is_case(instrument: Instrument, score: float) -> bool:
    if instrument.case_at_or_above is not None:
        return score >= instrument.case_at_or_above
    return score < instrument.case_below


def jacobson_truax_parameters(instrument: Instrument) -> tuple[float, float] | None:
    """(SD, reliability) for the reliable change index, from the instrument or the settings; None if unknown."""
    if instrument.reliable_change_sd is not None and instrument.reliable_change_r is not None:
        return instrument.reliable_change_sd, instrument.reliable_change_r
    from django.conf import settings

    configured = getattr(settings, "RELIABLE_CHANGE_PARAMETERS", {}).get(instrument.code)
    return tuple(configured) if configured else None


def reliable_change_index(baseline: float, current: float, *, sd: float, reliability: float) -> float:
    """Jacobson & Truax (1991): RC = (x2 - x1) / sqrt(2·SE²), SE = SD·sqrt(1 - r)."""
    standard_error = sd * math.sqrt(1 - reliability)
    return (current - baseline) / math.sqrt(2 * standard_error**2)


def reliable_change_threshold(instrument: Instrument) -> float | None:
    """The smallest change (in points) that counts as reliable; None when the parameters are unknown."""
    if instrument.reliable_change_points is not None:
        return instrument.reliable_change_points
    parameters = jacobson_truax_parameters(instrument)
    if parameters is None:
        return None
    sd, reliability = parameters
    return 1.96 * math.sqrt(2) * sd * math.sqrt(1 - reliability)


@dataclass(frozen=True)
class Change:
    change: int  # current - baseline, in the instrument's own units (sign as scored)
    reliable_change: str  # improved | deteriorated | none | "" (not available)
    recovered: bool  # caseness at baseline, none now
    clinically_significant: bool | None  # reliably improved and recovered (Jacobson & Truax); None if unknown


def change_from_baseline(instrument: Instrument, baseline: int, current: int) -> Change:
    """Change against the client's baseline. `improved` means better in the instrument's direction: fewer
    symptoms for PHQ-9 and GAD-7, more satisfaction for CSI-4."""
    raw = current - baseline
    better = -raw if instrument.direction == LOWER_IS_BETTER else raw
    recovered = is_case(instrument, baseline) and not is_case(instrument, current)
    if instrument.reliable_change_points is not None:
        reliable = abs(raw) >= instrument.reliable_change_points
    else:
        parameters = jacobson_truax_parameters(instrument)
        if parameters is None:
            return Change(raw, "", recovered, None)
        sd, reliability = parameters
        reliable = abs(reliable_change_index(baseline, current, sd=sd, reliability=reliability)) > 1.96
    status = "none" if not reliable else ("improved" if better > 0 else "deteriorated")
    return Change(raw, status, recovered, status == "improved" and recovered)


def gas_t_score(scores: list[int], weights: list[float] | None = None, rho: float = 0.3) -> float | None:
    """Goal Attainment Scaling T-score (Kiresuk & Sherman, 1968):
    T = 50 + 10·Σ(w·x) / √((1 - rho)·Σw² + rho·(Σw)²); with equal weights, 50 + 10·Σx / √(0.7n + 0.3n²)."""
    if not scores:
        return None
    weights = weights or [1.0] * len(scores)
    numerator = 10 * sum(w * x for w, x in zip(weights, scores, strict=True))
    denominator = math.sqrt((1 - rho) * sum(w * w for w in weights) + rho * sum(weights) ** 2)
    return round(50 + numerator / denominator, 2)
