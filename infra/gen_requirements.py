"""Write `shared/requirements.txt` (the Lambda layer's dependencies) from `uv.lock`.

The project pins every dependency once, in `uv.lock` (resolved by uv from `pyproject.toml`); the
test venv is installed from it (`uv sync --locked`, see the Makefile). The layer must install the
very same versions, so its requirements file is not written by hand: this script asks uv to
export the lock's runtime dependencies (no dev extra, not the project itself) and writes them
with a header. `make requirements` runs it (`make lock` too), and
`tests/integration/test_template_policy.py` fails when the file differs from the lock.

    python infra/gen_requirements.py            # rewrite shared/requirements.txt
    python infra/gen_requirements.py --check    # exit 1 if it is out of date

The uv binary is `$UV`, else `.venv-uv/bin/uv` (the Makefile installs it there), else `uv`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "shared" / "requirements.txt"

HEADER = (
    "# Generated from uv.lock by infra/gen_requirements.py (uv export: runtime dependencies).\n"
    "# Do not edit: run `make lock` after changing pyproject.toml. Installed into the Lambda layer.\n"
)

EXPORT_ARGS = (
    "export",
    "--frozen",  # the lock as it is: never re-resolve while exporting
    "--no-dev",
    "--no-emit-project",
    "--no-header",
    "--no-hashes",
    "--format",
    "requirements.txt",
)


def uv_binary() -> str:
    """The uv to run: `$UV`, the Makefile's `.venv-uv/bin/uv`, or one on PATH."""
    explicit = os.environ.get("UV")
    if explicit:
        return explicit
    local = ROOT / ".venv-uv" / "bin" / "uv"
    if local.exists():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run `make` once (it installs .venv-uv/bin/uv)")
    return found


def export() -> str:
    """The layer's requirements text, as uv exports it from `uv.lock`, with our header."""
    result = subprocess.run(
        [uv_binary(), *EXPORT_ARGS],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    return HEADER + result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    wanted = export()
    current = REQUIREMENTS.read_text(encoding="utf-8") if REQUIREMENTS.exists() else None
    if args.check:
        if current != wanted:
            print(f"{REQUIREMENTS.relative_to(ROOT)} differs from uv.lock: run `make requirements`")
            return 1
        return 0
    if current != wanted:
        REQUIREMENTS.write_text(wanted, encoding="utf-8")
        count = sum(1 for line in wanted.splitlines() if "==" in line)
        print(f"wrote {REQUIREMENTS.relative_to(ROOT)} ({count} pinned requirements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
