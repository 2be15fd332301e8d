"""The response-field format of an exercise, and the one validator that checks a client's answers against it.

A field is a dict: `key` (identifier), `label`, `type`, `required` (default true), and by type:
- `text` (one line, ≤ 500 characters), `long_text` (≤ 10,000), `boolean`, `date` (ISO 8601 date);
- `scale`: integer `min` < `max`, optional `min_label` / `max_label`;
- `single_choice` / `multi_choice`: `options`, a list of distinct non-empty strings.

Each type is declared once, below, as JSON Schema (the subset OpenAPI 3.0 speaks): the attributes a field of that
type has, and what an answer to such a field is. The contract publishes these schemas (one per type, a union
discriminated by `type`), and `response_problems` checks every answer against the same schema.
"""

import re
from functools import cache

from jsonschema import Draft4Validator, FormatChecker

FIELD_TYPES = ("text", "long_text", "scale", "boolean", "single_choice", "multi_choice", "date")
FREE_TEXT_TYPES = ("text", "long_text")
TEXT_LIMITS = {"text": 500, "long_text": 10_000}
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")

# Text a person typed: no control characters but tab and line breaks (a NUL truncates text in many clients).
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
SHORT_TEXT = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"}
OPTIONS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
    "minItems": 2,
    "uniqueItems": True,
    "description": "The choices, in the order the client sees them.",
}
# Every field's own attributes.
COMMON_ATTRIBUTES = {
    "key": {
        "type": "string",
        "pattern": f"^{KEY_PATTERN.pattern}$",
        "description": "Names the answer in a submission's `responses`.",
    },
    "label": {
        "type": "string",
        "minLength": 1,
        "maxLength": 300,
        "pattern": "\\S",
        "description": "The question the client sees.",
    },
    "required": {"type": "boolean", "default": True, "description": "Whether the client must answer it."},
}
# By type: its own attributes (JSON Schema), which of them it needs, what it asks, and what an answer is.
TYPE_ATTRIBUTES = {
    "text": ({}, ()),
    "long_text": ({}, ()),
    "scale": (
        {
            "min": {"type": "integer", "description": "The lowest value; below `max`."},
            "max": {"type": "integer", "description": "The highest value."},
            "min_label": {**SHORT_TEXT, "description": "What the lowest value means."},
            "max_label": {**SHORT_TEXT, "description": "What the highest value means."},
        },
        ("min", "max"),
    ),
    "boolean": ({}, ()),
    "single_choice": ({"options": OPTIONS}, ("options",)),
    "multi_choice": ({"options": OPTIONS}, ("options",)),
    "date": ({}, ()),
}
TYPE_DESCRIPTIONS = {
    "text": "One line of text (at most 500 characters).",
    "long_text": "Free text (at most 10,000 characters).",
    "scale": "A whole number from `min` to `max`.",
    "boolean": "Yes or no.",
    "single_choice": "One of `options`.",
    "multi_choice": "Any of `options`, each at most once.",
    "date": "A calendar date, YYYY-MM-DD.",
}


def definition_schema(kind: str) -> dict:
    """The JSON Schema of a field of this type: what the contract publishes for it."""
    attributes, required = TYPE_ATTRIBUTES[kind]
    return {
        "type": "object",
        "description": TYPE_DESCRIPTIONS[kind],
        "properties": {
            "key": COMMON_ATTRIBUTES["key"],
            "label": COMMON_ATTRIBUTES["label"],
            "type": {"type": "string", "enum": [kind]},
            "required": COMMON_ATTRIBUTES["required"],
            **attributes,
        },
        "required": ["key", "label", "type", *required],
        "additionalProperties": False,
    }


def answer_schema(field: dict) -> dict:
    """The JSON Schema of a valid answer to this field (its bounds and options included)."""
    kind = field["type"]
    if kind in FREE_TEXT_TYPES:
        return {"type": "string", "maxLength": TEXT_LIMITS[kind], "pattern": NO_CONTROL_CHARACTERS}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "scale":
        return {"type": "integer", "minimum": field["min"], "maximum": field["max"]}
    if kind == "single_choice":
        return {"type": "string", "enum": list(field["options"])}
    if kind == "multi_choice":
        return {"type": "array", "items": {"type": "string", "enum": list(field["options"])}, "uniqueItems": True}
    return {"type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"}


# Any answer, whatever the field: what the contract says a submission's `responses` values are.
ANY_ANSWER = {
    "oneOf": [
        {"type": "string"},
        {"type": "integer"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string"}},
    ],
    "description": "By the field's type: text, long_text, single_choice and date a string; scale an integer; "
    "boolean a boolean; multi_choice a list of strings.",
}
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
    """The answer checked against its field's answer schema; a sentence for the client when it fails."""
    if not _answer_validator(_frozen(answer_schema(field))).is_valid(value):
        return _answer_message(field, value)
    return None


def _answer_message(field: dict, value) -> str:
    kind = field["type"]
    if kind in FREE_TEXT_TYPES:
        if not isinstance(value, str):
            return "Text expected."
        if len(value) > TEXT_LIMITS[kind]:
            return f"At most {TEXT_LIMITS[kind]} characters."
        return "Control characters are not allowed (tabs and line breaks are)."
    if kind == "boolean":
        return "true or false expected."
    if kind == "scale":
        return f"A whole number from {field['min']} to {field['max']}."
    if kind == "single_choice":
        return f"One of: {', '.join(field['options'])}."
    if kind == "multi_choice":
        return f"A list of distinct options from: {', '.join(field['options'])}."
    return "A date as YYYY-MM-DD."


def _frozen(schema):
    """A hashable form of a schema, so that each field's validator is built once per process."""
    if isinstance(schema, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in schema.items()))
    if isinstance(schema, list):
        return ("__list__", *(_frozen(v) for v in schema))
    return schema


def _thawed(frozen):
    if isinstance(frozen, tuple) and frozen[:1] == ("__list__",):
        return [_thawed(v) for v in frozen[1:]]
    if isinstance(frozen, tuple):
        return {k: _thawed(v) for k, v in frozen}
    return frozen


@cache
def _answer_validator(frozen_schema) -> Draft4Validator:
    # Draft 4, as OpenAPI 3.0 reads its schemas: 5.0 is not an integer, true is not a number.
    return Draft4Validator(_thawed(frozen_schema), format_checker=FormatChecker())
