"""Every `code` the API can answer is in one catalog (api/problems.py), with its status and meaning, at
/api/problems/ and per operation in the contract. The source scan below fails when code raises a code the catalog
does not list, or the catalog lists one nothing raises; tests/conftest.py fails any test whose answer carries a code
the contract does not list for the operation answered (tests/problem_check.py)."""

import ast
import itertools
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import Resolver404, resolve

from api.errors import DEFAULT_CODES, PROBLEM_TYPES, ProblemResponse
from api.problems import CODES, FIELD_CODES
from tests.problem_check import unlisted_code
from tools.schema import SCHEMA_FILE

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "config", "events", "clinical", "exercises", "kernel")
# Calls whose `code=` names something other than a problem: a measure's code (clinical/instruments.py).
NOT_PROBLEMS = {"Instrument"}
CODE_NAMES = {"code", "default_code"}


def _string(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _codes_in(tree) -> list[str]:
    """`f(..., code="x")`, `code = "x"` / `default_code = "x"`, and `def f(*, code="x")`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) not in NOT_PROBLEMS:
            found += [_string(k.value) for k in node.keywords if k.arg == "code"]
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id in CODE_NAMES for t in node.targets):
                found.append(_string(node.value))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id in CODE_NAMES:
            found.append(_string(node.value) if node.value else None)
        elif isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            pairs = [
                *zip(positional[len(positional) - len(node.defaults) :], node.defaults, strict=True),
                *zip(node.kwonlyargs, node.kw_defaults, strict=True),
            ]
            found += [_string(default) for arg, default in pairs if arg.arg == "code" and default is not None]
    return [code for code in found if code]


def raised_codes() -> dict[str, set[str]]:
    """Every code literal in the code base (and the defaults api/errors.py answers by status) → where it is."""
    where: dict[str, set[str]] = {}
    files = itertools.chain.from_iterable((ROOT / package).rglob("*.py") for package in PACKAGES)
    for path in files:
        if "migrations" in path.parts:
            continue
        for code in _codes_in(ast.parse(path.read_text(), str(path))):
            where.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    for code in DEFAULT_CODES.values():
        where.setdefault(code, set()).add("api/errors.py DEFAULT_CODES")
    return where


def test_the_scan_sees_codes_where_they_are_raised():
    raised = raised_codes()
    assert raised["note_not_draft"] == {"clinical/services/notes.py"}  # Conflict(..., code=...)
    assert "api/permissions.py" in raised["role_not_allowed"]  # a class attribute
    assert "kernel/changes.py" in raised["not_allowed"]  # a keyword's default
    assert "api/viewsets.py" in raised["unknown_parameter"]  # ErrorDetail(..., code=...)
    assert "phq9" not in raised


def test_every_code_raised_is_in_the_catalog():
    unlisted = {code: sorted(where) for code, where in raised_codes().items() if code not in CODES | FIELD_CODES}
    assert not unlisted, f"List these in api/problems.py (status, meaning): {unlisted}"


def test_every_code_in_the_catalog_is_raised_somewhere():
    dead = (CODES.keys() | FIELD_CODES.keys()) - raised_codes().keys()
    assert not dead, f"Nothing raises these; drop them from api/problems.py: {sorted(dead)}"


def test_catalog_entries_are_complete():
    for problem in CODES.values():
        assert problem.type.slug in PROBLEM_TYPES
        assert problem.type.status == problem.status, problem
        assert problem.meaning.endswith("."), problem
    assert not CODES.keys() & FIELD_CODES.keys()


# ---------------------------------------------------------------- the contract


def contract_operations():
    document = yaml.load(SCHEMA_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _view_of(path: str):
    """The view class and its `{method: action}` map for a contract path (any value its parameters take)."""
    for value in ("1", "x", "a.b"):
        try:
            match = resolve(re.sub(r"\{[^}]+\}", value, path))
        except Resolver404:
            continue
        return match.func.cls, getattr(match.func, "actions", None) or {}
    raise AssertionError(f"{path} resolves to no view")


def test_each_error_response_lists_its_codes_with_their_status():
    for path, method, operation in contract_operations():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                codes = response["x-problem-codes"]
                assert codes, (method, path, status)
                assert {CODES[c].status for c in codes} == {int(status)}, (method, path, status)
                assert all(f"`{c}`" in response["description"] for c in codes)


def test_the_codes_a_view_declares_are_in_the_contract_for_those_operations():
    seen = {}
    for path, method, operation in contract_operations():
        view, actions = _view_of(path)
        action = actions.get(method, method)
        seen.setdefault(view, set()).add(action)
        listed = {c for r in operation["responses"].values() for c in r.get("x-problem-codes", ())}
        declared = set(getattr(view, "problems", {}).get(action, ()))
        assert declared <= listed, f"{method.upper()} {path} does not list {declared - listed}"
    for view, actions in seen.items():
        unknown = set(getattr(view, "problems", {})) - actions
        assert not unknown, f"{view.__name__}.problems names actions it does not have: {unknown}"


# ---------------------------------------------------------------- the check every test runs


def test_an_answer_with_an_unlisted_code_is_caught():
    made_up = ProblemResponse(409, detail="x", code="made_up")
    assert "does not list" in unlisted_code("POST", "/api/v1/alerts/1/acknowledge/", made_up)


def test_an_answer_with_a_code_not_declared_for_its_operation_is_caught():
    closed = ProblemResponse(409, detail="x", code="case_closed")
    problem = unlisted_code("POST", "/api/v1/alerts/1/acknowledge/", closed)
    assert problem.startswith("POST /api/v1/alerts/{id}/acknowledge/ answered 'case_closed'")


def test_an_answer_with_a_declared_code_passes():
    acknowledged = ProblemResponse(409, detail="x", code="already_acknowledged")
    assert unlisted_code("POST", "/api/v1/alerts/1/acknowledge/", acknowledged) is None
    # Codes any request may meet, and paths the contract does not list, need only be in the catalog.
    assert unlisted_code("GET", "/api/v1/alerts/1/acknowledge/", ProblemResponse(405, detail="x")) is None
    assert unlisted_code("GET", "/api/nothing/", ProblemResponse(404, detail="x")) is None


def test_an_answer_with_another_status_than_the_catalog_says_is_caught():
    wrong = ProblemResponse(400, detail="x", code="already_acknowledged")
    assert "api/problems.py says 409" in unlisted_code("POST", "/api/v1/alerts/1/acknowledge/", wrong)


# ---------------------------------------------------------------- /api/problems/


def test_the_catalog_is_served(db):
    listing = Client().get("/api/problems/").json()

    assert {c["code"]: (c["status"], c["type"]) for c in listing["codes"]} == {
        code: (p.status, f"/api/problems/{p.type.slug}") for code, p in CODES.items()
    }
    assert all(c["meaning"] for c in listing["codes"])
    assert {c["code"] for c in listing["field_codes"]} == FIELD_CODES.keys()
    assert len(listing["problem_types"]) == len(PROBLEM_TYPES)


@pytest.mark.parametrize(("slug", "code"), [("conflict", "case_closed"), ("malformed", "nesting_too_deep")])
def test_each_problem_type_lists_its_codes(db, slug, code):
    described = Client().get(f"/api/problems/{slug}").json()

    assert code in {c["code"] for c in described["codes"]}
    assert all(c["type"] == f"/api/problems/{slug}" for c in described["codes"])


def test_the_invalid_type_lists_the_field_codes(db):
    described = Client().get("/api/problems/invalid").json()
    assert {c["code"] for c in described["field_codes"]} == FIELD_CODES.keys()
