"""The response-field format (`definition_problems`) and the one validator of a client's answers
(`response_problems`): pure functions, no database."""

import pytest

from exercises.responses import FIELD_TYPES, definition_problems, response_problems

# One valid definition of every field type, optional attributes included.
EVERY_TYPE = [
    {"key": "one_line", "label": "In one line", "type": "text"},
    {"key": "story", "label": "Tell it", "type": "long_text", "required": False},
    {"key": "closeness", "label": "How close?", "type": "scale", "min": 1, "max": 10, "min_label": "Far"},
    {"key": "said_it", "label": "Did you say it?", "type": "boolean", "required": True},
    {"key": "mood", "label": "Mood", "type": "single_choice", "options": ["calm", "tense"]},
    {"key": "moments", "label": "When", "type": "multi_choice", "options": ["morning", "evening", "night"]},
    {"key": "when", "label": "On which day?", "type": "date"},
]


def field(**overrides):
    """A valid text field with some attributes replaced (None removes the attribute)."""
    base = {"key": "answer", "label": "Your answer", "type": "text"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


# ---------------------------------------------------------------- definitions


def test_every_field_type_is_a_valid_definition():
    assert {f["type"] for f in EVERY_TYPE} == set(FIELD_TYPES)
    assert definition_problems(EVERY_TYPE) == {}


@pytest.mark.parametrize("kind", FIELD_TYPES)
def test_each_field_type_alone_is_valid(kind):
    extra = {"scale": {"min": 0, "max": 1}, "single_choice": {"options": ["a", "b"]}}
    extra["multi_choice"] = extra["single_choice"]
    assert definition_problems([field(type=kind, **extra.get(kind, {}))]) == {}


def test_a_negative_scale_range_is_valid():
    assert definition_problems([field(type="scale", min=-3, max=3)]) == {}


@pytest.mark.parametrize("fields", [None, [], {}, "text", {"key": "a", "label": "A", "type": "text"}])
def test_the_definition_is_a_non_empty_list(fields):
    assert definition_problems(fields) == {"response_fields": ["A non-empty list of fields."]}


@pytest.mark.parametrize("item", ["text", 3, None, ["key", "label"]])
def test_each_field_is_an_object(item):
    problems = definition_problems([field(), item])
    assert problems == {"response_fields.1": ["Each field is an object with key, label, type."]}


@pytest.mark.parametrize(
    "key",
    [
        "Closeness",  # upper case
        "1st_answer",  # starts with a digit
        "_answer",  # starts with an underscore
        "went-well",  # hyphen
        "went well",  # space
        "",
        "a" * 41,  # too long
        "answer\n",  # `$` alone would let a trailing newline through
        None,  # missing
        42,
        True,
    ],
)
def test_a_bad_key_is_named_by_its_index(key):
    problems = definition_problems([field(key="fine"), field(key=key)])
    assert list(problems) == ["response_fields.1"]
    assert len(problems["response_fields.1"]) == 1
    assert "`key`" in problems["response_fields.1"][0]


@pytest.mark.parametrize("key", [["answer"], {"name": "answer"}])
def test_a_key_of_the_wrong_json_type_is_a_problem_not_a_crash(key):
    # A catalog entry or a stored definition is JSON: a list or an object in `key` must be reported, not raise.
    problems = definition_problems([field(key=key)])
    assert list(problems) == ["response_fields.0"]
    assert "`key`" in problems["response_fields.0"][0]


def test_the_longest_key_is_forty_characters():
    assert definition_problems([field(key="a" * 40)]) == {}


def test_a_duplicate_key_is_named_at_its_second_use():
    fields = [field(key="went_well"), field(key="other"), field(key="went_well", type="long_text")]
    assert definition_problems(fields) == {"response_fields.2": ["`key` 'went_well' is used twice."]}


@pytest.mark.parametrize("label", [None, "", "   ", 7, ["A label"]])
def test_a_field_needs_a_label(label):
    assert definition_problems([field(label=label)]) == {
        "response_fields.0": ["`label` is the question the client sees."]
    }


@pytest.mark.parametrize("kind", [None, "number", "Text", "choice", "", 3])
def test_an_unknown_type_is_named(kind):
    problems = definition_problems([field(), field(key="second", type=kind)])
    assert problems == {"response_fields.1": [f"`type` is one of {', '.join(FIELD_TYPES)}."]}


@pytest.mark.parametrize(
    "bounds",
    [
        {},  # neither
        {"min": 1},
        {"max": 10},
        {"min": 5, "max": 5},  # min == max
        {"min": 10, "max": 1},  # min > max
        {"min": 1.0, "max": 10},  # not whole numbers
        {"min": 1, "max": 10.5},
        {"min": "1", "max": "10"},
        {"min": False, "max": True},  # booleans are not numbers here
    ],
)
def test_a_scale_needs_whole_numbers_min_below_max(bounds):
    assert definition_problems([field(type="scale", **bounds)]) == {
        "response_fields.0": ["A scale needs whole numbers `min` < `max`."]
    }


@pytest.mark.parametrize("kind", ["single_choice", "multi_choice"])
@pytest.mark.parametrize(
    "options",
    [
        None,  # missing
        [],
        ["only one"],
        ["same", "same"],  # two, but not distinct
        ["a", ""],  # an empty option
        ["a", "   "],  # a blank option
        ["a", 2],  # not a text
        "a, b",  # not a list
    ],
)
def test_a_choice_needs_two_distinct_non_empty_options(kind, options):
    assert definition_problems([field(type=kind, options=options)]) == {
        "response_fields.0": ["A choice needs `options`: at least two distinct, non-empty texts."]
    }


def test_unknown_attributes_are_named():
    problems = definition_problems([field(placeholder="…", default="x")])
    assert problems == {"response_fields.0": ["Unknown attributes: default, placeholder."]}


@pytest.mark.parametrize("required", ["yes", 1, 0, None, "false"])
def test_required_is_a_boolean(required):
    item = field()
    item["required"] = required  # an explicit null is not "absent"
    assert definition_problems([item]) == {"response_fields.0": ["`required` is true or false."]}


def test_every_problem_of_every_field_is_reported_at_once():
    fields = [
        field(key="ok"),
        {"key": "Bad", "type": "scale", "min": 3, "max": 1, "colour": "red"},  # four problems in one field
        field(key="ok", type="single_choice", options=["x"]),  # duplicate key and one option
        "not a field",
        field(key="fine_again", type="date"),
    ]
    problems = definition_problems(fields)

    assert set(problems) == {"response_fields.1", "response_fields.2", "response_fields.3"}
    assert problems["response_fields.1"] == [
        "Unknown attributes: colour.",
        "`key` is lower-case letters, digits and underscores, starting with a letter (≤ 40).",
        "`label` is the question the client sees.",
        "A scale needs whole numbers `min` < `max`.",
    ]
    assert problems["response_fields.2"] == [
        "`key` 'ok' is used twice.",
        "A choice needs `options`: at least two distinct, non-empty texts.",
    ]
    assert problems["response_fields.3"] == ["Each field is an object with key, label, type."]


# ---------------------------------------------------------------- responses

VALID = {
    "one_line": "We talked after dinner.",
    "story": "A longer account.",
    "closeness": 7,
    "said_it": False,
    "mood": "calm",
    "moments": ["evening", "morning"],
    "when": "2026-03-14",
}


def test_a_complete_valid_response_has_no_problems():
    assert response_problems(EVERY_TYPE, VALID) == {}


def test_a_response_with_only_the_required_answers_is_valid():
    required_only = {k: v for k, v in VALID.items() if k != "story"}
    assert response_problems(EVERY_TYPE, required_only) == {}


def only(kind: str, **attrs) -> list[dict]:
    """A one-field exercise of that type, key `a`."""
    defaults = {
        "scale": {"min": 1, "max": 10},
        "single_choice": {"options": ["calm", "tense"]},
        "multi_choice": {"options": ["morning", "evening", "night"]},
    }
    return [{"key": "a", "label": "A", "type": kind, **defaults.get(kind, {}), **attrs}]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("text", "x"),
        ("text", "x" * 500),
        ("text", "ünïcödé ✓ " * 50),  # 500 characters, more bytes
        ("long_text", "x" * 10_000),
        ("long_text", "line one\nline two"),
        ("scale", 1),
        ("scale", 10),
        ("scale", 5),
        ("boolean", True),
        ("boolean", False),
        ("single_choice", "tense"),
        ("multi_choice", ["night"]),
        ("multi_choice", ["morning", "evening", "night"]),
        ("date", "2026-02-28"),
        ("date", "2024-02-29"),
    ],
)
def test_valid_values_of_every_type(kind, value):
    assert response_problems(only(kind), {"a": value}) == {}


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("text", 12, "Text expected."),
        ("text", ["words"], "Text expected."),
        ("text", True, "Text expected."),
        ("text", "x" * 501, "At most 500 characters."),
        ("text", "ünïcödé ✓ " * 50 + "!", "At most 500 characters."),
        ("long_text", {"text": "x"}, "Text expected."),
        ("long_text", "x" * 10_001, "At most 10000 characters."),
        ("scale", 0, "A whole number from 1 to 10."),
        ("scale", 11, "A whole number from 1 to 10."),
        ("scale", -1, "A whole number from 1 to 10."),
        ("scale", 5.0, "A whole number from 1 to 10."),
        ("scale", 5.5, "A whole number from 1 to 10."),
        ("scale", "5", "A whole number from 1 to 10."),
        ("scale", True, "A whole number from 1 to 10."),  # bool is an int subclass, not an answer on a scale
        ("boolean", "true", "true or false expected."),
        ("boolean", 1, "true or false expected."),
        ("boolean", 0, "true or false expected."),
        ("boolean", "yes", "true or false expected."),
        ("single_choice", "Calm", "One of: calm, tense."),
        ("single_choice", "angry", "One of: calm, tense."),
        ("single_choice", ["calm"], "One of: calm, tense."),
        ("single_choice", 1, "One of: calm, tense."),
        ("multi_choice", "morning", "A list of distinct options from: morning, evening, night."),
        ("multi_choice", ["morning", "noon"], "A list of distinct options from: morning, evening, night."),
        ("multi_choice", ["morning", "morning"], "A list of distinct options from: morning, evening, night."),
        ("multi_choice", [["morning"]], "A list of distinct options from: morning, evening, night."),
        ("multi_choice", {"morning": True}, "A list of distinct options from: morning, evening, night."),
        ("date", "2026-02-30", "A date as YYYY-MM-DD."),
        ("date", "14/03/2026", "A date as YYYY-MM-DD."),
        ("date", "yesterday", "A date as YYYY-MM-DD."),
        ("date", "2026-03-14T10:00:00+01:00", "A date as YYYY-MM-DD."),
        ("date", 20260314, "A date as YYYY-MM-DD."),
        ("date", ["2026-03-14"], "A date as YYYY-MM-DD."),
    ],
)
def test_invalid_values_of_every_type(kind, value, message):
    assert response_problems(only(kind), {"a": value}) == {"a": [message]}


def test_a_scale_uses_its_own_bounds():
    fields = only("scale", min=-2, max=2)
    assert response_problems(fields, {"a": -2}) == {}
    assert response_problems(fields, {"a": 0}) == {}
    assert response_problems(fields, {"a": 3}) == {"a": ["A whole number from -2 to 2."]}


@pytest.mark.parametrize("kind", FIELD_TYPES)
@pytest.mark.parametrize("empty", ["missing", None, "", []])
def test_a_required_answer_cannot_be_missing_or_empty(kind, empty):
    responses = {} if empty == "missing" else {"a": empty}
    assert response_problems(only(kind), responses) == {"a": ["This answer is required."]}


@pytest.mark.parametrize("kind", FIELD_TYPES)
@pytest.mark.parametrize("empty", ["missing", None, "", []])
def test_an_optional_answer_may_be_missing_or_empty(kind, empty):
    responses = {} if empty == "missing" else {"a": empty}
    assert response_problems(only(kind, required=False), responses) == {}


@pytest.mark.parametrize(("kind", "value"), [("text", "x" * 501), ("scale", 42), ("single_choice", "other")])
def test_an_optional_answer_that_is_given_is_still_checked(kind, value):
    problems = response_problems(only(kind, required=False), {"a": value})
    assert list(problems) == ["a"]


@pytest.mark.parametrize(("kind", "falsy"), [("boolean", False), ("scale", 0)])
def test_false_and_zero_are_answers_not_missing(kind, falsy):
    fields = only(kind, min=0, max=4) if kind == "scale" else only(kind)
    assert response_problems(fields, {"a": falsy}) == {}


def test_unknown_keys_are_each_named():
    responses = {**VALID, "extra": "x", "Closeness": 3}
    assert response_problems(EVERY_TYPE, responses) == {
        "Closeness": ["This exercise has no such field."],
        "extra": ["This exercise has no such field."],
    }


@pytest.mark.parametrize("responses", [None, [], ["one_line"], "text", 3, True])
def test_the_response_is_an_object(responses):
    assert response_problems(EVERY_TYPE, responses) == {"responses": ["An object with one entry per field key."]}


def test_every_problem_is_reported_at_once_by_key():
    responses = {
        "one_line": "x" * 501,
        # story (optional) omitted
        "closeness": True,
        # said_it (required) missing
        "mood": "furious",
        "moments": ["evening", "evening"],
        "when": "",
        "unasked": 1,
    }
    assert response_problems(EVERY_TYPE, responses) == {
        "unasked": ["This exercise has no such field."],
        "one_line": ["At most 500 characters."],
        "closeness": ["A whole number from 1 to 10."],
        "said_it": ["This answer is required."],
        "mood": ["One of: calm, tense."],
        "moments": ["A list of distinct options from: morning, evening, night."],
        "when": ["This answer is required."],
    }


def test_required_defaults_to_true():
    fields = [{"key": "a", "label": "A", "type": "text"}]
    assert response_problems(fields, {}) == {"a": ["This answer is required."]}


# ---------------------------------------------------------------- one declaration: the contract's schemas


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f"])
def test_free_text_answers_refuse_control_characters(control):
    for field_type in ("text", "long_text"):
        refused = response_problems(only(field_type), {"a": f"felt{control}close"})
        assert refused == {"a": ["Control characters are not allowed (tabs and line breaks are)."]}
    assert response_problems(only("long_text"), {"a": "line one\nline two\tindented\r\n"}) == {}


def test_every_valid_definition_matches_the_schema_the_contract_publishes():
    from jsonschema import Draft4Validator

    from exercises.responses import definition_schema
    from exercises.services import catalog_entries

    fields = [*EVERY_TYPE, *(f for entry in catalog_entries() for f in entry["response_fields"])]
    for item in fields:
        errors = [e.message for e in Draft4Validator(definition_schema(item["type"])).iter_errors(item)]
        assert errors == [], item


@pytest.mark.parametrize(
    "item",
    [
        field(key="Closeness"),
        field(label="   "),
        field(placeholder="type here"),  # an attribute no field has
        field(type="text", min=1),  # an attribute of another type
        field(type="scale", min=1),  # max missing
        field(type="scale", min=1, max="10"),
        field(type="single_choice", options=["only one"]),
        field(type="multi_choice", options=["same", "same"]),
        field(required="yes"),
    ],
)
def test_definitions_the_server_refuses_the_published_schema_refuses_too(item):
    from jsonschema import Draft4Validator

    from exercises.responses import definition_schema

    assert definition_problems([item]) != {}
    assert not Draft4Validator(definition_schema(item["type"])).is_valid(item)


@pytest.mark.parametrize("kind", FIELD_TYPES)
def test_each_answer_schema_is_one_of_the_answers_the_contract_allows(kind):
    from exercises.responses import ANY_ANSWER, answer_schema

    extra = {"scale": {"min": 0, "max": 1}, "single_choice": {"options": ["a", "b"]}}
    extra["multi_choice"] = extra["single_choice"]
    schema = answer_schema(field(type=kind, **extra.get(kind, {})))
    assert {"type": schema["type"], **({"items": {"type": "string"}} if schema["type"] == "array" else {})} in (
        ANY_ANSWER["oneOf"]
    )
