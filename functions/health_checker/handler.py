"""Health-checker Lambda entry point (`Handler: handler.handler`), run every minute by an
EventBridge schedule: probe every upstream, write this region's probe items, emit metrics.

Built once per container at import; `edge_router.runtime.health_checker` holds the wiring.
"""

import os

from edge_router.runtime.health_checker import build_health_checker

handler = build_health_checker(os.environ)
