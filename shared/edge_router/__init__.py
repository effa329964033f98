"""HolySheep Edge Router: an OpenAI-compatible LLM API router with failover, circuit breaking
and upstream health shared across regions.

Importing this package has no side effects; only the CLI and the Lambda handlers build clients.
"""

__version__ = "0.1.0"
