"""The shape of the house (docs/architecture.md), read from the source: imports run one way, the API's resource
modules stand side by side without importing each other, and every endpoint is written the one way."""

import ast
from pathlib import Path

import pytest
from django.urls import get_resolver

from api.viewsets import ResourceViewSet

ROOT = Path(__file__).resolve().parent.parent

# Layers, top to bottom: a package may import those below it, never those above.
LAYERS = ["config", "fhir_r4", "api", "events", "clinical", "exercises", "kernel"]
# The modules of api/ that every resource module may use: the HTTP concerns, each in one place.
API_INFRASTRUCTURE = {
    "audit",
    "authentication",
    "charts",
    "errors",
    "etags",
    "filters",
    "idempotency",
    "json_types",
    "limits",
    "models",
    "pagination",
    "permissions",
    "renderers",
    "replica",
    "routers",
    "schema",
    "scoping",
    "serializers",
    "throttling",
    "token_cache",
    "viewsets",
}
# Not resources: the OAuth pages, the API docs pages, the problem catalog, the URL configuration, the contract's
# examples (a schema hook).
API_OTHER = {"oauth", "docs", "problems", "urls", "apps", "examples", "__init__"}
# What only the one viewset base may call (api/viewsets.py).
BASE_ONLY = {
    "with_etag",
    "expected_version",
    "audit_read",
    "audit_append",
    "paginate_queryset",
    "get_paginated_response",
}


def python_files(package: str):
    return [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            if node.module:  # from .scoping import X
                names.add(f"{base}.{node.module}")
            else:  # from . import cases, notes
                names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def resource_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "api").glob("*.py") if p.stem not in API_INFRASTRUCTURE | API_OTHER)


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_run_one_way(layer):
    above = LAYERS[: LAYERS.index(layer)]
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in python_files(layer)
        for name in imported_modules(path)
        if name.split(".")[0] in above
    ]
    if layer in ("clinical", "exercises", "kernel"):  # the domain knows nothing of HTTP
        offences += [
            f"{path.relative_to(ROOT)} imports {name}"
            for path in python_files(layer)
            for name in imported_modules(path)
            if name.split(".")[0] in ("rest_framework", "drf_spectacular")
        ]
    assert offences == []


def test_the_list_of_resource_modules_is_what_the_api_holds():
    # A new module is either a resource family or named above as infrastructure: the other tests rely on it.
    assert {p.stem for p in resource_modules()} == {
        "alerts",
        "audit_events",
        "cases",
        "clients",
        "consents",
        "events",
        "exercises",
        "health",
        "homework",
        "me",
        "measures",
        "notes",
        "practice",
        "privacy",
        "reminders",
        "reports",
        "safety",
        "sessions",
        "webhooks",
    }


@pytest.mark.parametrize("path", resource_modules(), ids=lambda p: p.stem)
def test_resource_modules_do_not_import_each_other(path):
    siblings = {f"api.{p.stem}" for p in resource_modules()} - {f"api.{path.stem}"}
    assert sorted(imported_modules(path) & siblings) == []


@pytest.mark.parametrize("path", resource_modules(), ids=lambda p: p.stem)
def test_resource_modules_leave_etags_pages_and_read_audits_to_the_base(path):
    tree = ast.parse(path.read_text())
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    built_pages = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        and {"next", "previous", "results"} <= {k.value for k in node.keys if isinstance(k, ast.Constant)}
    ]
    assert sorted(called & BASE_ONLY) == []
    assert built_pages == []


def test_every_resource_route_is_a_resource_viewset():
    routed = set()

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
            else:
                routed.add(getattr(pattern.callback, "cls", None))

    walk(get_resolver().url_patterns)
    viewsets = {cls for cls in routed if cls is not None and hasattr(cls, "get_extra_actions")}
    assert viewsets, "no viewsets routed"
    assert sorted(cls.__name__ for cls in viewsets if not issubclass(cls, ResourceViewSet)) == []
