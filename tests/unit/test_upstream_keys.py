"""Upstream keys in keys mode: sources, precedence, start-up errors naming the key, rotation."""

from __future__ import annotations

from typing import Any

import pytest

from edge_router.config import ConfigError, build_config
from edge_router.keys.upstream import SecretError, UpstreamKeys, key_from_secret


def config(*upstreams: dict[str, Any], secret: str | None = None) -> Any:
    auth: dict[str, Any] = {"mode": "keys"}
    if secret:
        auth["upstream_secret"] = secret
    return build_config({"upstreams": list(upstreams), "auth": auth})


def up(upstream_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": upstream_id, "base_url": f"http://{upstream_id}.test/v1", **extra}


class Secrets:
    """A fake Secrets Manager: values by name; `fail` names that raise."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.fail: set[str] = set()
        self.reads: list[str] = []

    def __call__(self, name: str) -> str:
        self.reads.append(name)
        if name in self.fail or name not in self.values:
            raise SecretError(f"cannot read secret {name!r} (ResourceNotFoundException)")
        return self.values[name]


def test_env_key_is_read_once_and_stripped() -> None:
    seen: list[str] = []
    keys = UpstreamKeys(config(up("a", api_key_env="A_KEY")), {"A_KEY": " key-a-123\n"},
                        on_key=seen.append)
    keys.check()
    assert keys("a") == "key-a-123"
    assert seen == ["key-a-123"]


def test_missing_env_key_is_a_config_error_naming_it() -> None:
    keys = UpstreamKeys(config(up("a", api_key_env="A_KEY"), up("b", api_key_env="HOLYSHEEP_API_KEY")),
                        {"A_KEY": "key-a-123", "HOLYSHEEP_API_KEY": ""})
    with pytest.raises(ConfigError) as info:
        keys.check()
    assert str(info.value) == (
        "HOLYSHEEP_API_KEY (environment): upstreams[1].api_key_env names it, but it is not set"
    )


def test_upstream_without_any_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^upstreams\[0\]: keys mode needs an upstream key"):
        UpstreamKeys(config(up("a")), {}).check()


def test_key_that_cannot_be_a_header_is_refused_without_quoting_it() -> None:
    keys = UpstreamKeys(config(up("a", api_key_env="A_KEY")), {"A_KEY": "bad key\r\nX: y"})
    with pytest.raises(ConfigError) as info:
        keys.check()
    assert str(info.value).startswith("upstreams[0].api_key_env:")
    assert "bad key" not in str(info.value)


def test_shared_secret_plain_string_serves_every_upstream_over_env() -> None:
    secrets = Secrets(shared="shared-key-1")
    cfg = config(up("a", api_key_env="A_KEY"), up("b", api_key_env="B_KEY"), secret="shared")
    keys = UpstreamKeys(cfg, {}, fetch=secrets)  # the env vars are not even set
    keys.check()
    assert keys("a") == keys("b") == "shared-key-1"


def test_shared_secret_json_object_falls_through_for_ids_it_lacks() -> None:
    secrets = Secrets(shared='{"a": "key-for-a-1"}', own="key-for-b-secret")
    cfg = config(up("a", api_key_env="A_KEY"), up("b", api_key_secret="own"),
                 up("c", api_key_env="C_KEY"), secret="shared")
    keys = UpstreamKeys(cfg, {"C_KEY": "key-for-c-env"}, fetch=secrets)
    keys.check()
    assert (keys("a"), keys("b"), keys("c")) == ("key-for-a-1", "key-for-b-secret", "key-for-c-env")


def test_unreadable_secret_names_the_config_key() -> None:
    cfg = config(up("a", api_key_secret="prod/holysheep"))
    with pytest.raises(ConfigError, match=r"^upstreams\[0\]\.api_key_secret: cannot read secret"):
        UpstreamKeys(cfg, {}, fetch=Secrets()).check()


def test_shared_secret_missing_an_id_with_no_fallback_is_an_error() -> None:
    cfg = config(up("a"), secret="shared")
    with pytest.raises(ConfigError, match=r"^auth\.upstream_secret: secret 'shared' has no key"):
        UpstreamKeys(cfg, {}, fetch=Secrets(shared='{"b": "key-b-123"}')).check()


def test_rotated_secret_is_used_and_a_failed_refresh_keeps_the_last_key() -> None:
    seen: list[str] = []
    secrets = Secrets(s="key-old-123")
    keys = UpstreamKeys(config(up("a", api_key_secret="s")), {}, fetch=secrets, on_key=seen.append)
    keys.check()
    secrets.values["s"] = "key-new-456"
    assert keys("a") == "key-new-456"
    secrets.fail.add("s")
    assert keys("a") == "key-new-456"
    assert seen == ["key-old-123", "key-new-456"]  # every key reaches the redactor


@pytest.mark.parametrize(("value", "expected"), [
    ("plain-key", "plain-key"),
    ("  plain-key\n", "plain-key"),
    ('{"a": "k-a"}', "k-a"),
    ('{"b": "k-b"}', None),
    ('{"a": 5}', None),
    ("{not json", None),
    ("", None),
])
def test_key_from_secret(value: str, expected: str | None) -> None:
    assert key_from_secret(value, "a") == expected
