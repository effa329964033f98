"""`edge-router config check` checks what `serve` checks, and says what is wrong in one line:
the key, the file or the environment variable at fault, each named once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_router.cli.main import main

KEYS_MODE = """\
auth: {mode: keys}
upstreams:
  - {id: only, base_url: "http://127.0.0.1:9/v1", api_key_env: TEST_UPSTREAM_KEY}
"""


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["config", "check", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def serve_stderr(path: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`serve` with this config; it fails before binding (the port is never used)."""
    done = subprocess.run(
        [sys.executable, "-m", "edge_router.cli.main", "serve", "--config", str(path),
         "--port", "9"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip
    return done.returncode, done.stderr


def test_keys_mode_with_an_unset_key_variable_fails_check_as_it_fails_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "keys.yaml"
    config.write_text(KEYS_MODE, encoding="utf-8")
    code, out, err = check(config, capsys)
    message = "TEST_UPSTREAM_KEY (environment): upstreams[0].api_key_env names it, but it is not set"
    assert (code, out, err) == (2, "", message + "\n")  # the variable, not the file
    serve_code, serve_err = serve_stderr(config)
    assert serve_code == 2
    assert serve_err == f"edge-router: invalid config: {message}\n"


def test_keys_mode_without_a_keys_file_fails_check_as_it_fails_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-upstream-123")
    config = tmp_path / "keys.yaml"
    config.write_text(KEYS_MODE, encoding="utf-8")
    code, _, err = check(config, capsys)
    assert code == 2
    assert err.startswith(f"{config}: auth.keys_file: {tmp_path}/edge-router-keys.json does not")
    serve_code, serve_err = serve_stderr(config, {"TEST_UPSTREAM_KEY": "sk-upstream-123"})
    assert serve_code == 2
    assert err.removeprefix(f"{config}: ") in serve_err


def test_an_environment_override_is_blamed_on_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ok.yaml"
    config.write_text("routing: {strategy: latency}\n", encoding="utf-8")
    monkeypatch.setenv("EDGE_ROUTER_AUTH_MODE", "bogus")
    code, out, err = check(config, capsys)
    assert (code, out) == (2, "")
    assert err == (
        "EDGE_ROUTER_AUTH_MODE (environment): auth.mode: Input should be 'passthrough' or "
        "'keys'\n"
    )


def test_a_key_error_of_the_file_names_the_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("routing: {strategy: fastest}\n", encoding="utf-8")
    code, _, err = check(config, capsys)
    assert code == 2
    assert err == (
        f"{config}: routing.strategy: Input should be 'failover', 'latency' or 'weighted'\n"
    )


def test_a_yaml_syntax_error_names_the_file_once_and_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "syntax.yaml"
    config.write_text("routing:\n  strategy: [latency\n", encoding="utf-8")
    code, _, err = check(config, capsys)
    assert code == 2
    assert err.count(str(config)) == 1 and "syntax.yaml" not in err.removeprefix(str(config))
    assert err.startswith(f"{config}: not valid YAML (line 3, column 1: ")


def test_a_non_utf8_file_is_a_clear_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("region: 'Zürich'\n".encode("latin-1"))
    code, _, err = check(config, capsys)
    assert (code, err) == (
        2, f"{config}: not UTF-8 text (byte 0xfc at offset 10); save the config as UTF-8\n")
    serve_code, serve_err = serve_stderr(config)
    assert serve_code == 2 and "Traceback" not in serve_err and "not UTF-8" in serve_err


@pytest.mark.parametrize("text", ["", "# nothing here yet\n\n# really\n"])
def test_an_empty_file_says_it_uses_the_built_in_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text(text, encoding="utf-8")
    code, out, _ = check(config, capsys)
    assert code == 0
    assert out.splitlines()[0] == f"{config}: ok (empty: using the built-in defaults)"
    assert out.splitlines()[1].startswith("5 upstreams (ap-northeast, ")


def test_one_upstream_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "one.yaml"
    config.write_text("upstreams: [{id: solo, base_url: 'http://127.0.0.1:9/v1'}]\n",
                      encoding="utf-8")
    code, out, _ = check(config, capsys)
    assert code == 0
    assert out.splitlines() == [
        f"{config}: ok",
        "1 upstream (solo), strategy failover, region local, home solo, health memory, "
        "auth passthrough",
    ]


@pytest.mark.parametrize(
    "argv",
    [["cost", "--bogus"], ["cost", "--tokens", "1M", "--mix", "gpt-4.1=100", "--bogus=1"],
     ["config", "check", "--bogus", "x.yaml"]],
)  # fmt: skip
def test_an_unknown_flag_is_named_even_when_required_ones_are_missing(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_an_unset_ops_token_variable_fails_check_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "ops.yaml"
    config.write_text("ops: {token_env: TEST_OPS_TOKEN}\n", encoding="utf-8")
    code, _, err = check(config, capsys)
    assert (code, err) == (
        2, "TEST_OPS_TOKEN (environment): ops.token_env names it, but it is not set\n")


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    # `edge-router cost … | head -1`: the pipe is closed before the command writes
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "edge_router.cli.main", "cost", "--tokens", "10M", "--mix",
             "gpt-4.1=100"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == ""


def test_the_summary_names_guarded_or_private_ops_endpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OPS_TOKEN", "x" * 20)
    config = tmp_path / "ops.yaml"
    config.write_text("ops: {token_env: TEST_OPS_TOKEN}\n", encoding="utf-8")
    code, out, _ = check(config, capsys)
    assert code == 0 and out.splitlines()[1].endswith(", ops endpoints token from TEST_OPS_TOKEN")
    monkeypatch.setenv("EDGE_ROUTER_OPS_ENDPOINTS", "private")
    code, out, _ = check(config, capsys)
    assert code == 0 and out.splitlines()[1].endswith(", ops endpoints private")
