"""The known gaps between the committed contract and what the generators need (issue 12, "Generators").

The day in `therapist_day.py` is written for the contract as it will be. While `openapi.yaml` still shows a gap,
a step that fails with that gap's symptom is an expected failure (reported as XFAIL with the generator's own
warning); a failure with any other cause fails, and so does a step that passes while the contract still shows
the gap. Once the contract is fixed the gap reads as closed and its steps must simply pass.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
OPENAPI = ROOT / "openapi.yaml"


def load(path: Path = OPENAPI) -> dict:
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 2 s -> 0.3 s


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def _variants(spec: dict, schema: dict) -> list[dict]:
    """The schema and the schemas it is made of (allOf/oneOf/anyOf: how nullable and composed fields are said)."""
    schema = _resolve(spec, schema)
    found = [schema]
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            found.extend(_variants(spec, part))
    return found


def _property(spec: dict, schema_name: str, name: str) -> dict:
    return spec["components"]["schemas"][schema_name].get("properties", {}).get(name, {})


def _array_items(spec: dict, schema: dict) -> dict | None:
    for variant in _variants(spec, schema):
        if variant.get("type") == "array" or "array" in (variant.get("type") or []):
            return variant.get("items", {})
    return None


def _200_content(spec: dict, path: str, method: str = "get") -> set[str]:
    operation = spec["paths"].get(path, {}).get(method)
    if not operation:
        return set()
    return set(operation["responses"].get("200", {}).get("content", {}))


def gas_levels_open(spec: dict) -> bool:
    return _array_items(spec, _property(spec, "Goal", "gas_levels")) is None


def report_csv_open(spec: dict) -> bool:
    return "text/csv" not in _200_content(spec, "/api/v1/reports/outcomes.csv")


def chart_binary_open(spec: dict) -> bool:
    return "application/octet-stream" not in _200_content(spec, "/api/v1/cases/{id}/outcomes/chart.png")


def response_fields_open(spec: dict) -> bool:
    items = _array_items(spec, _property(spec, "ExerciseVersion", "response_fields"))
    if items is None:
        return True
    union = _resolve(spec, items)
    return not (union.get("oneOf") and union.get("discriminator", {}).get("propertyName") == "type")


@dataclass(frozen=True)
class Gap:
    name: str
    title: str
    is_open: object  # (spec) -> bool
    symptom: str  # regex a step's failure matches when this gap caused it
    warning: str  # regex matching the generator warning it causes ("" when it causes none)
    fix: str

    def caused(self, error: BaseException) -> bool:
        return re.search(self.symptom, f"{type(error).__name__}: {error}") is not None


GAPS = {
    gap.name: gap
    for gap in [
        Gap(
            "gas_levels",
            "GAS levels are an object keyed -2..2: openapi-python-client drops GASLevels and GASLevelsRequest",
            gas_levels_open,
            symptom=r"gas_levels",
            warning=r"/components/schemas/GASLevels(Request)?:",
            fix='gas_levels: a list of five {"score": -2..2, "description": string} (nullable)',
        ),
        Gap(
            "report_csv",
            "CSV shares one 200 answer with JSON on reports/outcomes/: the generated client always parses JSON",
            report_csv_open,
            symptom=r"reports_outcomes_csv_retrieve",
            warning="",
            fix="GET /api/v1/reports/outcomes.csv (and caseload.csv), text/csv only; JSON only at reports/*/",
        ),
        Gap(
            "chart_binary",
            "chart.png declares only image/png, which openapi-python-client leaves out",
            chart_binary_open,
            symptom=r"chart\.png",
            warning=r"chart\.png[\s\S]*Unsupported content_type image/png",
            fix="chart.png's 200 declares image/png and application/octet-stream (format: binary)",
        ),
        Gap(
            "response_fields",
            "ExerciseVersion.response_fields (and steps) are untyped: no form can be built from the contract",
            response_fields_open,
            symptom=r"response_fields",
            warning="",
            fix="response_fields: array of a union discriminated on `type`; steps: array of strings; "
            "responses: values string | integer | boolean | array of strings",
        ),
    ]
}


def open_gaps(spec: dict | None = None) -> dict[str, Gap]:
    spec = spec if spec is not None else load()
    return {name: gap for name, gap in GAPS.items() if gap.is_open(spec)}
