"""`edge-router cost` through the real console entry point: table, JSON, exit codes, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_router.cli.main import main

SCENARIO_A = "claude-sonnet-4.5=60,gpt-4.1=30,gemini-2.5-flash=10"


def test_table_for_scenario_a(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["cost", "--tokens", "10M", "--mix", SCENARIO_A])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    row = {line.split()[0]: line.split() for line in lines if line[:1].isalpha()}
    assert row["claude-sonnet-4.5"][1:] == [
        "60%", "3,600,000", "2,400,000", "15.00", "/", "15.00", "$54.00", "$36.00", "$90.00"
    ]  # fmt: skip
    assert row["gpt-4.1"][-3:] == ["$14.40", "$9.60", "$24.00"]
    assert row["gemini-2.5-flash"][-3:] == ["$1.50", "$1.00", "$2.50"]
    assert row["total"][1:] == ["100%", "6,000,000", "4,000,000", "$69.90", "$46.60", "$116.50"]
    assert "10,000,000 tokens, 40% of them output" in lines[0]


def test_json_for_scenario_c(capsys: pytest.CaptureFixture[str]) -> None:
    # C: 5M x $8 + 4M x $15 + 1M x $0.42 = 40 + 60 + 0.42
    argv = ["cost", "--tokens", "1e7", "--mix", "gpt-4.1=50,claude-sonnet-4.5=40,deepseek-v3.2=10"]
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_usd"] == 100.42
    assert data["tokens"] == 10_000_000 and data["output_share"] == 0.4
    assert [(m["model"], m["total_usd"]) for m in data["models"]] == [
        ("gpt-4.1", 40),
        ("claude-sonnet-4.5", 60),
        ("deepseek-v3.2", 0.42),
    ]
    assert data["models"][2]["input_tokens"] == 600_000
    assert data["models"][2]["output_usd"] == 0.168  # 400k x 0.42 / 1M


def test_config_prices_with_different_input_and_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "edge-router.yaml"
    config.write_text("pricing:\n  house-model: {input: 3.00, output: 15.00}\n", encoding="utf-8")
    argv = ["cost", "--tokens", "10M", "--mix", "house-model=100", "--config", str(config)]
    # 6M in x $3 = 18, 4M out x $15 = 60 -> 78
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["input_usd"], data["output_usd"], data["total_usd"]) == (18, 60, 78)
    # 25 % output: 7.5M x $3 = 22.5, 2.5M x $15 = 37.5 -> 60
    assert main([*argv, "--output-share", "0.25", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == 60


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tokens", "10Q", "--mix", SCENARIO_A], "--tokens: '10Q' is not a token count"),
        (["--tokens", "10M", "--mix", "gpt-4.1=60,deepseek-v3.2=30"], "they sum to 90"),
        (
            ["--tokens", "10M", "--mix", "llama-3=100"],
            "no price for llama-3; known models: claude-sonnet-4.5, deepseek-v3.2, "
            "gemini-2.5-flash, gpt-4.1",
        ),
        (["--tokens", "10M", "--mix", SCENARIO_A, "--output-share", "40"], "from 0 to 1"),
        (["--tokens", "10M", "--mix", SCENARIO_A, "--config", "/nonexistent.yaml"], "cannot read"),
    ],
)
def test_user_errors_exit_2_with_message_on_stderr(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("edge-router cost: ") and message in captured.err
