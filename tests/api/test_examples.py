"""The contract's examples (issue 12): every request body and every 2xx answer of `openapi.yaml` has one, taken from
the demo practice by `make examples` (tools/examples.py writes api/examples.json, api/examples.py puts it into the
contract), and each validates against its operation's schema.

The schemas are OpenAPI 3.0: `nullable` becomes a union with null, and an object with declared properties takes no
others, so an answer with a field the contract does not declare fails here too, as does one missing a field it
requires. Walking the demo again (`make examples-check`: a fresh database, the demo, every operation; about a
minute, most of it migrations) is not part of `make test`; these checks catch an answer whose shape changed.
"""

import csv
import io
import json
from functools import cache

import jsonschema
import pytest
import yaml

from api.examples import EXAMPLE_NAME, EXAMPLES_FILE, image_example
from tools.schema import SCHEMA_FILE

METHODS = ("get", "post", "put", "patch", "delete")


@cache
def contract() -> dict:
    return yaml.safe_load(SCHEMA_FILE.read_text())


@cache
def recorded() -> dict:
    return json.loads(EXAMPLES_FILE.read_text())


def operations():
    for path, item in contract()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def bodies(operation):
    """(where, media type, media type object) of the request body and every 2xx answer with content."""
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        yield "request", media_type, content
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            for media_type, content in response.get("content", {}).items():
                yield status, media_type, content


OPERATIONS = dict(operations())


def json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema (draft 4): refs into `definitions`, nullable as a union with null,
    no undeclared properties."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: json_schema(value) for key, value in node.items() if key not in ("nullable", "discriminator")}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def definitions() -> dict:
    return {name: json_schema(schema) for name, schema in contract()["components"]["schemas"].items()}


def validate(value, schema):
    root = {**json_schema(schema), "definitions": definitions()}
    jsonschema.Draft4Validator(root, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(value)


IMAGES = ("image/png", "application/octet-stream")


def test_every_request_body_and_2xx_answer_has_a_demo_example():
    """JSON, CSV and calendar answers hold the demo's answer as an example's value; an image is described in words in
    its answer's description (no example value can hold its bytes)."""
    missing = [
        f"{key} {where} {media_type}"
        for key, operation in OPERATIONS.items()
        for where, media_type, content in bodies(operation)
        if EXAMPLE_NAME not in content.get("examples", {})
        and not (
            media_type in IMAGES and image_example(recorded()[key]) in operation["responses"][where]["description"]
        )
    ]
    assert not missing, "no example (run `make examples`, then `make schema`):\n" + "\n".join(missing)


def test_every_example_holds_a_value():
    """ReDoc renders an example of a non-JSON media type from its value, and crashed on one without (make
    docs-check: 'Cannot read properties of undefined (reading toString)')."""
    valueless = [
        f"{key} {where} {media_type} {name}"
        for key, operation in OPERATIONS.items()
        for where, media_type, content in bodies(operation)
        for name, example in content.get("examples", {}).items()
        if "value" not in example
    ]
    assert valueless == []


def test_the_examples_file_names_only_operations_of_the_contract():
    assert sorted(set(recorded()) - set(OPERATIONS)) == []


@pytest.mark.parametrize("key", sorted(OPERATIONS))
def test_each_example_is_valid_for_its_schema(key):
    operation = OPERATIONS[key]
    entry = recorded()[key]
    for where, media_type, content in bodies(operation):
        if media_type in IMAGES and entry.get("response", "") is None:  # described in words (above)
            continue
        demo = content["examples"][EXAMPLE_NAME]
        expected = entry["request"] if where == "request" else entry["response"]
        assert demo["value"] == expected, f"{where} {media_type}: openapi.yaml is stale, run `make schema`"
        validate(demo["value"], content["schema"])
        if media_type == "text/csv":
            rows = list(csv.reader(io.StringIO(demo["value"])))
            assert len(rows) >= 2, "a header and at least one row"
            assert all(len(row) == len(rows[0]) for row in rows)


def test_the_validation_catches_what_the_schema_refuses():
    """The checks above are not vacuous: an undeclared field, a wrong type and a null where none is allowed fail."""
    key = "GET /api/v1/me/"
    schema = OPERATIONS[key]["responses"]["200"]["content"]["application/json"]["schema"]
    me = recorded()[key]["response"]
    validate(me, schema)
    for broken in ({**me, "password": "x"}, {**me, "email": 7}, {**me, "role": None}, {**me, "role": "owner"}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, schema)
