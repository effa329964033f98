"""`functions/router/run.sh` started the way the Lambda Web Adapter starts it (SPEC §11), for the
stream-mode tests and the time-to-first-token bench.

The environment is the template's: the Globals' and `RouterStreamFunction`'s variables with
each parameter reference filled in, plus what Lambda itself sets (`AWS_REGION`,
`LAMBDA_TASK_ROOT`, `PATH` with a `python` on it, and no `PYTHONPATH` of ours: run.sh adds the
layer's). Its stdout (EMF lines, JSON logs) is collected line by line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.cfn import REPO, load_template

RUN_SH = REPO / "functions" / "router" / "run.sh"
FUNCTION = "RouterStreamFunction"


def _resolve(value: Any, parameters: Mapping[str, str]) -> str:
    if isinstance(value, dict):
        ((fn, arg),) = value.items()
        assert fn == "Ref", f"unsupported intrinsic in the function's environment: {value}"
        return parameters[arg]
    return str(value)


def template_environment(parameters: Mapping[str, str]) -> dict[str, str]:
    """The stream function's environment variables as the template sets them, its parameter
    references replaced by `parameters`, else by the parameters' defaults."""
    template = load_template(REPO / "template.yaml")
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    values.update(parameters)
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = template["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
    return {name: _resolve(value, values) for name, value in {**shared, **own}.items()}


class RunSh:
    """A running `run.sh`; `lines` is what it has written to stdout and stderr so far."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.port = int(environ["PORT"])
        self.lines: list[str] = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(RUN_SH)], cwd=environ["LAMBDA_TASK_ROOT"], env=dict(environ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Poll `GET /ready` as the adapter does; the seconds it took to answer 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise RuntimeError(f"run.sh exited {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return time.monotonic() - self.started
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"/ready did not answer within {timeout}s: {self.output()}")

    def output(self) -> str:
        return "\n".join(self.lines)

    def json_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                out.append(parsed)
        return out

    def emf_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if "_aws" in line]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        return self.proc.returncode


def lambda_environ(
    template_env: Mapping[str, str], *, port: int, region: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What the Lambda runtime adds around the template's variables: the region, the task root,
    `python` on `PATH` (this interpreter's), fake credentials; `PORT` set to a free port."""
    environ = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAMBDA_TASK_ROOT": str(RUN_SH.parent),
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # Lambda's own PYTHONPATH is /var/runtime; a test run's own (if any) stands in for it
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
        **template_env,
        "PORT": str(port),
        **(extra or {}),
    }
    return environ
