"""The configuration model (SPEC §4): frozen pydantic models, every key optional.

Unknown keys are errors (a typo must not silently fall back to a default); cross-references
(`home`, `fallbacks`) are checked in `loader.py` once defaults are merged.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

UPSTREAM_ID = re.compile(r"^[a-z0-9-]+$")
_ORIGIN = re.compile(r"^https?://[^\s/?#]+$")

PositiveSeconds = Annotated[float, Field(gt=0)]
NonNegativeSeconds = Annotated[float, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Upstream(_Frozen):
    id: str
    name: str = ""
    base_url: str
    weight: Annotated[int, Field(ge=0)] = 1
    fallbacks: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    #: public model name -> this upstream's name for it (SPEC §12); `models` uses public names
    model_map: dict[str, str] = Field(default_factory=dict)
    api_key_env: str | None = None
    api_key_secret: str | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not UPSTREAM_ID.match(value):
            raise ValueError("must match [a-z0-9-]+")
        return value

    @field_validator("base_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError("must be an http(s) URL such as https://api.example.com/v1")
        return value.rstrip("/")

    def serves(self, model: str) -> bool:
        return not self.models or model in self.models


class Routing(_Frozen):
    strategy: Literal["failover", "latency", "weighted"] = "failover"
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    connect_timeout_s: PositiveSeconds = 2.0
    first_byte_timeout_s: PositiveSeconds = 20.0
    deadline_s: PositiveSeconds = 25.0
    backoff_base_s: NonNegativeSeconds = 0.1
    backoff_cap_s: NonNegativeSeconds = 2.0
    retry_after_max_s: NonNegativeSeconds = 5.0
    retry_after_cap_s: NonNegativeSeconds = 300.0  # the longest rate-limit mark an answer sets
    retry_budget: Annotated[float, Field(ge=0, le=10)] = 0.2
    retry_budget_min_per_s: Annotated[float, Field(ge=0)] = 10
    max_model_fallbacks: Annotated[int, Field(ge=0, le=10)] = 2
    stream_keepalive_s: NonNegativeSeconds = 15.0  # SSE comment after this much silence; 0 = off


class Breaker(_Frozen):
    consecutive_failures: Annotated[int, Field(ge=1)] = 3
    consecutive_errors: Annotated[int, Field(ge=1)] = 10
    cooldown_s: PositiveSeconds = 30
    max_cooldown_s: PositiveSeconds = 300


class Health(_Frozen):
    store: Literal["memory", "dynamodb"] = "memory"
    table: str = "edge-router-health"
    table_region: str | None = None
    sync_interval_s: PositiveSeconds = 10
    timeout_ms: Annotated[float, Field(gt=0, le=5000)] = 200


class Auth(_Frozen):
    mode: Literal["passthrough", "keys"] = "passthrough"
    keys_file: str = "edge-router-keys.json"
    upstream_secret: str | None = None


class Limits(_Frozen):
    """Request caps, checked before any upstream call (400 `invalid_field`). `None` = no cap:
    the upstream's own limits apply (see docs/security.md for suggested values).

    The hostile-input limits of SPEC §3 are always on: `max_model_chars` (400), the HTTP
    server's `max_header_bytes` (431), `header_timeout_s`, `body_idle_timeout_s` and
    `max_connections`, the upstream answer's `max_response_bytes` (after decompression), and
    `forwarded_allow_ips`: the only peers whose `X-Forwarded-*` headers are believed."""

    max_body_bytes: Annotated[int, Field(ge=1024)] = 6_291_456
    max_model_chars: Annotated[int, Field(ge=1, le=65536)] = 256
    max_header_bytes: Annotated[int, Field(ge=1024)] = 65_536
    header_timeout_s: PositiveSeconds = 10.0
    body_idle_timeout_s: PositiveSeconds = 30.0
    max_connections: Annotated[int, Field(ge=1)] = 1000
    max_response_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024
    forwarded_allow_ips: tuple[str, ...] = ()
    max_n: Annotated[int, Field(ge=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_messages: Annotated[int, Field(ge=1)] | None = None


class Ops(_Frozen):
    """The operator endpoints `/status`, `/dashboard`, `/metrics` (SPEC §15).

    `token_env`: a variable holding a bearer token those endpoints then require (in keys mode a
    router key no longer opens them). `endpoints: private` answers 404 for them (the template's
    `OpsEndpoints` parameter, through `EDGE_ROUTER_OPS_ENDPOINTS`); `/health` and `/ready` stay.
    """

    token_env: str | None = None
    endpoints: Literal["public", "private"] = "public"


def _origin(value: str) -> str:
    if value != "*" and not _ORIGIN.match(value):
        raise ValueError(
            f"{value!r} is not an origin such as https://app.example.com "
            "(scheme and host, optional port, no path) or '*'"
        )
    return value


class Cors(_Frozen):
    """Browser apps calling the router directly (SPEC §12): the origins allowed, e.g.
    `https://app.example.com`; `"*"` allows any. Empty = no CORS headers at all."""

    allow_origins: tuple[Annotated[str, AfterValidator(_origin)], ...] = ()


class Price(_Frozen):
    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]


class Config(_Frozen):
    upstreams: tuple[Upstream, ...]
    home: dict[str, str] = Field(default_factory=dict)
    routing: Routing = Routing()
    breaker: Breaker = Breaker()
    health: Health = Health()
    auth: Auth = Auth()
    limits: Limits = Limits()
    ops: Ops = Ops()
    cors: Cors = Cors()
    #: model -> the models to try, in order, when it fails everywhere (SPEC §12)
    model_fallbacks: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    pricing: dict[str, Price] = Field(default_factory=dict)
    region: str = "local"

    def upstream(self, upstream_id: str) -> Upstream:
        for upstream in self.upstreams:
            if upstream.id == upstream_id:
                return upstream
        raise KeyError(upstream_id)

    @property
    def home_upstream(self) -> str | None:
        return self.home.get(self.region)
