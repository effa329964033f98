"""Local OpenAI-compatible fake upstreams with fault injection (`edge-router simulate`).

For the router's integration and e2e tests, `make bench` and failure drills:

- `upstreams.py`  ids, models, latency profiles (`UpstreamSpec`, `default_specs`)
- `faults.py`     the fault grammar (`parse_fault`) and the per-request decision (`draw`)
- `endpoints.py`  what a healthy upstream answers (pure)
- `responses.py`  OpenAI-shaped bodies and SSE events (pure)
- `delivery.py`   writing an answer, or a fault's distortion of it, with aiohttp
- `control.py`    the `/_sim/*` inspection and control API
- `server.py`     `Simulator`: the sites, one per upstream, and the library API
- `config_writer.py`  a router config pointing at the simulated upstreams
"""

from .config_writer import config_dict, write_config
from .faults import Fault, FaultError, parse_fault
from .server import Simulator
from .upstreams import DEFAULT_MODELS, REGION_IDS, UpstreamSpec, default_specs, upstream_ids

__all__ = [
    "DEFAULT_MODELS",
    "REGION_IDS",
    "Fault",
    "FaultError",
    "Simulator",
    "UpstreamSpec",
    "config_dict",
    "default_specs",
    "parse_fault",
    "upstream_ids",
    "write_config",
]
