"""Small promises of the project files themselves."""

from __future__ import annotations

import tomllib

from tests.support.cfn import REPO


def test_the_license_is_an_spdx_string_so_setuptools_warns_of_nothing() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"  # a TOML table is deprecated (setuptools 77)
    assert "setuptools>=77" in project["build-system"]["requires"]


def test_the_simulator_config_of_the_quick_start_is_never_committed() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "sim.yaml" in ignored
