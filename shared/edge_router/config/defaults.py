"""The built-in configuration: HolySheep's five relay regions (SPEC §4)."""

from __future__ import annotations

from typing import Any

HOLYSHEEP_BASE_URL = "https://api.holysheep.ai/v1"

_REGIONS = (
    # id, name, weight, fallbacks
    ("ap-northeast", "Asia Pacific (Seoul)", 10, ["ap-southeast", "us-west"]),
    ("ap-southeast", "Asia Pacific (Singapore)", 8, ["ap-northeast", "us-west"]),
    ("us-west", "US West (California)", 5, ["us-east", "eu-central"]),
    ("us-east", "US East (Virginia)", 6, ["us-west", "eu-central"]),
    ("eu-central", "Europe (Frankfurt)", 7, ["us-east", "ap-southeast"]),
)

DEFAULT_UPSTREAMS: list[dict[str, Any]] = [
    {
        "id": upstream_id,
        "name": name,
        "base_url": HOLYSHEEP_BASE_URL,
        "weight": weight,
        "fallbacks": fallbacks,
        "api_key_env": "HOLYSHEEP_API_KEY",
    }
    for upstream_id, name, weight, fallbacks in _REGIONS
]

DEFAULT_HOME: dict[str, str] = {
    "ap-northeast-2": "ap-northeast",
    "ap-southeast-1": "ap-southeast",
    "us-west-1": "us-west",
    "us-east-1": "us-east",
    "eu-central-1": "eu-central",
}

#: USD per million tokens.
DEFAULT_PRICING: dict[str, dict[str, float]] = {
    "gpt-4.1": {"input": 8.00, "output": 8.00},
    "claude-sonnet-4.5": {"input": 15.00, "output": 15.00},
    "gemini-2.5-flash": {"input": 2.50, "output": 2.50},
    "deepseek-v3.2": {"input": 0.42, "output": 0.42},
}
