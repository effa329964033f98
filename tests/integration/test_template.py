"""The deployment files against the code they deploy (SPEC §6-§8).

`template.yaml`, `infra/global-table.yaml`, `samconfig.toml`, `env.json`, the packaged config,
`shared/requirements.txt` and `infra/deploy-all.sh` are checked statically: cfn-lint, environment
variable names against `edge_router.config.env`, handler paths, the table's keys against
`edge_router.health.items`, least-privilege IAM, and every reference resolving in each
combination of the optional custom-domain parameters. No AWS call is made.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge_router import observability
from edge_router.config import env, load_config
from edge_router.config.defaults import DEFAULT_HOME, DEFAULT_UPSTREAMS, HOLYSHEEP_BASE_URL
from edge_router.config.model import Routing
from edge_router.health import items
from edge_router.metrics_emf import EmfMetrics
from tests.support.cfn import REPO, load_template

pytestmark = pytest.mark.integration

TEMPLATE = REPO / "template.yaml"
GLOBAL_TABLE = REPO / "infra" / "global-table.yaml"
SAMCONFIG = REPO / "samconfig.toml"
DEPLOY_ALL = REPO / "infra" / "deploy-all.sh"
REGIONS = ["us-east-1", "us-west-1", "ap-northeast-2", "ap-southeast-1", "eu-central-1"]
#: Where a `BuildMethod: python3.x` layer's files land in the Lambda (`<ContentUri>/f` -> here/f).
LAYER_PYTHON_DIR = "/opt/python/"
#: SPEC §8 metric names; the dashboard and alarms may use no other name in `EdgeRouter`.
SPEC_METRICS = set(observability.ALL_METRICS)
DOMAIN = {
    "DomainName": "llm.example.com",
    "CertificateArn": "arn:aws:acm:ap-northeast-2:123456789012:certificate/0f1e2d3c-1111-2222-3333-444455556666",
}
ZONE = {"HostedZoneId": "Z0123456789ABCDEFGHIJ"}
OPTIONAL_RESOURCES = {"ApiDomain", "ApiMapping", "RegionHealthCheck", "LatencyRecord"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def table_template() -> dict[str, Any]:
    return load_template(GLOBAL_TABLE)


def functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def statements(function: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every IAM statement of a SAM function, both branches of an `Fn::If` included."""
    for policy in function.get("Policies", []):
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        for branch in branches:
            if isinstance(branch, dict) and "Statement" in branch:
                yield from branch["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------------- cfn-lint


def cfn_lint(*args: str) -> subprocess.CompletedProcess[str]:
    cfn_lint_bin = Path(sys.executable).parent / "cfn-lint"
    assert cfn_lint_bin.exists(), "cfn-lint is a dev dependency: reinstall with `make test`"
    return subprocess.run(
        [str(cfn_lint_bin), *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_cfn_lint_passes_both_templates_without_errors_or_warnings() -> None:
    result = cfn_lint("template.yaml", "infra/global-table.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("params", [DOMAIN, {**DOMAIN, **ZONE}], ids=["domain", "domain+zone"])
def test_cfn_lint_passes_with_the_custom_domain_parameters(params: dict[str, str]) -> None:
    result = cfn_lint("template.yaml", "--parameters", *(f"{k}={v}" for k, v in params.items()))
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------- conditions: every reference resolves

PSEUDO = {
    "AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId",
    "AWS::StackName", "AWS::URLSuffix", "AWS::NotificationARNs",
}  # fmt: skip


def condition_value(expr: Any, conditions: Mapping[str, Any], params: Mapping[str, str]) -> Any:
    """Evaluate a CloudFormation condition (or a value inside one) for `params`."""
    if isinstance(expr, dict):
        ((fn, arg),) = expr.items()
        if fn == "Ref":
            return params[arg]
        if fn in ("Condition", "Fn::Condition"):  # tests.support.cfn reads `!Condition` as Fn::
            return condition_value(conditions[arg], conditions, params)
        values = [condition_value(a, conditions, params) for a in as_list(arg)]
        if fn == "Fn::Equals":
            return values[0] == values[1]
        if fn == "Fn::Not":
            return not values[0]
        if fn == "Fn::And":
            return all(values)
        if fn == "Fn::Or":
            return any(values)
        raise AssertionError(f"unsupported condition function {fn}")
    return expr


def resolve_ifs(value: Any, active: Mapping[str, bool]) -> Any:
    """`value` with every `Fn::If` replaced by its chosen branch and `AWS::NoValue` dropped."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return resolve_ifs(yes if active[name] else no, active)
        out = {k: resolve_ifs(v, active) for k, v in value.items()}
        return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
    if isinstance(value, list):
        out_list = [resolve_ifs(v, active) for v in value]
        return [v for v in out_list if v != {"Ref": "AWS::NoValue"}]
    return value


def references(value: Any) -> Iterator[str]:
    """Logical ids and parameters that `value` refers to (Ref, GetAtt, Sub, SAM's `Api.Stage`)."""
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref":
                yield arg.split(".")[0] if not arg.startswith("AWS::") else arg
            elif fn == "Fn::GetAtt":
                yield (arg.split(".") if isinstance(arg, str) else arg)[0]
            elif fn == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                    if name not in local:
                        yield name if name.startswith("AWS::") else name.split(".")[0]
                yield from references(local)
            else:
                yield from references(arg)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def deployed(template: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """The resources and outputs CloudFormation would create for `params`, Fn::If resolved."""
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    values.update(params)
    conditions = template.get("Conditions", {})
    active = {name: bool(condition_value(c, conditions, values)) for name, c in conditions.items()}

    def kept(section: str) -> dict[str, Any]:
        return {
            name: resolve_ifs(body, active)
            for name, body in template.get(section, {}).items()
            if active.get(body.get("Condition", ""), True)
        }

    return {
        "Resources": kept("Resources"),
        "Outputs": kept("Outputs"),
        "Globals": resolve_ifs(template.get("Globals", {}), active),
    }


@pytest.mark.parametrize(
    ("params", "expected_optional"),
    [
        ({}, set()),
        (DOMAIN, {"ApiDomain", "ApiMapping"}),
        (ZONE, set()),  # a zone without a domain and certificate creates nothing
        ({**DOMAIN, **ZONE}, OPTIONAL_RESOURCES),
    ],
    ids=["no-domain", "domain", "zone-only", "domain+zone"],
)
def test_each_custom_domain_combination_creates_the_right_resources_and_resolves(
    template: dict[str, Any], params: dict[str, str], expected_optional: set[str]
) -> None:
    # GIVEN the template deployed with (a subset of) the optional custom-domain parameters
    stack = deployed(template, params)
    resources = stack["Resources"]

    # THEN exactly the matching optional resources exist ...
    assert OPTIONAL_RESOURCES & set(resources) == expected_optional
    # ... and no resource, output or global refers to anything that was not created
    known = set(resources) | set(template["Parameters"]) | PSEUDO
    dangling = {
        (where, ref)
        for where, body in [
            *resources.items(),
            *stack["Outputs"].items(),
            ("Globals", stack["Globals"]),
        ]
        for ref in references(body)
        if ref not in known
    }
    assert not dangling


def test_secret_permissions_exist_only_when_a_secret_is_given(template: dict[str, Any]) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:holysheep-key-AbCdEf"
    for params, expected in [({}, False), ({"UpstreamSecretArn": arn}, True)]:
        for name, props in functions(deployed(template, params)).items():
            actions = {a for s in statements(props) for a in as_list(s["Action"])}
            assert ("secretsmanager:GetSecretValue" in actions) is expected, (name, params)


# ------------------------------------------------------------------ environment and handlers


def environment(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's environment variables, Globals merged under the function's own."""
    shared = template["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    return {
        name: {**shared, **props.get("Environment", {}).get("Variables", {})}
        for name, props in functions(template).items()
    }


def test_every_environment_variable_the_template_sets_is_a_name_from_env_py(
    template: dict[str, Any],
) -> None:
    for name, variables in environment(template).items():
        unknown = set(variables) - set(env.ALL)
        assert not unknown, f"{name} sets variables edge_router.config.env does not know: {unknown}"


def test_the_template_sets_the_lambda_configuration_of_spec_section_8(
    template: dict[str, Any],
) -> None:
    for name, variables in environment(template).items():
        assert variables[env.CONFIG] == {"Ref": "ConfigPath"}, name
        assert variables[env.HEALTH_STORE] == "dynamodb", name
        assert variables[env.HEALTH_TABLE] == {"Ref": "HealthTableName"}, name
        assert variables[env.AUTH_MODE] == {"Ref": "AuthMode"}, name
        assert variables[env.UPSTREAM_SECRET] == {"Ref": "UpstreamSecretArn"}, name
        assert variables[env.POWERTOOLS_SERVICE_NAME] == env.SERVICE_NAME == "edge-router"
        assert variables[env.POWERTOOLS_METRICS_NAMESPACE] == env.METRICS_NAMESPACE == "EdgeRouter"
    assert template["Parameters"]["AuthMode"]["AllowedValues"] == ["passthrough", "keys"]


def test_env_json_for_sam_local_only_sets_variables_the_template_declares(
    template: dict[str, Any],
) -> None:
    # sam local ignores env.json entries the template does not declare: a typo would be silent.
    local = json.loads((REPO / "env.json").read_text())
    declared = set.union(*(set(v) for v in environment(template).values()))
    for scope, variables in local.items():
        assert scope == "Parameters" or scope in functions(template), scope
        assert set(variables) <= declared, set(variables) - declared
    assert local["Parameters"][env.HEALTH_STORE] == "memory"


def test_handlers_exist_where_the_template_points(template: dict[str, Any]) -> None:
    expected = {
        "RouterFunction": "functions/router/",
        "HealthCheckerFunction": "functions/health_checker/",
    }
    props = functions(template)
    assert {name: p["CodeUri"] for name, p in props.items()} == expected
    for name, p in props.items():
        module, attr = p["Handler"].rsplit(".", 1)
        path = REPO / p["CodeUri"] / f"{module}.py"
        assert path.is_file(), f"{name}: {path.relative_to(REPO)} is missing"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {
            n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        defined |= {
            t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if isinstance(t, ast.Name)
        }  # fmt: skip
        assert attr in defined, f"{name}: {path.relative_to(REPO)} defines no top-level {attr!r}"


def test_runtime_architecture_and_timeouts_fit_the_router_deadline(
    template: dict[str, Any],
) -> None:
    globals_ = template["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.12", ["arm64"])
    router = functions(template)["RouterFunction"]
    # deadline (25 s) < Lambda timeout <= 29 s < API Gateway's 30 s integration limit
    assert Routing().deadline_s < router["Timeout"] <= 29
    event = router["Events"]["Api"]
    assert event["Type"] == "HttpApi"
    assert event["Properties"]["TimeoutInMillis"] <= 30_000


def test_the_http_api_serves_every_path_on_the_default_route_and_stage(
    template: dict[str, Any],
) -> None:
    # An HttpApi event without Path and Method is SAM's `$default` route (every method and path,
    # /health included); an HttpApi without StageName gets the `$default` stage, with no prefix.
    event = functions(template)["RouterFunction"]["Events"]["Api"]["Properties"]
    assert "Path" not in event and "Method" not in event
    assert event["ApiId"] == {"Ref": "RouterApi"}
    api = template["Resources"]["RouterApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert api["Properties"].get("StageName", "$default") == "$default"


def test_layers_build_the_library_and_the_config_for_python312_arm64(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert template["Globals"]["Function"]["Layers"] == [
        {"Ref": "SharedLayer"},
        {"Ref": "ConfigLayer"},
    ]
    for name, content in [("SharedLayer", "shared/"), ("ConfigLayer", "config/")]:
        layer = resources[name]
        assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
        assert layer["Properties"]["ContentUri"] == content
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert (REPO / "shared" / "edge_router" / "__init__.py").is_file()
    assert (REPO / "shared" / "requirements.txt").is_file()


# --------------------------------------------------------------------------- packaged config


def packaged(path_in_lambda: str) -> Path:
    assert path_in_lambda.startswith(LAYER_PYTHON_DIR), path_in_lambda
    return REPO / "config" / path_in_lambda.removeprefix(LAYER_PYTHON_DIR)


def test_the_packaged_config_is_the_holysheep_default_on_the_dynamodb_store(
    template: dict[str, Any],
) -> None:
    path = packaged(template["Parameters"]["ConfigPath"]["Default"])
    assert path == REPO / "config" / "edge-router.yaml"
    config = load_config(path)
    assert config.health.store == "dynamodb"
    assert config.health.table == template["Parameters"]["HealthTableName"]["Default"]
    assert [u.id for u in config.upstreams] == [u["id"] for u in DEFAULT_UPSTREAMS]
    assert {u.base_url for u in config.upstreams} == {HOLYSHEEP_BASE_URL}
    assert [list(u.fallbacks) for u in config.upstreams] == [
        u["fallbacks"] for u in DEFAULT_UPSTREAMS
    ]
    assert config.home == DEFAULT_HOME
    assert set(REGIONS) <= set(config.home)


def test_the_sam_local_config_exists_in_the_layer_and_uses_the_memory_store() -> None:
    local = json.loads((REPO / "env.json").read_text())["Parameters"]
    config = load_config(packaged(local[env.CONFIG]))
    assert config.health.store == "memory"
    assert all(u.base_url.startswith("http://host.docker.internal:") for u in config.upstreams)


# ----------------------------------------------------------------------- table and IAM


def test_global_table_keys_and_ttl_match_the_health_items(table_template: dict[str, Any]) -> None:
    (table,) = table_template["Resources"].values()
    assert table["Type"] == "AWS::DynamoDB::GlobalTable"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": items.PK, "KeyType": "HASH"},
        {"AttributeName": items.SK, "KeyType": "RANGE"},
    ]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": items.PK, "AttributeType": "S"},
        {"AttributeName": items.SK, "AttributeType": "S"},
    ]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": items.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_global_table_has_a_replica_in_every_router_region_by_default(
    table_template: dict[str, Any],
) -> None:
    params = table_template["Parameters"]
    defaults = [params[f"ReplicaRegion{i}"]["Default"] for i in range(1, 6)]
    assert defaults == REGIONS
    replicas = table_template["Resources"]["HealthTable"]["Properties"]["Replicas"]
    refs = [r["Region"] if "Region" in r else r["Fn::If"][1]["Region"] for r in replicas]
    assert refs == [{"Ref": f"ReplicaRegion{i}"} for i in range(1, 6)]
    assert params["TableName"]["Default"] == "edge-router-health"


TABLE_ARN = (
    "arn:${AWS::Partition}:dynamodb:${TableRegion}:${AWS::AccountId}:table/${HealthTableName}"
)


def test_router_may_use_only_the_one_table_and_never_scan(template: dict[str, Any]) -> None:
    (table_statement,) = [
        s for s in statements(functions(template)["RouterFunction"])
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]  # fmt: skip
    assert set(table_statement["Action"]) == {
        "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
        "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
    }  # fmt: skip
    assert table_statement["Resource"]["Fn::Sub"][0] == TABLE_ARN


def test_health_checker_may_touch_only_upstream_partition_keys(template: dict[str, Any]) -> None:
    (table_statement,) = [
        s for s in statements(functions(template)["HealthCheckerFunction"])
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]  # fmt: skip
    assert set(table_statement["Action"]) == {
        "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
    }  # fmt: skip
    assert table_statement["Resource"]["Fn::Sub"][0] == TABLE_ARN
    # The prefix the code writes under, so a renamed prefix fails here before it fails in AWS.
    assert table_statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{items.UPSTREAM_PREFIX}*"]}
    }


def test_no_statement_grants_wildcard_actions_or_resources(template: dict[str, Any]) -> None:
    for name, props in functions(template).items():
        for statement in statements(props):
            assert all("*" not in a for a in as_list(statement["Action"])), name
            assert statement["Resource"] != "*", name
            assert "dynamodb:Scan" not in as_list(statement["Action"]), name


# ------------------------------------------------------------------ schedule, DNS, monitoring


def test_health_checker_runs_every_minute(template: dict[str, Any]) -> None:
    events = functions(template)["HealthCheckerFunction"]["Events"]
    (schedule,) = events.values()
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == "rate(1 minute)"


def test_latency_record_is_per_region_and_guarded_by_this_regions_own_health(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    record = resources["LatencyRecord"]["Properties"]
    assert record["Region"] == record["SetIdentifier"] == {"Ref": "AWS::Region"}
    assert record["HealthCheckId"] == {"Ref": "RegionHealthCheck"}
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": "ApiDomain.RegionalDomainName"}
    assert record["AliasTarget"]["HostedZoneId"] == {"Fn::GetAtt": "ApiDomain.RegionalHostedZoneId"}
    check = resources["RegionHealthCheck"]["Properties"]["HealthCheckConfig"]
    assert check["Type"] == "HTTPS"
    assert check["ResourcePath"] == "/health"
    # this stack's execute-api host, never the shared name (which could be another region)
    assert check["FullyQualifiedDomainName"] == {
        "Fn::Sub": "${RouterApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    domain = resources["ApiDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert domain["EndpointType"] == "REGIONAL"


def dashboard_body(template: Mapping[str, Any]) -> dict[str, Any]:
    text = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
    return body


Series = tuple[str, tuple[str, ...]]  # (metric name, dimension names, sorted)


def edge_router_series(template: Mapping[str, Any]) -> set[Series]:
    """Every EdgeRouter (metric, dimension set) the dashboard and the alarms read."""
    used: set[Series] = set()
    for widget in dashboard_body(template)["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if row and row[0] == "EdgeRouter":
                pairs = [x for x in row[2:] if isinstance(x, str)]
                used.add((row[1], tuple(sorted(pairs[0::2]))))
            for item in row:
                if isinstance(item, dict) and "expression" in item:
                    (schema,) = re.findall(r"\{EdgeRouter,([\w,]+)\}", item["expression"])
                    for name in re.findall(r'MetricName="(\w+)"', item["expression"]):
                        used.add((name, tuple(sorted(schema.split(",")))))
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if props.get("Namespace") == "EdgeRouter":
            dims = tuple(sorted(d["Name"] for d in props["Dimensions"]))
            used.add((props["MetricName"], dims))
        for metric in props.get("Metrics", []):
            expression = metric.get("Expression", "")
            if isinstance(expression, dict):
                expression = expression["Fn::Sub"]
            if "SCHEMA(" in expression:
                (schema,) = re.findall(r'SCHEMA\("EdgeRouter",\s*([\w, ]+)\)', expression)
                dims = tuple(sorted(d.strip() for d in schema.split(",")))
                for name in re.findall(r"(?:MAX|MIN|SUM|AVG|COUNT)\((\w+)\)", expression):
                    used.add((name, dims))
    return used


#: Metrics the router and the health checker report as events, each about one upstream.
UPSTREAM_EVENTS = (
    observability.CIRCUIT_OPENED, observability.RATE_LIMITED, observability.UPSTREAM_AUTH_FAILED,
    observability.PROBE_LATENCY, observability.UPSTREAM_AVAILABLE,
)  # fmt: skip


def emitted_series() -> set[Series]:
    """Every (metric, dimension set) the Lambda's EMF sink publishes, from a sample of traffic."""
    lines: list[str] = []
    sink = EmfMetrics("us-east-1", wall=lambda: 0.0, write=lines.append)
    ok = observability.RequestRecord(
        status=200, model="gpt-4.1", upstream="us-east", latency_ms=900.0, upstream_ms=880.0,
        overhead_ms=0.4, ttfb_ms=300.0, attempts=2, prompt_tokens=10, completion_tokens=5,
        cost_usd=Decimal("0.00012"),
    )  # fmt: skip
    sink.request(ok)
    sink.request(dataclasses.replace(ok, status=504, upstream=None, error_class="timeout"))
    for name in UPSTREAM_EVENTS:
        sink.event(name, upstream="us-east")
    sink.event(observability.RETRY_BUDGET_EXHAUSTED)
    sink.flush()
    return {
        (metric["Name"], tuple(sorted(dims)))
        for line in "".join(lines).splitlines()
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        if directive["Namespace"] == "EdgeRouter"
        for metric in directive["Metrics"]
        for dims in directive["Dimensions"]
    }


def test_dashboard_and_alarms_read_series_the_lambda_publishes(template: dict[str, Any]) -> None:
    # GIVEN what the EMF sink publishes for a success, a failure and every event
    emitted = emitted_series()
    # THEN every series a graph or an alarm reads exists (name AND dimension set: a graph on
    # [Region] of a metric published only per upstream would stay empty forever)
    used = edge_router_series(template)
    assert used <= emitted, sorted(used - emitted)
    assert {name for name, _ in used} <= SPEC_METRICS
    shown = {
        "Requests", "Latency", "Overhead", "Failovers", "Errors", "CircuitOpened",
        "PromptTokens", "CompletionTokens", "CostUSD", "ProbeLatency", "UpstreamAvailable",
    }  # fmt: skip
    assert shown <= {name for name, _ in used}, shown - {name for name, _ in used}


def test_dashboard_graphs_errors_by_error_class_and_probes_per_upstream(
    template: dict[str, Any],
) -> None:
    text = json.dumps(dashboard_body(template))
    assert '{EdgeRouter,Region,ErrorClass} MetricName=\\"Errors\\"' in text
    assert '{EdgeRouter,Region,Upstream} MetricName=\\"ProbeLatency\\"' in text
    assert '{EdgeRouter,Region,Model} MetricName=\\"CostUSD\\"' in text


def test_account_wide_names_carry_stage_and_region(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    named = {
        name: r["Properties"].get("AlarmName") or r["Properties"].get("DashboardName")
        for name, r in resources.items()
        if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard")
    }
    assert len(named) == 5  # four alarms and the dashboard
    for name, value in named.items():
        assert "${Stage}" in value["Fn::Sub"] and "${AWS::Region}" in value["Fn::Sub"], name
    alarms = {
        r["Properties"].get("MetricName")
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert {"Latency", "Errors"} <= alarms  # p99 latency, health-checker errors


# ---------------------------------------------------------------------------- samconfig.toml


def test_samconfig_has_one_deploy_environment_per_region() -> None:
    config = tomllib.loads(SAMCONFIG.read_text())
    template_params = set(load_template(TEMPLATE)["Parameters"])
    table_name = load_template(GLOBAL_TABLE)["Parameters"]["TableName"]["Default"]
    deploy_envs = [
        name
        for name, section in config.items()
        if isinstance(section, dict) and "deploy" in section
    ]
    assert deploy_envs == REGIONS
    for region in REGIONS:
        params = config[region]["deploy"]["parameters"]
        assert params["region"] == region
        assert "CAPABILITY_IAM" in params["capabilities"]
        assert params["resolve_s3"] is True
        assert params["stack_name"]
        overrides = dict(shlex.split(o)[0].split("=", 1) for o in params["parameter_overrides"])
        assert set(overrides) <= template_params, set(overrides) - template_params
        assert overrides["HealthTableName"] == table_name


# --------------------------------------------------------------------- shared/requirements.txt


def test_layer_requirements_agree_with_pyproject() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_requirements", REPO / "infra" / "gen_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert gen.dependencies() == pyproject
    assert (REPO / "shared" / "requirements.txt").read_text() == gen.render(pyproject), (
        "shared/requirements.txt is stale: run `make requirements`"
    )


# ------------------------------------------------------------------------ infra/deploy-all.sh


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "AWS_CLI": "aws", "SAM_CLI": "sam"}
    return subprocess.run(
        ["bash", str(DEPLOY_ALL), "--dry-run", *args],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_deploy_all_dry_run_deploys_the_table_first_then_every_region_in_order() -> None:
    result = dry_run()
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    table, build, *regional = commands
    assert table[:3] == ["aws", "cloudformation", "deploy"]
    assert table[table.index("--template-file") + 1] == "infra/global-table.yaml"
    assert table[table.index("--region") + 1] == "us-east-1"
    assert "--no-fail-on-empty-changeset" in table
    assert [f"ReplicaRegion{i}={r}" for i, r in enumerate(REGIONS, 1)] == [
        a for a in table if a.startswith("ReplicaRegion")
    ]
    assert build == ["sam", "build"]
    assert [c[:2] for c in regional] == [["sam", "deploy"]] * len(REGIONS)
    assert [c[c.index("--config-env") + 1] for c in regional] == REGIONS
    assert all("--no-fail-on-empty-changeset" in c for c in regional)


def test_deploy_all_regions_option_and_validation() -> None:
    one = dry_run("--skip-table", "--regions", "ap-northeast-2")
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == [
        "sam build",
        "sam deploy --config-env ap-northeast-2 --no-fail-on-empty-changeset",
    ]
    unknown = dry_run("--regions", "eu-west-1")
    assert unknown.returncode == 2 and "samconfig.toml has no [eu-west-1" in unknown.stderr
    assert unknown.stdout == ""
    assert dry_run("--bogus").returncode == 2
    help_text = subprocess.run(["bash", str(DEPLOY_ALL), "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--dry-run" in help_text.stdout
