"""The committed contract is what the code generates; every operation is documented."""

import yaml

from tools import schema


def test_openapi_yaml_matches_the_code():
    diff = schema.drift()
    assert not diff, f"openapi.yaml is stale; run `make schema`:\n{diff}"


PUBLIC_OPERATIONS = {"/api/v1/health/", "/api/v1/health/live/", "/api/v1/invitations/accept/"}


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
    assert set(flow["scopes"]) == {"clinical:read", "clinical:write", "homework", "reports", "admin"}
