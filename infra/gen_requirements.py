"""Write the Lambda layer's requirements files (`shared/requirements-*.txt`) from `uv.lock`.

The project pins every dependency once, in `uv.lock` (resolved by uv from `pyproject.toml`); the
test venv is installed from it (`uv sync --locked`, see the Makefile). The layer must install the
very same versions, so its requirements files are not written by hand: this script asks uv to
export the lock's runtime dependencies (no dev extra, not the project itself) and writes them
with a header. `make requirements` runs it (`make lock` too), and `tests/integration/test_lock.py`
fails when a file differs from the lock.

One file per `ResponseMode` (SPEC §14: the layer holds what the functions import in that mode),
with hashes, for `shared/Makefile` (`pip install --require-hashes`):
- `buffered`: Mangum; no HTTP server (`--prune uvicorn` drops it with uvloop, httptools, click,
  h11 and uvicorn[standard]'s watchfiles, websockets, python-dotenv), no Prometheus client
  (`serve`'s /metrics sink; the Lambda emits EMF);
- `stream`: uvicorn with uvloop and httptools (run.sh serves the app under the web adapter); no
  Mangum, no Prometheus client, and none of the never-imported extras (file watcher,
  websockets, dotenv).
`requirements.txt` is the buffered set without hashes, for SAM's own python3.12 builder.

    python infra/gen_requirements.py            # rewrite the files
    python infra/gen_requirements.py --check    # exit 1 if one is out of date

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
SHARED = ROOT / "shared"
#: Packages (with what only they need) that each layer leaves out: `uv export --prune`.
PRUNED = {
    "buffered": ("uvicorn", "prometheus-client"),
    "stream": ("watchfiles", "websockets", "python-dotenv", "mangum", "prometheus-client"),
}
#: file name -> (mode, with hashes)
FILES = {
    "requirements-buffered.txt": ("buffered", True),
    "requirements-stream.txt": ("stream", True),
    "requirements.txt": ("buffered", False),
}

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


def export(mode: str = "buffered", *, hashes: bool = False) -> str:
    """One layer's requirements text, as uv exports it from `uv.lock`, with our header."""
    args = [*EXPORT_ARGS, *(f"--prune={name}" for name in PRUNED[mode])]
    if not hashes:
        args.append("--no-hashes")
    result = subprocess.run(
        [uv_binary(), *args],
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
    stale = []
    for name, (mode, hashes) in FILES.items():
        path = SHARED / name
        wanted = export(mode, hashes=hashes)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == wanted:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
            count = sum(1 for line in wanted.splitlines() if "==" in line)
            print(f"wrote shared/{name} ({count} pinned requirements)")
    if args.check and stale:
        print(f"differ from uv.lock: {', '.join(stale)}: run `make requirements`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
