"""`--write-config`: a router YAML config whose upstreams are the simulated ones.

HolySheep's five ids keep their default name, weight and fallbacks (fallbacks to ids that are not
simulated are dropped); other ids get weight 1 and no fallbacks. `home` maps the router region
`local` (what `serve` runs as without `--region`) to the first upstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..config.defaults import DEFAULT_UPSTREAMS

__all__ = ["config_dict", "write_config"]

_DEFAULTS = {u["id"]: u for u in DEFAULT_UPSTREAMS}


def config_dict(upstreams: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The config for `(id, base_url)` pairs, in priority order."""
    ids = {upstream_id for upstream_id, _ in upstreams}
    entries = []
    for upstream_id, base_url in upstreams:
        default = _DEFAULTS.get(upstream_id)
        if default is None:
            name, weight, fallbacks = f"Simulated {upstream_id}", 1, []
        else:
            name, weight = f"{default['name']} (simulated)", default["weight"]
            fallbacks = [f for f in default["fallbacks"] if f in ids]
        entries.append(
            {
                "id": upstream_id,
                "name": name,
                "base_url": base_url,
                "weight": weight,
                "fallbacks": fallbacks,
            }
        )
    return {"upstreams": entries, "home": {"local": upstreams[0][0]}}


def write_config(path: str | Path, upstreams: Sequence[tuple[str, str]]) -> dict[str, Any]:
    data = config_dict(upstreams)
    header = "# Written by `edge-router simulate --write-config`: the router's upstreams are local fakes.\n"
    Path(path).write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return data
