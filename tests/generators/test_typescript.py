"""openapi-typescript takes the contract without a warning, its types compile under `tsc --strict`, and a typed
openapi-fetch call of each step of the therapist's day (typescript/day.ts) compiles (issue 12).

A step that does not compile because of a gap openapi.yaml still shows (contract.py) is XFAIL, naming the gap
and the compiler's errors; any other error fails, and so does a step that compiles while its gap is still shown.
"""

import pytest

from . import typescript_client as ts

# One worker runs the whole module: the types are generated and compiled once (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("generators-typescript")

# Which exported functions of day.ts each known gap stands in the way of.
STEP_GAPS = {
    "setGoals": ("gas_levels",),
    "answerFor": ("response_fields",),
    "buildAnswers": ("response_fields",),
    "outcomesJson": ("report_csv",),  # JSON and CSV on one answer: the data is typed `OutcomesReport | string`
    "outcomesCsv": ("report_csv",),
}
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
def test_the_typed_call_compiles(name, compilation, gaps):
    assert compilation.tsc_returncode is not None, "no types were generated"
    errors = [e for e in compilation.errors if e["file"] == "day.ts" and e["line"] in STEPS[name]]
    shown = [gap for gap in STEP_GAPS.get(name, ()) if gap in gaps]
    if errors and shown:
        pytest.xfail(f"contract gap {', '.join(shown)}: {show(errors)}")
    assert not errors, show(errors)
    assert not shown, f"compiles although openapi.yaml still shows {shown}: is the gap check in contract.py right?"
