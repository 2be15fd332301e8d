"""The committed OpenAPI contract: `python -m tools.schema write` regenerates openapi.yaml from the code;
`python -m tools.schema check` fails (with a diff) when the committed file differs."""

import difflib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "openapi.yaml"


def generate() -> str:
    """The schema as the code describes it, validated; any generator warning is an error."""
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "openapi.yaml"
        call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")
        return target.read_text()


def drift() -> str:
    """A unified diff between the committed and the generated schema; empty when they agree."""
    committed = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
    return "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            generate().splitlines(keepends=True),
            "openapi.yaml (committed)",
            "openapi.yaml (generated)",
        )
    )


def main(argv) -> int:
    if argv == ["write"]:
        SCHEMA_FILE.write_text(generate())
        print(f"wrote {SCHEMA_FILE.name}")
        return 0
    if argv == ["check"]:
        diff = drift()
        if diff:
            print(diff, end="")
            print("openapi.yaml is out of date: run `make schema` and commit it.", file=sys.stderr)
            return 1
        print("openapi.yaml matches the code")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
