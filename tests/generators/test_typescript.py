"""openapi-typescript takes the contract without a warning, its types compile under `tsc --strict`, and a typed
openapi-fetch call of each step of the therapist's day (typescript/day.ts) compiles (issue 12).
"""

import pytest

from . import typescript_client as ts

# One worker runs the whole module: the types are generated and compiled once (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("generators-typescript")

STEPS = ts.steps()


@pytest.fixture(scope="session")
def compilation(tmp_path_factory):
    """Types generated and day.ts compiled once per session."""
    assert ts.installed(), f"the pinned npm packages are not installed in {ts.MODULES}: `make test` runs npm ci"
    return ts.compile_day(tmp_path_factory.mktemp("typescript"))


def show(errors) -> str:
    return "\n".join(f"{e['file']}({e['line']},{e['column']}): {e['code']} {e['message']}" for e in errors)


def test_openapi_typescript_prints_no_warning(compilation):
    assert compilation.generator_returncode == 0, compilation.generator_stdout + compilation.generator_stderr
    # It prints its banner on stdout and every warning (its own and Redocly's lint) on stderr.
    assert not compilation.generator_stderr.strip(), compilation.generator_stderr


def test_the_generated_types_compile_under_strict(compilation):
    assert compilation.tsc_returncode is not None, "no types were generated"
    assert not [e for e in compilation.errors if e["file"] != "day.ts"], show(compilation.errors)


@pytest.mark.parametrize("name", list(STEPS))
def test_the_typed_call_compiles(name, compilation):
    assert compilation.tsc_returncode is not None, "no types were generated"
    errors = [e for e in compilation.errors if e["file"] == "day.ts" and e["line"] in STEPS[name]]
    assert not errors, show(errors)
