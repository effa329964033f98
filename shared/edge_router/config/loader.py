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
    """Invalid configuration; the message names the key.

    `source` says where the bad value came from when that is not the key alone: the config
    file (unreadable, not YAML) or an environment variable (`EDGE_ROUTER_AUTH_MODE
    (environment)`). `str()` is `"<source>: <message>"`, so a caller that prefixes the file
    name itself prints `message` for an error with a source, never the file name twice.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


def env_source(name: str) -> str:
    """How a `ConfigError` names an environment variable as its source."""
    return f"{name} (environment)"


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _from_validation(exc: ValidationError, from_env: Mapping[tuple[str, str], str]) -> ConfigError:
    """One `ConfigError` for every failed key; a key set by an environment variable (`from_env`:
    (section, key) -> variable) is blamed on that variable, not on the file."""
    lines = []
    sources = set()
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        variable = from_env.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
        sources.add(variable)
        where = _key_path(loc) if variable is None else f"{_key_path(loc)} (from {variable})"
        lines.append(f"{where}: {message}")
    (only,) = sources if len(sources) == 1 else (None,)
    if only is not None:  # every error comes from one variable: name it, not the file
        lines = [line.replace(f" (from {only})", "", 1) for line in lines]
        return ConfigError("; ".join(lines), source=env_source(only))
    return ConfigError("; ".join(lines))


#: libyaml's safe loader when PyYAML has it (its wheels do): ~6x faster than the pure-Python
#: one on a cold start; the same documents, the same `YAMLError`s.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The file as a mapping; `{}` for an empty or comment-only file (see `is_empty`)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file ({exc.strerror})", source=source) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the config as UTF-8",
            source=source,
        ) from exc
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({_yaml_problem(exc)})", source=source) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("(root): the config file must be a mapping of keys", source=source)
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's problem and position, without its `in "<unicode string>"` noise."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem or exc.context}"
    return str(exc)


#: Environment variables that override a key of the file (SPEC §8): name -> (section, key).
ENV_OVERRIDES = {
    env.HEALTH_STORE: ("health", "store"),
    env.HEALTH_TABLE: ("health", "table"),
    env.HEALTH_TABLE_REGION: ("health", "table_region"),
    env.AUTH_MODE: ("auth", "mode"),
    env.UPSTREAM_SECRET: ("auth", "upstream_secret"),
    env.OPS_ENDPOINTS: ("ops", "endpoints"),
}


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

    for name, (section, key) in ENV_OVERRIDES.items():
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
    for i, upstream in enumerate(config.upstreams):
        for public, name in upstream.model_map.items():
            if not public.strip() or not name.strip():
                raise ConfigError(f"upstreams[{i}].model_map: model names must be non-empty")
    for model, chain in config.model_fallbacks.items():
        for j, fallback in enumerate(chain):
            if not fallback.strip():
                raise ConfigError(f"model_fallbacks.{model}[{j}]: must be a model name")
            if fallback == model or fallback in chain[:j]:
                raise ConfigError(
                    f"model_fallbacks.{model}[{j}]: '{fallback}' is already in the chain "
                    "(a model appears at most once)"
                )
            if not any(u.serves(fallback) for u in config.upstreams):
                raise ConfigError(
                    f"model_fallbacks.{model}[{j}]: no upstream serves '{fallback}' "
                    "(every upstream's `models:` list leaves it out)"
                )
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
    environ = environ or {}
    merged = merge_defaults(raw, environ=environ, region=region)
    from_env = {where: name for name, where in ENV_OVERRIDES.items() if _env(environ, name)}
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        raise _from_validation(exc, from_env) from exc
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
    """One line for `config check` and the server's start-up log (the ops endpoints only when
    they differ from the open default)."""
    count = len(config.upstreams)
    ops = "private" if config.ops.endpoints == "private" else None
    if ops is None and config.ops.token_env:
        ops = f"token from {config.ops.token_env}"
    return (
        f"{count} upstream{'' if count == 1 else 's'} "
        f"({', '.join(u.id for u in config.upstreams)}), "
        f"strategy {config.routing.strategy}, region {config.region}, "
        f"home {config.home_upstream or config.upstreams[0].id}, "
        f"health {config.health.store}, auth {config.auth.mode}"
    ) + (f", ops endpoints {ops}" if ops else "")
