"""The shared layer as `shared/Makefile` builds it (SPEC §14), in both response modes.

Built here for this machine's platform (x86_64 wheels of the same locked versions; `make build`
builds the arm64 one with the same recipe and runs the same static checks on it) with the
python3.12 Lambda runs, then:
- `infra/check_layer.py`: the mode's packages and none of the never-imported ones, exactly the
  locked versions, unchecked-hash python3.12 bytecode for every module, botocore's data cut to
  the services used, the size ceiling;
- the functions import from the layer alone (`python3.12 -S`: no site-packages), and every
  package in the layer is one they import, but for the few listed with their reason.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

MODES = ("buffered", "stream")
HOST_PLATFORM = "manylinux2014_x86_64 manylinux_2_28_x86_64"
#: In the layer without being imported by a cold start or a first request, and why.
NOT_IMPORTED = {
    "boto3": "Powertools Parameters (keys mode: the upstream secret) builds a boto3 client",
    "s3transfer": "imported by boto3",
    "opentelemetry": "a dependency of aws-lambda-powertools, imported only by its tracer",
    "annotated_doc": "a dependency of fastapi, imported for docs-only annotations",
    "attrs": "the attrs distribution's second name; aiohttp imports the first, attr",
    "_yaml": "PyYAML's compatibility shim; yaml imports yaml._yaml",
}
#: Imported by botocore's DynamoDB client, which a container builds only without static
#: credentials (SnapStart's container credentials); with them it is `aws/dynamodb.py`'s.
BOTOCORE_CLIENT_ONLY = {"urllib3", "dateutil", "six"}
#: The same, per mode.
NOT_IMPORTED_IN = {
    "buffered": NOT_IMPORTED,
    "stream": {**NOT_IMPORTED, "h11": "uvicorn's pure-Python HTTP parser; httptools is used"},
}
#: What each mode's functions import: both handlers, and the lazily built FastAPI routes.
IMPORTS = {
    "buffered": ("functions.router.handler", "functions.health_checker.handler",
                 "edge_router.api.app"),
    "stream": ("functions.health_checker.handler", "edge_router.runtime.lambda_stream",
               "uvicorn", "uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl"),
}  # fmt: skip

_IMPORT_ALL = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
layer = sys.path[0]
print(json.dumps(sorted({m.split(".")[0] for m, mod in list(sys.modules.items())
    if (getattr(mod, "__file__", None) or "").startswith(layer)})))
"""


@functools.cache
def python312() -> str:
    """The real python3.12 (through pyenv's shim, as the Makefile's SAM_PYENV does)."""
    environ = {**os.environ, "PYENV_VERSION": "3.12.1:3.11.7"}
    found = shutil.which("python3.12", path=environ.get("PATH"))
    assert found, "python3.12 is needed to build the layer (Lambda's runtime): not on PATH"
    return subprocess.run([found, "-c", "import sys; print(sys.executable)"], env=environ,
                          capture_output=True, text=True, check=True).stdout.strip()


def check_layer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layer", REPO / "infra" / "check_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Both layers, built side by side with `make -C shared layer`."""
    root = tmp_path_factory.mktemp("layers")
    environ = {**os.environ, "PYENV_VERSION": "3.12.1:3.11.7"}
    builds = {
        mode: subprocess.Popen(
            ["make", "-s", "-C", str(REPO / "shared"), "layer", f"MODE={mode}",
             f"ARTIFACTS_DIR={root / mode}", f"PLATFORM={HOST_PLATFORM}",
             f"PYTHON312={python312()}"],
            env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for mode in MODES
    }  # fmt: skip
    for mode, build in builds.items():
        output, _ = build.communicate(timeout=600)
        assert build.returncode == 0, f"layer {mode} build failed:\n{output[-3000:]}"
    yield {mode: root / mode for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_the_layer_holds_what_the_mode_needs_locked_and_compiled(
    layers: dict[str, Path], mode: str
) -> None:
    report = check_layer().check(layers[mode], mode)
    assert report.problems == []
    assert report.pyc == report.py > 500


@pytest.mark.parametrize("mode", MODES)
def test_the_functions_import_from_the_layer_alone_and_use_all_of_it(
    layers: dict[str, Path], mode: str
) -> None:
    site = layers[mode] / "python"
    base = {
        "PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1",
        "EDGE_ROUTER_CONFIG": str(REPO / "config" / "edge-router.yaml"),
        "EDGE_ROUTER_HEALTH_STORE": "dynamodb", "EDGE_ROUTER_HEALTH_TABLE": "t",
        "POWERTOOLS_SERVICE_NAME": "edge-router", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
    }  # fmt: skip
    static = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}  # a function's role
    container = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN": "x"}  # SnapStart's  # fmt: skip
    imported: dict[str, set[str]] = {}
    for name, credentials in (("static", static), ("container", container)):
        result = subprocess.run(
            [python312(), "-S", "-c", _IMPORT_ALL, *IMPORTS[mode]],
            env={**base, **credentials}, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        imported[name] = set(json.loads(result.stdout.strip().splitlines()[-1]))
    packages = {p.name.removesuffix(".py") for p in site.iterdir()
                if not p.name.endswith(".dist-info") and p.name != "__pycache__"}  # fmt: skip
    packages = {name.split(".")[0] for name in packages}
    assert packages - imported["static"] - imported["container"] - set(NOT_IMPORTED_IN[mode]) == set()
    assert set(NOT_IMPORTED_IN[mode]) <= packages
    # the cold start with static credentials builds no botocore client (SPEC §14)
    assert (imported["container"] - imported["static"]) & packages == BOTOCORE_CLIENT_ONLY
