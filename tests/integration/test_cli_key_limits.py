"""`edge-router keys create|update|list` with per-key limits (SPEC §13), on the keys file and on
a moto-server table: the limits are stored with the key, `update` changes only what it is given,
`list` shows them, and the router's lookup (`find`) returns them with the key."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from edge_router.cli.main import main
from edge_router.keys.dynamodb import DynamoKeyStore
from edge_router.keys.store import FileKeyStore, KeyLookup
from edge_router.keys.tokens import hash_key
from edge_router.limits.windows import KeyLimits
from tests.support.moto_dynamodb import MotoTable

pytestmark = pytest.mark.integration


@pytest.fixture(params=["file", "table"])
def where(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], KeyLookup]:
    if request.param == "file":
        path = tmp_path / "keys.json"
        return ["--keys-file", str(path)], FileKeyStore(path)
    table: MotoTable = request.getfixturevalue("moto_table")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint_url)
    return (["--table", table.name, "--table-region", table.region],
            DynamoKeyStore(table=table.name, client=table.client()))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_limits_are_created_updated_listed_and_found_with_the_key(
    where: tuple[list[str], KeyLookup], capsys: pytest.CaptureFixture[str],
) -> None:
    flags, store = where
    code, key, err = run(capsys, "keys", "create", "--name", "app", "--rpm", "60",
                         "--budget-usd", "12.50", *flags)
    assert code == 0, err
    assert "rpm 60, budget $12.50/month" in err
    found = await store.find(hash_key(key.strip()))
    assert found is not None
    assert found.limits == KeyLimits(rpm=60, budget_usd=Decimal("12.50"))
    # WHEN only tpm is changed, the rest stays
    code, out, err = run(capsys, "keys", "update", "--name", "app", "--tpm", "90000", *flags)
    assert code == 0, err
    assert "rpm 60, tpm 90000, budget $12.50/month" in out
    found = await store.find(hash_key(key.strip()))
    assert found is not None
    assert found.limits == KeyLimits(rpm=60, tpm=90000, budget_usd=Decimal("12.50"))
    # AND 0 lifts a limit
    assert run(capsys, "keys", "update", "--name", "app", "--rpm", "0", *flags)[0] == 0
    code, out, _ = run(capsys, "keys", "list", "--json", *flags)
    [row] = json.loads(out)
    assert (row["rpm"], row["tpm"], row["budget_usd"]) == (0, 90000, "12.50")
    code, out, _ = run(capsys, "keys", "list", *flags)
    header, line = out.splitlines()
    assert header.split()[4:7] == ["RPM", "TPM", "BUDGET/MO"]
    assert line.split()[4:7] == ["-", "90000", "$12.50"]


def test_update_refuses_bad_input_and_unknown_keys(
    where: tuple[list[str], KeyLookup], capsys: pytest.CaptureFixture[str],
) -> None:
    flags, _ = where
    assert run(capsys, "keys", "update", "--name", "ghost", "--rpm", "5", *flags)[0] == 1
    assert run(capsys, "keys", "create", "--name", "app", *flags)[0] == 0
    code, _, err = run(capsys, "keys", "update", "--name", "app", *flags)
    assert code == 2 and "nothing to change" in err
    with pytest.raises(SystemExit) as bad:
        main(["keys", "update", "--name", "app", "--rpm", "-1", *flags])
    assert bad.value.code == 2
    assert "must not be negative" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["keys", "create", "--name", "b", "--budget-usd", "lots", *flags])
    assert "not an amount in USD" in capsys.readouterr().err


def no_region_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))


@pytest.mark.parametrize("command", [["usage"], ["keys", "list"]])
def test_a_table_without_a_region_anywhere_is_one_line_naming_the_flags(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    no_region_anywhere(monkeypatch, tmp_path)
    code, out, err = run(capsys, *command, "--table", "edge-router-health")
    assert (code, out) == (2, "")
    assert err == (f"edge-router {command[0]}: no region for the table: give --table-region R "
                   "(or health.table_region in --config, or set AWS_REGION)\n")


def test_usage_reads_the_table_in_the_configs_table_region(
    moto_table: MotoTable, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`--table` with a `--config` naming `health.table_region`: both the keys and the usage are
    read there (usage used to ignore it and fail with botocore's NoRegionError traceback)."""
    no_region_anywhere(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    config = tmp_path / "router.yaml"
    config.write_text(f"health:\n  table_region: {moto_table.region}\n")
    assert run(capsys, "keys", "create", "--name", "app", "--table", moto_table.name,
               "--config", str(config))[0] == 0
    code, out, err = run(capsys, "usage", "--table", moto_table.name, "--config", str(config))
    assert (code, err) == (0, "")
    assert "no usage recorded" in out


def test_days_in_the_wrong_order_say_which_were_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "usage", "--table", "t", "--table-region", "us-east-1",
                       "--until", "2000-01-31")
    assert code == 2
    assert err.startswith("edge-router usage: --since ")
    assert "(the 1st of this month) is after --until 2000-01-31 (given)" in err
    code, _, err = run(capsys, "usage", "--table", "t", "--table-region", "us-east-1",
                       "--since", "2999-01-01")
    assert code == 2
    assert "--since 2999-01-01 (given) is after --until " in err and "(today, UTC)" in err


def test_usage_takes_keys_from_the_file_and_their_usage_from_the_table(
    moto_table: MotoTable, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A `serve` on the table keeps its keys in its keys file: `--table T --keys-file F` reports
    F's keys' usage from T (it used to list T's keys, find none, and say `no usage recorded`);
    `keys` given both refuses to guess which one holds the keys."""
    import asyncio
    import time

    from edge_router.keys.tokens import key_id
    from edge_router.limits.dynamodb import DynamoLimitsStore
    from edge_router.limits.store import Add
    from edge_router.limits.windows import day_sk

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    keys_file = tmp_path / "keys.json"
    code, key, err = run(capsys, "keys", "create", "--name", "app", "--keys-file", str(keys_file))
    assert code == 0, err
    today = time.strftime("%Y-%m-%d", time.gmtime())
    store = DynamoLimitsStore("us-east-1", table=moto_table.name, client=moto_table.client())
    asyncio.run(store.add([Add(key_id(hash_key(key.strip())), day_sk(today, "gpt-4.1", "us-east-1"),
                               {"requests": 3, "prompt_tokens": 30, "completion_tokens": 6},
                               expires_at=int(time.time()) + 3600)]))
    table = ["--table", moto_table.name, "--table-region", moto_table.region]

    code, out, err = run(capsys, "usage", *table, "--keys-file", str(keys_file), "--csv")
    assert (code, err) == (0, "")
    assert out.splitlines()[1].startswith("app,3,30,6,")
    code, out, err = run(capsys, "keys", "list", *table, "--keys-file", str(keys_file))
    assert (code, out) == (2, "")
    assert err == ("edge-router keys: give --table or --keys-file, not both: the keys live in "
                   "one of them\n")
