"""Load, merge and validate the configuration (SPEC §4, §8).

`load_config(path, environ=..., region=...)` is the one way in: it reads the YAML file, merges it
over the built-in defaults, applies environment overrides (an empty variable counts as unset),
resolves the router's region and checks cross-references. Every failure is a `ConfigError` whose
message starts with the offending key, e.g. `upstreams[1].fallbacks[0]: unknown upstream id 'x'`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import env
from .defaults import DEFAULT_HOME, DEFAULT_PRICING, DEFAULT_UPSTREAMS
from .model import Config


class ConfigError(ValueError):
    """Invalid configuration; the message names the key."""


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _from_validation(exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{_key_path(loc)}: {message}")
    return ConfigError("; ".join(lines))


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("(root): the config file must be a mapping of keys")
    return data


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "")
    return value or None


def merge_defaults(
    raw: Mapping[str, Any], *, environ: Mapping[str, str], region: str | None
) -> dict[str, Any]:
    """The raw dict the model validates: defaults, then the file, then the environment."""
    data: dict[str, Any] = dict(raw)
    user_upstreams = "upstreams" in data
    data.setdefault("upstreams", DEFAULT_UPSTREAMS)
    if "home" not in data:
        ids = {u.get("id") for u in data["upstreams"] if isinstance(u, Mapping)}
        # A user upstream list replaces the default; default home entries to ids it lacks drop.
        data["home"] = {r: u for r, u in DEFAULT_HOME.items() if not user_upstreams or u in ids}
    pricing = dict(DEFAULT_PRICING)
    if isinstance(data.get("pricing"), Mapping):
        pricing.update(data["pricing"])
    elif data.get("pricing") is not None:
        raise ConfigError("pricing: must be a mapping of model -> {input, output}")
    data["pricing"] = pricing

    overrides = {
        env.HEALTH_STORE: ("health", "store"),
        env.HEALTH_TABLE: ("health", "table"),
        env.HEALTH_TABLE_REGION: ("health", "table_region"),
        env.AUTH_MODE: ("auth", "mode"),
        env.UPSTREAM_SECRET: ("auth", "upstream_secret"),
    }
    for name, (section, key) in overrides.items():
        value = _env(environ, name)
        if value is not None:
            current = data.get(section) or {}
            if not isinstance(current, Mapping):
                raise ConfigError(f"{section}: must be a mapping")
            data[section] = {**current, key: value}
    data["region"] = (
        region
        or _env(environ, env.REGION)
        or _env(environ, env.AWS_REGION)
        or data.get("region")
        or "local"
    )
    return data


def _check_references(config: Config) -> None:
    ids = [u.id for u in config.upstreams]
    if not ids:
        raise ConfigError("upstreams: at least one upstream is required")
    seen: set[str] = set()
    for i, upstream in enumerate(config.upstreams):
        if upstream.id in seen:
            raise ConfigError(f"upstreams[{i}].id: duplicate upstream id '{upstream.id}'")
        seen.add(upstream.id)
    for i, upstream in enumerate(config.upstreams):
        for j, fallback in enumerate(upstream.fallbacks):
            if fallback not in seen:
                raise ConfigError(f"upstreams[{i}].fallbacks[{j}]: unknown upstream id '{fallback}'")
    for router_region, upstream_id in config.home.items():
        if upstream_id not in seen:
            raise ConfigError(f"home.{router_region}: unknown upstream id '{upstream_id}'")
    if config.routing.backoff_cap_s < config.routing.backoff_base_s:
        raise ConfigError("routing.backoff_cap_s: must be >= routing.backoff_base_s")
    if config.auth.mode == "keys":
        for i, upstream in enumerate(config.upstreams):
            if upstream.api_key_env and upstream.api_key_secret:
                raise ConfigError(
                    f"upstreams[{i}]: set api_key_env or api_key_secret, not both"
                )


def build_config(
    raw: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    region: str | None = None,
) -> Config:
    """Validate a raw mapping (as read from YAML) into a `Config`."""
    merged = merge_defaults(raw, environ=environ or {}, region=region)
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        raise _from_validation(exc) from exc
    _check_references(config)
    return config


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    region: str | None = None,
) -> Config:
    """The config from `path`, else `$EDGE_ROUTER_CONFIG`, else the built-in default."""
    environ = environ or {}
    path = path or _env(environ, env.CONFIG)
    raw = read_yaml(path) if path else {}
    return build_config(raw, environ=environ, region=region)


def summary(config: Config) -> str:
    """One line for `config check` and the server's start-up log."""
    return (
        f"{len(config.upstreams)} upstreams ({', '.join(u.id for u in config.upstreams)}), "
        f"strategy {config.routing.strategy}, region {config.region}, "
        f"home {config.home_upstream or config.upstreams[0].id}, "
        f"health {config.health.store}, auth {config.auth.mode}"
    )
