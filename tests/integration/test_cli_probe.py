"""`edge-router probe` through the console entry point, against the fake upstreams."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_router.cli.main import main
from edge_router.cli.probe import Progress
from edge_router.probe import ProbeResult

from .probe_fakes import FakeUpstreams


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstreams]:
    with FakeUpstreams().running() as server:
        yield server


def write_config(path: Path, upstreams: list[tuple[str, str, str]]) -> str:
    lines = ["upstreams:"]
    for upstream_id, name, base_url in upstreams:
        lines += [
            f"  - id: {upstream_id}",
            f"    name: {name}",
            f"    base_url: {base_url}",
            "    api_key_env: PROBE_TEST_KEY",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def mixed_config(fake: FakeUpstreams, tmp_path: Path) -> str:
    return write_config(
        tmp_path / "mixed.yaml",
        [
            ("ap-northeast", "Seoul", f"{fake.url}/healthy/v1"),
            ("eu-central", "Frankfurt", f"{fake.url}/broken/v1"),
            ("us-east", "Virginia", fake.closed_url),
            ("us-west", "California", f"{fake.url}/slow/v1"),
        ],
    )


def test_table_says_which_upstreams_are_down_and_exits_1(
    mixed_config: str, fake: FakeUpstreams, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reset()
    argv = ["probe", "--config", mixed_config, "--count", "3", "--timeout", "1"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress bar when stderr is not a terminal
    rows = {line.split()[0]: line for line in captured.out.splitlines() if line[:1].isalpha()}
    assert rows["upstream"].split() == [
        "upstream", "name", "min", "avg", "p50", "p95", "errors", "status"
    ]  # fmt: skip
    seoul = rows["ap-northeast"].split()
    assert seoul[1] == "Seoul" and seoul[-2:] == ["0/3", "ok"]
    assert all(float(v) >= 0 for v in seoul[2:6])
    assert rows["eu-central"].split()[2:6] == ["-", "-", "-", "-"]
    assert rows["eu-central"].endswith("3/3  DOWN (HTTP 503, 3/3 failed)")
    assert rows["us-east"].endswith("3/3  DOWN (connection refused, 3/3 failed)")
    assert rows["us-west"].endswith("3/3  DOWN (no answer within 1 s, 3/3 failed)")
    assert "3 of 4 upstreams DOWN: eu-central, us-east, us-west" in captured.out


def test_json_output_and_key_from_the_environment(
    mixed_config: str,
    fake: FakeUpstreams,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.reset()
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-probe-secret")
    argv = ["probe", "--config", mixed_config, "--count", "2", "--timeout", "1", "--json"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "sk-probe-secret" not in out
    assert fake.authorizations == ["Bearer sk-probe-secret"] * 2
    data = json.loads(out)
    assert data["all_reachable"] is False and data["count"] == 2
    by_id = {u["id"]: u for u in data["upstreams"]}
    assert list(by_id) == ["ap-northeast", "eu-central", "us-east", "us-west"]
    seoul = by_id["ap-northeast"]
    assert (seoul["status"], seoul["ok"], seoul["errors"], len(seoul["samples_ms"])) == (
        "ok",
        2,
        0,
        2,
    )
    assert seoul["min_ms"] == min(seoul["samples_ms"])
    assert seoul["p95_ms"] == max(seoul["samples_ms"])
    assert (by_id["us-east"]["status"], by_id["us-east"]["error_counts"]) == (
        "down",
        {"connect": 2},
    )
    assert by_id["eu-central"]["error_counts"] == {"http_503": 2}
    assert by_id["us-west"]["error_counts"] == {"timeout": 2}
    assert by_id["us-west"]["p50_ms"] is None


def test_all_reachable_exits_0(
    fake: FakeUpstreams, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path / "ok.yaml",
        [
            ("a", "Healthy", f"{fake.url}/healthy/v1"),
            ("b", "Denied", f"{fake.url}/denied/v1"),  # a 401 is an answer: reachable
        ],
    )
    assert main(["probe", "--config", config, "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert "all 2 upstreams reachable" in out and "DOWN" not in out


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("upstreams:\n  - id: Bad_Id\n    base_url: http://x/v1\n", encoding="utf-8")
    assert main(["probe", "--config", str(path)]) == 2
    assert "upstreams[0].id" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--count", "0"], ["--timeout", "-1"], ["--concurrency", "x"]])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", *argv])
    assert exit_info.value.code == 2
    assert "edge-router probe: error: argument" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_one_line_on_a_terminal_only() -> None:
    terminal = _Terminal()
    progress = Progress(4, terminal, width=8)
    result = ProbeResult("a", True, 1.0, 200)
    progress.advance(result)
    progress.advance(result)
    assert terminal.getvalue() == "\rprobing [##------] 1/4\rprobing [####----] 2/4"
    progress.clear()
    assert terminal.getvalue().endswith("\r" + " " * len("probing [####----] 2/4") + "\r")
    pipe = io.StringIO()
    silent = Progress(4, pipe)
    silent.advance(result)
    silent.clear()
    assert pipe.getvalue() == ""
