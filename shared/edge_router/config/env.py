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
AWS_REGION = "AWS_REGION"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

#: Variables that override keys of the config file under Lambda (SPEC §8).
OVERRIDES = (HEALTH_STORE, HEALTH_TABLE, HEALTH_TABLE_REGION, AUTH_MODE, UPSTREAM_SECRET, REGION)
#: Every name above; the test fixture scrubs these from the environment.
ALL = (CONFIG, *OVERRIDES, AWS_REGION, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE)

SERVICE_NAME = "edge-router"
METRICS_NAMESPACE = "EdgeRouter"
