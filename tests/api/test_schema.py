"""The committed contract is what the code generates; every operation is documented."""

import yaml

from tools import schema


def test_openapi_yaml_matches_the_code():
    diff = schema.drift()
    assert not diff, f"openapi.yaml is stale; run `make schema`:\n{diff}"


PUBLIC_OPERATIONS = {
    "/api/v1/health/",
    "/api/v1/health/live/",
    "/api/v1/invitations/accept/",
    "/api/v1/calendar/{token}.ics",  # a calendar app's subscription: the secret in the address is the key
}


def test_every_operation_has_summary_security_and_errors():
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]
    assert operations
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        errors = {code for code in op["responses"] if code.startswith(("4", "5"))}
        assert {"406", "503"} <= errors, where
        for code in errors:
            assert "application/problem+json" in op["responses"][code]["content"], where
        public = op["security"] == [{}]  # no token needed
        if public:
            assert path in PUBLIC_OPERATIONS, f"{where} takes no token: is that intended?"
        else:
            assert {"401", "403"} <= errors, where
        if "{" in path:
            assert "404" in errors, where
        if "requestBody" in op:
            assert {"400", "413", "415"} <= errors, where


def test_security_scheme_is_oauth2_with_the_project_scopes():
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    scheme = document["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "/o/authorize/"
    assert flow["tokenUrl"] == "/o/token/"
    assert set(flow["scopes"]) == {"clinical:read", "clinical:write", "homework", "reports", "admin", "fhir:export"}


def test_every_request_body_takes_json_types_as_the_contract_states():
    """api/json_types.py holds bodies to the types the schema declares ("5" is not an integer); it works only when
    a request serializer mixes it in, so every operation's request serializer must (the body tests of each
    resource show what it refuses)."""
    from drf_spectacular.generators import SchemaGenerator

    from api.json_types import JSONTypes

    generator = SchemaGenerator()
    generator._initialise_endpoints()  # the endpoints drf-spectacular documents: the same list openapi.yaml holds
    bodies = {}
    for path, _, method, callback in generator.endpoints:
        if method in ("GET", "DELETE"):
            continue
        serializer = generator.create_view(callback, method).schema.get_request_serializer()
        if serializer is not None:
            bodies[f"{method} {path}"] = serializer if isinstance(serializer, type) else type(serializer)
    assert len(bodies) >= 28  # every create, change and action that takes a body
    assert [op for op, cls in bodies.items() if not issubclass(cls, JSONTypes)] == []


def _typed(node: dict) -> bool:
    return any(key in node for key in ("type", "$ref", "oneOf", "anyOf", "allOf"))


def _untyped_places(node, where: str):
    """Every schema under `node` that says nothing of its type: a property, an item, a map's values."""
    if not isinstance(node, dict):
        return
    for name, child in node.get("properties", {}).items():
        if not _typed(child):
            yield f"{where}.{name}"
        yield from _untyped_places(child, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        child = node.get(key)
        if isinstance(child, dict):
            if not _typed(child):
                yield f"{where}[{key}]"
            yield from _untyped_places(child, f"{where}[{key}]")
    for key in ("oneOf", "anyOf", "allOf"):
        for index, child in enumerate(node.get(key, [])):
            yield from _untyped_places(child, f"{where}.{key}.{index}")


def test_no_schema_property_is_without_a_type():
    # Found by a mobile developer: the exercise's steps and response fields, and an audit event's detail, were
    # typed nothing at all, so a generated client handed them over as untyped dicts.
    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    untyped = [
        place
        for name, component in document["components"]["schemas"].items()
        for place in _untyped_places(component, name)
    ]
    assert untyped == []


def test_response_fields_are_a_union_with_one_schema_per_field_type():
    from exercises.responses import FIELD_TYPES

    document = yaml.safe_load(schema.SCHEMA_FILE.read_text())
    schemas = document["components"]["schemas"]
    for component in ("ExerciseVersion", "ExerciseContentRequest"):
        items = schemas[component]["properties"]["response_fields"]["items"]
        assert items["discriminator"]["propertyName"] == "type"
        assert set(items["discriminator"]["mapping"]) == set(FIELD_TYPES)
        assert len(items["oneOf"]) == len(FIELD_TYPES)
    scale = schemas["ScaleResponseField"]
    assert scale["required"] == ["key", "label", "type", "min", "max"]
    assert scale["properties"]["min"]["type"] == "integer"
    assert scale["additionalProperties"] is False
