#!/bin/sh
# The router function's handler in ResponseMode: stream (SPEC §11). The Lambda Web Adapter
# (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this, waits for GET /ready on 127.0.0.1:$PORT,
# then forwards each API Gateway event to it as an HTTP request and streams the answer back.
#
# Lambda's own PYTHONPATH is only /var/runtime: the layers' /opt/python (the edge_router library,
# its dependencies and the packaged config) is added here. `python` is the runtime's, on PATH.
# The server is the one `edge-router serve` runs (edge_router.runtime.serve.run_server).
PYTHONPATH="/opt/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec python -m edge_router.runtime.lambda_stream
