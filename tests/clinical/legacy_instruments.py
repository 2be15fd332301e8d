"""The old hard-coded scorers (clinical/instruments.py before the measures became data, commit cb69dab), kept
verbatim as the oracle the engine is held to (tests/clinical/test_instrument_engine.py). Not used by the product.

Standard outcome measures, as data: items, answer options, scoring, bands and the change rules.

- PHQ-9: Kroenke, Spitzer & Williams (2001), J Gen Intern Med 16(9):606-613. Public domain.
- GAD-7: Spitzer, Kroenke, Williams & Löwe (2006), Arch Intern Med 166(10):1092-1097. Public domain.
- CSI-4: Funk & Rogge (2007), J Fam Psychol 21(4):572-583. Free for research and clinical use.

Caseness and reliable-change thresholds for PHQ-9 and GAD-7 are those of NHS Talking Therapies (manual,
2024): caseness PHQ-9 >= 10, GAD-7 >= 8; reliable change 6 and 4 points. The CSI-4 uses its published distress
cut-off (< 13.5) and the Jacobson & Truax reliable change index with the SD and reliability in
docs/outcome-measures.md.
"""

import math
from dataclasses import dataclass

LOWER_IS_BETTER = "lower_is_better"
HIGHER_IS_BETTER = "higher_is_better"


@dataclass(frozen=True)
class Option:
    value: int
    label: str


@dataclass(frozen=True)
class Item:
    number: int
    text: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Band:
    low: int
    high: int
    label: str


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

    @property
    def min_total(self) -> int:
        return sum(min(o.value for o in item.options) for item in self.items)

    @property
    def max_total(self) -> int:
        return sum(max(o.value for o in item.options) for item in self.items)

    @property
    def cutoff(self) -> float:
        return self.case_at_or_above if self.case_at_or_above is not None else self.case_below


def _options(*labels: str) -> tuple[Option, ...]:
    return tuple(Option(value, label) for value, label in enumerate(labels))


FREQUENCY = _options("Not at all", "Several days", "More than half the days", "Nearly every day")

PHQ9 = Instrument(
    code="phq9",
    name="Patient Health Questionnaire (PHQ-9)",
    prompt="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    citation="Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity measure. "
    "J Gen Intern Med. 2001;16(9):606-613.",
    items=tuple(
        Item(number, text, FREQUENCY)
        for number, text in enumerate(
            [
                "Little interest or pleasure in doing things",
                "Feeling down, depressed, or hopeless",
                "Trouble falling or staying asleep, or sleeping too much",
                "Feeling tired or having little energy",
                "Poor appetite or overeating",
                "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
                "Trouble concentrating on things, such as reading the newspaper or watching television",
                "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
                "fidgety or restless that you have been moving around a lot more than usual",
                "Thoughts that you would be better off dead or of hurting yourself in some way",
            ],
            start=1,
        )
    ),
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately severe"),
        Band(20, 27, "severe"),
    ),
    direction=LOWER_IS_BETTER,
    case_at_or_above=10,
    case_below=None,
    reliable_change_points=6,
)

GAD7 = Instrument(
    code="gad7",
    name="Generalized Anxiety Disorder scale (GAD-7)",
    prompt="Over the last 2 weeks, how often have you been bothered by the following problems?",
    citation="Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing generalized anxiety "
    "disorder: the GAD-7. Arch Intern Med. 2006;166(10):1092-1097.",
    items=tuple(
        Item(number, text, FREQUENCY)
        for number, text in enumerate(
            [
                "Feeling nervous, anxious, or on edge",
                "Not being able to stop or control worrying",
                "Worrying too much about different things",
                "Trouble relaxing",
                "Being so restless that it is hard to sit still",
                "Becoming easily annoyed or irritable",
                "Feeling afraid as if something awful might happen",
            ],
            start=1,
        )
    ),
    bands=(Band(0, 4, "minimal"), Band(5, 9, "mild"), Band(10, 14, "moderate"), Band(15, 21, "severe")),
    direction=LOWER_IS_BETTER,
    case_at_or_above=8,
    case_below=None,
    reliable_change_points=4,
)

CSI4 = Instrument(
    code="csi4",
    name="Couples Satisfaction Index (CSI-4)",
    prompt="About your relationship with your partner:",
    citation="Funk JL, Rogge RD. Testing the ruler with item response theory: increasing precision of measurement "
    "for relationship satisfaction with the Couples Satisfaction Index. J Fam Psychol. 2007;21(4):572-583.",
    items=(
        Item(
            1,
            "Please indicate the degree of happiness, all things considered, of your relationship.",
            _options(
                "Extremely Unhappy",
                "Fairly Unhappy",
                "A Little Unhappy",
                "Happy",
                "Very Happy",
                "Extremely Happy",
                "Perfect",
            ),
        ),
        Item(
            2,
            "I have a warm and comfortable relationship with my partner.",
            _options(
                "Not at all true",
                "A little true",
                "Somewhat true",
                "Mostly true",
                "Almost completely true",
                "Completely true",
            ),
        ),
        Item(
            3,
            "How rewarding is your relationship with your partner?",
            _options("Not at all", "A little", "Somewhat", "Mostly", "Almost completely", "Completely"),
        ),
        Item(
            4,
            "In general, how satisfied are you with your relationship?",
            _options("Not at all", "A little", "Somewhat", "Mostly", "Almost completely", "Completely"),
        ),
    ),
    bands=(Band(0, 13, "distressed"), Band(14, 21, "not distressed")),
    direction=HIGHER_IS_BETTER,
    case_at_or_above=None,
    case_below=13.5,
    # The Jacobson & Truax parameters come from settings (CSI4_RELIABLE_CHANGE_SD, CSI4_RELIABLE_CHANGE_R): see
    # docs/outcome-measures.md. Until both are set, CSI-4 reliable change is reported as not available.
)

INSTRUMENTS = {instrument.code: instrument for instrument in (PHQ9, GAD7, CSI4)}
SAFETY_ITEM = ("phq9", 9)  # any answer above 0 to PHQ-9 item 9 raises an alert


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
    return sum(answers)


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
