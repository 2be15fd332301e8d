"""Valid answers to an exercise's response fields, for generated practices and the benchmark's submissions."""

import random
from datetime import date, timedelta

PHRASES = (
    "We talked after dinner without phones.",
    "I noticed I wanted to defend myself and listened instead.",
    "Thanked them for picking up the kids.",
    "Hard to start, easier once we did.",
    "We took a break when it got heated and came back to it.",
    "I told them something I had been holding back.",
)


def responses(fields: list[dict], rng: random.Random | None = None, *, on: date | None = None) -> dict:
    """One answer per field, within each field's rules (exercises/responses.py accepts every one)."""
    rng = rng or random.Random(0)
    on = on or date.today()
    answers = {}
    for field in fields:
        kind = field["type"]
        if kind in ("text", "long_text"):
            value = rng.choice(PHRASES)
        elif kind == "boolean":
            value = rng.random() < 0.7
        elif kind == "scale":
            value = rng.randint(field["min"], field["max"])
        elif kind == "single_choice":
            value = rng.choice(field["options"])
        elif kind == "multi_choice":
            value = rng.sample(field["options"], rng.randint(1, len(field["options"])))
        else:  # date
            value = (on - timedelta(days=rng.randint(0, 6))).isoformat()
        answers[field["key"]] = value
    return answers
