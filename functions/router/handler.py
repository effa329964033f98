"""Router Lambda entry point (`Handler: handler.handler`): the composition root.

Everything is built once per container, at import: the config from `EDGE_ROUTER_CONFIG` and
the environment overrides, the health store, the EMF metrics sink, the Powertools logger, the
app and Mangum. `edge_router.runtime.lambda_buffered` holds the wiring, so tests build the same handler.
"""

import os

from edge_router.runtime.lambda_buffered import build_router_handler

handler = build_router_handler(os.environ)
app = handler.app
