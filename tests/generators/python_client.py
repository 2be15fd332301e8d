"""Generate the Python client from openapi.yaml with openapi-python-client, as a client developer would, and read
the generator's warnings from its output."""

import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.schema import SCHEMA_FILE as OPENAPI

PACKAGE = "couples_api_client"
BIN = Path(sys.executable).parent  # openapi-python-client, and ruff for its post-hooks


@dataclass
class Generation:
    package_dir: Path
    returncode: int
    output: str
    warnings: list[str]  # one entry per warning or error the generator printed, addresses masked


def split_warnings(stderr: str) -> list[str]:
    """The generator prints a banner line, then each problem as a header, a detail and the offending part of the
    document, separated by blank lines (two or more between problems), then a link to its issue tracker. Anything
    it prints to stderr is a problem: what cannot be split this way is returned whole."""
    text = re.sub(r" object at 0x[0-9a-f]+>", ">", stderr).strip()
    if not text:
        return []
    lines = text.splitlines()
    if lines and re.match(r"(Warning|Error)\(s\) encountered while generating", lines[0]):
        lines = lines[1:]
    if lines and lines[-1].startswith("If you believe this was a mistake"):
        lines = lines[:-1]
    blocks = re.split(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n".join(lines).strip())
    return [block.strip() for block in blocks if block.strip()] or [text]


def generate(out_dir: Path, openapi: Path = OPENAPI) -> Generation:
    package_dir = out_dir / PACKAGE
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(openapi),
            "--meta",
            "none",  # just the package: it is imported from out_dir, not installed
            "--output-path",
            str(package_dir),
            "--overwrite",
        ],
        cwd=out_dir,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Generation(
        package_dir=package_dir,
        returncode=result.returncode,
        output=result.stdout + result.stderr,
        warnings=split_warnings(result.stderr),
    )


def import_package(generation: Generation):
    """Import the generated package (from the directory it was generated into)."""
    parent = str(generation.package_dir.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    return importlib.import_module(PACKAGE)
