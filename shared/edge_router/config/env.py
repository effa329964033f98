"""Every environment variable the router reads, in one place.

`tests/integration/test_template.py` ties these names to `template.yaml`, so a rename here
that the template does not follow fails the suite.
"""

CONFIG = "EDGE_ROUTER_CONFIG"
REGION = "EDGE_ROUTER_REGION"
HEALTH_STORE = "EDGE_ROUTER_HEALTH_STORE"
HEALTH_TABLE = "EDGE_ROUTER_HEALTH_TABLE"
HEALTH_TABLE_REGION = "EDGE_ROUTER_HEALTH_TABLE_REGION"
AUTH_MODE = "EDGE_ROUTER_AUTH_MODE"
UPSTREAM_SECRET = "EDGE_ROUTER_UPSTREAM_SECRET"
OPS_ENDPOINTS = "EDGE_ROUTER_OPS_ENDPOINTS"
AWS_REGION = "AWS_REGION"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

# ResponseMode stream (SPEC §11): the Lambda Web Adapter's settings and the port it forwards to.
LWA_EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
LWA_INVOKE_MODE = "AWS_LWA_INVOKE_MODE"
LWA_READINESS_CHECK_PATH = "AWS_LWA_READINESS_CHECK_PATH"
LWA_PORT = "AWS_LWA_PORT"
PORT = "PORT"
#: The adapter's settings (read by the adapter, not the router; `run.sh` serves on `PORT`).
LWA = (LWA_EXEC_WRAPPER, LWA_INVOKE_MODE, LWA_READINESS_CHECK_PATH, LWA_PORT, PORT)

#: Variables that override keys of the config file under Lambda (SPEC §8).
OVERRIDES = (
    HEALTH_STORE, HEALTH_TABLE, HEALTH_TABLE_REGION, AUTH_MODE, UPSTREAM_SECRET, OPS_ENDPOINTS,
    REGION,
)  # fmt: skip
#: Every name above; the test fixture scrubs these from the environment.
ALL = (CONFIG, *OVERRIDES, AWS_REGION, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, *LWA)

SERVICE_NAME = "edge-router"
METRICS_NAMESPACE = "EdgeRouter"
