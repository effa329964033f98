"""Upstream keys in keys mode: which key the router sends to each upstream (SPEC §7, §8).

Per upstream, the first of these that has a key wins:
  1. `auth.upstream_secret` (`EDGE_ROUTER_UPSTREAM_SECRET`): a Secrets Manager secret whose value
     is one key for every upstream, or a JSON object `{upstream_id: key}` (ids it lacks fall
     through). Environment beats file here as everywhere in Lambda configuration;
  2. the upstream's `api_key_secret`: a secret holding the key (or `{upstream_id: key}`);
  3. the upstream's `api_key_env`: an environment variable, read once at start.
Everything is resolved once at start (`UpstreamKeys.check`); a missing key is a `ConfigError`
naming the key or the variable, e.g.
`HOLYSHEEP_API_KEY (environment): upstreams[0].api_key_env names it, but it is not set`. Secrets are
re-read through `fetch`, which caches (Powertools `max_age`), so a rotated secret is picked up
without a restart; when a re-read fails, the last good key is kept. Every key found is handed
to `on_key` (the log redactor). No message here ever carries a key.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..config import Config, ConfigError
from ..config.loader import env_source

log = logging.getLogger(__name__)

_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


class SecretError(Exception):
    """A secret could not be read; the message names the secret and the AWS error code only."""


#: name -> secret value (cached by the caller, e.g. Powertools `SecretsProvider.get(max_age=…)`).
SecretFetch = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Source:
    """Where one upstream's key comes from; `where` is the config key named in errors."""

    kind: str  # "env" | "secret"
    name: str  # variable name or secret id
    where: str


def key_from_secret(value: str, upstream_id: str) -> str | None:
    """The key for `upstream_id` in a secret's value: the whole string, or the object's entry."""
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        entry = data.get(upstream_id) if isinstance(data, dict) else None
        return entry.strip() if isinstance(entry, str) and entry.strip() else None
    return text or None


class UpstreamKeys:
    """`keys(upstream_id) -> key`: the provider `build_deps(upstream_auth=...)` takes."""

    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str],
        *,
        fetch: SecretFetch | None = None,
        on_key: Callable[[str], None] = lambda key: None,
    ) -> None:
        self.config = config
        self.environ = environ
        self.fetch = fetch
        self.on_key = on_key
        self.sources: dict[str, Source] = {}
        self._keys: dict[str, str] = {}

    def check(self) -> None:
        """Find every upstream's key now; raise `ConfigError` naming the first that is missing."""
        shared = self.config.auth.upstream_secret
        for i, upstream in enumerate(self.config.upstreams):
            candidates: list[Source] = []
            if shared:
                candidates.append(Source("secret", shared, "auth.upstream_secret"))
            if upstream.api_key_secret:
                candidates.append(
                    Source("secret", upstream.api_key_secret, f"upstreams[{i}].api_key_secret"))
            if upstream.api_key_env:
                candidates.append(Source("env", upstream.api_key_env, f"upstreams[{i}].api_key_env"))
            if not candidates:
                raise ConfigError(
                    f"upstreams[{i}]: keys mode needs an upstream key for '{upstream.id}': set "
                    "api_key_env or api_key_secret, or auth.upstream_secret "
                    "(EDGE_ROUTER_UPSTREAM_SECRET)"
                )
            for n, source in enumerate(candidates):
                key = self._read(source, upstream.id, last=n == len(candidates) - 1)
                if key is not None:
                    self.sources[upstream.id] = source
                    self._keep(upstream.id, key)
                    break

    def _read(self, source: Source, upstream_id: str, *, last: bool) -> str | None:
        """The key `source` gives `upstream_id`; None lets the next source try, unless `last`."""
        if source.kind == "env":
            key = (self.environ.get(source.name) or "").strip() or None
            if key is None:
                raise ConfigError(
                    f"{source.where} names it, but it is not set", source=env_source(source.name)
                )
        else:
            if self.fetch is None:
                raise ConfigError(f"{source.where}: no Secrets Manager client to read it with")
            try:
                value = self.fetch(source.name)
            except SecretError as exc:
                raise ConfigError(f"{source.where}: {exc}") from exc
            key = key_from_secret(value, upstream_id)
            if key is None and (last or source.where != "auth.upstream_secret"):
                raise ConfigError(
                    f"{source.where}: secret {source.name!r} has no key for upstream "
                    f"'{upstream_id}' (expected a key, or JSON {{\"{upstream_id}\": key}})"
                )
        if key is not None and not _HEADER_SAFE.match(key):
            raise ConfigError(
                f"{source.where}: the key for '{upstream_id}' has characters an HTTP header "
                "cannot carry (spaces, line breaks or non-ASCII)"
            )
        return key

    def _keep(self, upstream_id: str, key: str) -> None:
        if self._keys.get(upstream_id) != key:
            self.on_key(key)
            self._keys[upstream_id] = key

    def __call__(self, upstream_id: str) -> str | None:
        source = self.sources.get(upstream_id)
        if source is None or source.kind == "env" or self.fetch is None:
            return self._keys.get(upstream_id)
        try:
            key = key_from_secret(self.fetch(source.name), upstream_id)
        except SecretError as exc:
            log.warning("cannot refresh the key for %s (%s); keeping the last one", upstream_id, exc)
            key = None
        if key is not None and _HEADER_SAFE.match(key):
            self._keep(upstream_id, key)
        return self._keys.get(upstream_id)

    def values(self) -> list[str]:
        """Every key currently held (for the redactor and tests)."""
        return list(self._keys.values())
