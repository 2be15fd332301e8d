"""The check every test runs (tests/conftest.py): an answer's `code` must be in the catalog (api/problems.py), with
the catalog's status and problem type, and among the codes the contract lists for the operation answered."""

import functools
import json
import re

import yaml

from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from api.problems import CODES
from tools.schema import SCHEMA_FILE


@functools.cache
def contract_operations() -> list[tuple[re.Pattern, str, str, frozenset]]:
    """(path pattern, METHOD, "METHOD /path", the codes its error responses list) for every operation of the
    committed contract; literal paths first, so that `/notes/awaiting-cosign/` is not taken for `/notes/{id}/`."""
    document = yaml.load(SCHEMA_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    operations = []
    for path, item in sorted(document["paths"].items(), key=lambda p: p[0].count("{")):
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                codes = {c for r in operation["responses"].values() for c in r.get("x-problem-codes", ())}
                operations.append((pattern, method.upper(), f"{method.upper()} {path}", frozenset(codes)))
    return operations


def operation_codes(method: str, path: str) -> tuple[str, frozenset] | None:
    """The contract's operation for this request, and its codes; None for a path or method it does not list."""
    method = "GET" if method == "HEAD" else method
    for pattern, op_method, name, codes in contract_operations():
        if op_method == method and pattern.match(path):
            return name, codes
    return None


def unlisted_code(method: str, path: str, response) -> str | None:
    """What is wrong with this answer's `code`, or None."""
    if response.get("Content-Type", "").split(";")[0].strip() != PROBLEM_MEDIA_TYPE or not response.content:
        return None
    body = json.loads(response.content)
    code = body.get("code")
    listed = CODES.get(code)
    if listed is None:
        return f"{method} {path} answered code {code!r}, which api/problems.py does not list"
    if (listed.status, PROBLEM_TYPE_BASE + listed.type.slug) != (response.status_code, body.get("type")):
        return (
            f"{method} {path} answered {code!r} as {response.status_code} {body.get('type')}; "
            f"api/problems.py says {listed.status} {PROBLEM_TYPE_BASE + listed.type.slug}"
        )
    operation = None if listed.anywhere else operation_codes(method, path)
    if operation is not None and code not in operation[1]:
        return f"{operation[0]} answered {code!r}, which the contract does not list for it (declare it in `problems`)"
    return None
