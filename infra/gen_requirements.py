"""Write `shared/requirements.txt` (the Lambda layer's dependencies) from `pyproject.toml`.

`sam build` installs the layer from `shared/requirements.txt` (BuildMethod python3.12), while the
project declares its dependencies once, in `[project].dependencies`. This script copies them over
so the two cannot drift; `make requirements` runs it and `tests/integration/test_template.py`
fails when the file is stale. Standard library only (tomllib, Python 3.11+).

    python infra/gen_requirements.py            # rewrite shared/requirements.txt
    python infra/gen_requirements.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "shared" / "requirements.txt"

HEADER = (
    "# Generated from pyproject.toml [project].dependencies by infra/gen_requirements.py.\n"
    "# Do not edit: run `make requirements`. Installed into the Lambda layer by `sam build`.\n"
)


def dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The `[project].dependencies` of `pyproject`, in their declared order."""
    with pyproject.open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return [str(dep).strip() for dep in project.get("dependencies", [])]


def render(deps: list[str]) -> str:
    """The requirements file text for `deps`."""
    return HEADER + "".join(f"{dep}\n" for dep in deps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    wanted = render(dependencies())
    current = REQUIREMENTS.read_text(encoding="utf-8") if REQUIREMENTS.exists() else None
    if args.check:
        if current != wanted:
            print(f"{REQUIREMENTS.relative_to(ROOT)} is out of date: run `make requirements`")
            return 1
        return 0
    if current != wanted:
        REQUIREMENTS.write_text(wanted, encoding="utf-8")
        print(
            f"wrote {REQUIREMENTS.relative_to(ROOT)} ({len(wanted.splitlines()) - 2} requirements)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
