"""One lock for every environment (SPEC §14): `uv.lock` agrees with `pyproject.toml`, the test
venv runs exactly the locked versions, and the Lambda layer's requirements are the lock's.

Uses the uv binary the Makefile installs (`.venv-uv/bin/uv`); `--offline`: no network needed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import tomllib
from types import ModuleType

import pytest

from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

LOCK = REPO / "uv.lock"
PROJECT = "holysheep-edge-router"


def gen_requirements() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_requirements", REPO / "infra" / "gen_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, set[str]]:
    """name -> its versions in the lock (a universal lock may hold two, split by markers such
    as `python_full_version >= '3.12'`)."""
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads(LOCK.read_text(encoding="utf-8"))["package"]:
        if "version" in package:
            versions.setdefault(normalize(package["name"]), set()).add(package["version"])
    return versions


def pinned(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file (markers and hashes ignored)."""
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[normalize(match[1])] = match[2]
    return pins


def test_lock_agrees_with_pyproject() -> None:
    """A dependency added to pyproject.toml without `make lock` fails here (and `make test`
    stops at `uv sync --locked` before running anything)."""
    result = subprocess.run(
        [gen_requirements().uv_binary(), "lock", "--check", "--offline"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "mode", "hashes"), [
    ("requirements-buffered.txt", "buffered", True),
    ("requirements-stream.txt", "stream", True),
    ("requirements.txt", "buffered", False),
])  # fmt: skip
def test_layer_requirements_are_exported_from_the_lock(name: str, mode: str, hashes: bool) -> None:
    gen = gen_requirements()
    assert gen.FILES[name] == (mode, hashes)
    committed = (REPO / "shared" / name).read_text(encoding="utf-8")
    assert committed == gen.export(mode, hashes=hashes), f"shared/{name} differs: make lock"


def test_layer_pins_are_the_locked_versions() -> None:
    """Independent of uv's exporter: every pin in the layers' files is the lock's version, and
    every runtime dependency of the project is pinned in one of them, but for those both
    layers leave out on purpose (`gen_requirements.PRUNED`: `serve`'s alone)."""
    lock = locked_versions()
    layers: dict[str, str] = {}
    for mode in ("buffered", "stream"):
        pins = pinned((REPO / "shared" / f"requirements-{mode}.txt").read_text(encoding="utf-8"))
        assert pins, f"no pins in shared/requirements-{mode}.txt"
        layers.update(pins)
    assert {name: version for name, version in layers.items()
            if version not in lock.get(name, set())} == {}  # fmt: skip
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {normalize(re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0])
                for dep in project["dependencies"]}  # fmt: skip
    pruned = gen_requirements().PRUNED
    serve_only = {normalize(n) for n in pruned["buffered"]} & {normalize(n) for n in pruned["stream"]}
    assert declared - serve_only <= set(layers), declared - set(layers)


def test_the_test_venv_runs_the_locked_versions() -> None:
    """`make test` installed this venv from the lock: every locked package that is installed
    here has exactly the locked version (a `pip install -U` by hand fails this)."""
    lock = locked_versions()
    installed = {
        normalize(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    for name in ("fastapi", "aiohttp", "boto3", "pydantic", "pytest", "moto", "openai"):
        assert name in installed, name
    drift = {
        name: (version, lock[name])
        for name, version in installed.items()
        if name in lock and name != PROJECT and version not in lock[name]
    }
    assert drift == {}, f"installed != locked (installed, locked): {drift}; run `make test`"
