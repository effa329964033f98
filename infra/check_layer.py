"""Inspect a built shared layer (SPEC §14): `python infra/check_layer.py DIR MODE`.

DIR is a layer's root (it holds `python/`): `.aws-sam/build/SharedLayer<Mode>` after `make build`,
or what `make layer` / the layer test built. MODE is `buffered` or `stream`. Checks:
- what it holds: the mode's packages, none of the never-imported ones (file watcher, websockets,
  dotenv; no HTTP server in buffered, no Mangum in stream);
- the same versions as the lock: every installed distribution is pinned, at that version, in
  `shared/requirements-<mode>.txt` (exported from `uv.lock`), and every pin is installed;
- bytecode: every `.py` has its python3.12 `.pyc`, hash-based and unchecked (read-only `/opt`,
  and zip extraction keeps no mtimes);
- botocore's data: only the services the functions call;
- size: unzipped, under the mode's ceiling.
Exit 1 and one line per problem when any check fails. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"

NEVER = {"watchfiles", "websockets", "dotenv"}
COMMON = {"edge_router", "aiohttp", "botocore", "boto3", "fastapi", "starlette", "pydantic",
          "pydantic_core", "yaml", "orjson", "aws_lambda_powertools"}  # fmt: skip
MODES = {
    "buffered": {"required": COMMON | {"mangum"}, "absent": NEVER | {
        "uvicorn", "uvloop", "httptools", "click", "prometheus_client"}},
    "stream": {"required": COMMON | {"uvicorn", "uvloop", "httptools"}, "absent": NEVER | {
        "mangum", "prometheus_client"}},
}  # fmt: skip
BOTOCORE_SERVICES = {"dynamodb", "secretsmanager"}
#: Unzipped ceilings (MiB). Measured: buffered 47, stream 65 (uvloop is 14 MiB unstripped);
#: the layer as first shipped was 77 without any bytecode.
MAX_MIB = {"buffered": 55, "stream": 75}
#: The flags word of a PEP 552 .pyc: bit 0 = hash-based, bit 1 = check the source.
UNCHECKED_HASH = 0b01


@dataclass
class Report:
    mib: float = 0.0
    py: int = 0
    pyc: int = 0
    problems: list[str] = field(default_factory=list)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(mode: str) -> dict[str, str]:
    text = (SHARED / f"requirements-{mode}.txt").read_text(encoding="utf-8")
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", text, flags=re.MULTILINE)
    return {normalize(name): version for name, version in found}


def installed(site: Path) -> dict[str, str]:
    out = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        out[normalize(name)] = version
    return out


def check(root: Path, mode: str) -> Report:
    report = Report()
    site = root / "python"
    problems = report.problems
    if not site.is_dir():
        problems.append(f"{site}: no python/ directory")
        return report
    top = {p.name for p in site.iterdir()}
    rules = MODES[mode]
    problems += [f"missing package {n}" for n in sorted(rules["required"] - top)]
    problems += [f"holds {n}, never imported in {mode} mode"
                 for n in sorted(rules["absent"] & top)]  # fmt: skip
    locked, have = pins(mode), installed(site)
    problems += [f"{n} {v} is not the locked {locked.get(n)}"
                 for n, v in sorted(have.items()) if locked.get(n) != v]  # fmt: skip
    problems += [f"locked {n} not installed" for n in sorted(set(locked) - set(have))]
    services = {p.name for p in (site / "botocore" / "data").iterdir() if p.is_dir()}
    if services != BOTOCORE_SERVICES:
        problems.append(f"botocore data holds {sorted(services)}, not {sorted(BOTOCORE_SERVICES)}")
    for source in site.rglob("*.py"):
        report.py += 1
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not cached.is_file():
            problems.append(f"no python3.12 bytecode for {source.relative_to(site)}")
            continue
        report.pyc += 1
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        if flags != UNCHECKED_HASH:
            problems.append(f"{cached.relative_to(site)}: not unchecked-hash bytecode")
    report.mib = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 2**20
    if report.mib > MAX_MIB[mode]:
        problems.append(f"{report.mib:.1f} MiB unzipped, over the {MAX_MIB[mode]} MiB ceiling")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="layer root (holds python/)")
    parser.add_argument("mode", choices=sorted(MODES))
    args = parser.parse_args(argv)
    report = check(args.root, args.mode)
    for problem in report.problems[:50]:
        print(f"layer {args.mode}: {problem}")
    print(f"layer {args.mode}: {report.mib:.1f} MiB unzipped, {report.py} modules, "
          f"{report.pyc} with python3.12 bytecode, {len(report.problems)} problems")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
