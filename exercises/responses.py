"""The response-field format of an exercise, and the one validator that checks a client's answers against it.

A field is a dict: `key` (identifier), `label`, `type`, `required` (default true), and by type:
- `text` (one line, ≤ 500 characters), `long_text` (≤ 10,000), `boolean`, `date` (ISO 8601 date);
- `scale`: integer `min` < `max`, optional `min_label` / `max_label`;
- `single_choice` / `multi_choice`: `options`, a list of distinct non-empty strings.
"""

import re
from datetime import date

FIELD_TYPES = ("text", "long_text", "scale", "boolean", "single_choice", "multi_choice", "date")
FREE_TEXT_TYPES = ("text", "long_text")
TEXT_LIMITS = {"text": 500, "long_text": 10_000}
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
# Attributes that only some types take, and which.
TYPE_ONLY_ATTRIBUTES = {
    "min": ("scale",),
    "max": ("scale",),
    "min_label": ("scale",),
    "max_label": ("scale",),
    "options": ("single_choice", "multi_choice"),
}


def definition_problems(fields) -> dict[str, list[str]]:
    """Problems with a list of field definitions, by `fields.<index>` (empty when the list is valid)."""
    if not isinstance(fields, list) or not fields:
        return {"response_fields": ["A non-empty list of fields."]}
    problems: dict[str, list[str]] = {}
    seen = set()
    for index, field in enumerate(fields):
        where = f"response_fields.{index}"
        mine = []
        if not isinstance(field, dict):
            problems[where] = ["Each field is an object with key, label, type."]
            continue
        unknown = set(field) - {"key", "label", "type", "required", "min", "max", "min_label", "max_label", "options"}
        if unknown:
            mine.append(f"Unknown attributes: {', '.join(sorted(unknown))}.")
        key = field.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            mine.append("`key` is lower-case letters, digits and underscores, starting with a letter (≤ 40).")
        elif key in seen:
            mine.append(f"`key` {key!r} is used twice.")
        else:
            seen.add(key)
        if not isinstance(field.get("label"), str) or not field["label"].strip():
            mine.append("`label` is the question the client sees.")
        if not isinstance(field.get("required", True), bool):
            mine.append("`required` is true or false.")
        kind = field.get("type")
        misplaced = sorted(a for a in field if a in TYPE_ONLY_ATTRIBUTES and kind not in TYPE_ONLY_ATTRIBUTES[a])
        if kind in FIELD_TYPES and misplaced:
            mine.append(f"A {kind} field has no {', '.join(misplaced)}.")
        for label in ("min_label", "max_label"):
            if label in field and (not isinstance(field[label], str) or not field[label].strip()):
                mine.append(f"`{label}` is a short text.")
        if kind not in FIELD_TYPES:
            mine.append(f"`type` is one of {', '.join(FIELD_TYPES)}.")
        elif kind == "scale":
            low, high = field.get("min"), field.get("max")
            if not (type(low) is int and type(high) is int and low < high):
                mine.append("A scale needs whole numbers `min` < `max`.")
        elif kind in ("single_choice", "multi_choice"):
            options = field.get("options")
            if (
                not isinstance(options, list)
                or len(options) < 2
                or not all(isinstance(o, str) and o.strip() for o in options)
                or len(set(options)) != len(options)
            ):
                mine.append("A choice needs `options`: at least two distinct, non-empty texts.")
        if mine:
            problems[where] = mine
    return problems


def response_problems(fields: list[dict], responses) -> dict[str, list[str]]:
    """Every problem with a client's answers, by field key (empty when the answers are valid)."""
    if not isinstance(responses, dict):
        return {"responses": ["An object with one entry per field key."]}
    problems: dict[str, list[str]] = {}
    known = {field["key"] for field in fields}
    for key in sorted(set(responses) - known):
        problems[key] = ["This exercise has no such field."]
    for field in fields:
        key, value = field["key"], responses.get(field["key"])
        if value is None or value == [] or (isinstance(value, str) and not value.strip()):
            if field.get("required", True):
                problems[key] = ["This answer is required."]
            continue
        problem = _value_problem(field, value)
        if problem:
            problems[key] = [problem]
    return problems


def _value_problem(field: dict, value) -> str | None:
    kind = field["type"]
    if kind in FREE_TEXT_TYPES:
        if not isinstance(value, str):
            return "Text expected."
        if len(value) > TEXT_LIMITS[kind]:
            return f"At most {TEXT_LIMITS[kind]} characters."
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else "true or false expected."
    if kind == "scale":
        if type(value) is not int or not field["min"] <= value <= field["max"]:
            return f"A whole number from {field['min']} to {field['max']}."
        return None
    if kind == "single_choice":
        return None if value in field["options"] else f"One of: {', '.join(field['options'])}."
    if kind == "multi_choice":
        if (
            not isinstance(value, list)
            or not all(v in field["options"] for v in value)
            or len(set(value)) != len(value)
        ):
            return f"A list of distinct options from: {', '.join(field['options'])}."
        return None
    if kind == "date":
        try:
            if not (isinstance(value, str) and DATE_PATTERN.fullmatch(value)):
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            return "A date as YYYY-MM-DD."
        return None
    return "Unknown field type."
