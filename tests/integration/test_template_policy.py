"""The deployment files against the code they deploy, part two: the table and least-privilege
IAM, schedule, DNS and monitoring, `samconfig.toml` and `infra/deploy-all.sh` (the layer's
requirements: test_lock.py). No AWS call is made."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from edge_router import observability
from edge_router.health import items
from edge_router.keys.dynamodb import KEY_PREFIX
from edge_router.limits.store import USAGE_PREFIX
from edge_router.runtime.emf import EmfMetrics
from tests.integration.template_support import (
    DEPLOY_ALL,
    GLOBAL_TABLE,
    REGIONS,
    SAMCONFIG,
    SPEC_METRICS,
    TEMPLATE,
    as_list,
    functions,
    router_statements,
    statements,
)
from tests.support.cfn import REPO, load_template

pytestmark = pytest.mark.integration

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
        s for s in router_statements(template)
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]  # fmt: skip
    # SPEC §14: what the code calls, nothing more (no Query, PutItem, DeleteItem, Scan)
    assert set(table_statement["Action"]) == {
        "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    assert table_statement["Resource"]["Fn::Sub"][0] == TABLE_ARN
    # Only the partitions the router's code reads and writes: health items, key lookups by hash,
    # limit windows and usage (SPEC §13) — never the `keys` index the CLI keeps.
    assert table_statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [
        f"{items.UPSTREAM_PREFIX}*", f"{KEY_PREFIX}*", f"{USAGE_PREFIX}*"]}}


def test_health_checker_may_touch_only_upstream_partition_keys(template: dict[str, Any]) -> None:
    (table_statement,) = [
        s for s in statements(functions(template)["HealthCheckerFunction"])
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]  # fmt: skip
    assert set(table_statement["Action"]) == {"dynamodb:UpdateItem"}  # it only writes probes
    assert table_statement["Resource"]["Fn::Sub"][0] == TABLE_ARN
    # The prefix the code writes under, so a renamed prefix fails here before it fails in AWS.
    assert table_statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{items.UPSTREAM_PREFIX}*"]}
    }


def test_no_statement_grants_wildcard_actions_or_resources(template: dict[str, Any]) -> None:
    granted = [(name, s) for name, props in functions(template).items() for s in statements(props)]
    granted += [("RouterRole", s) for s in router_statements(template)]
    assert len(granted) >= 4
    for name, statement in granted:
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
    assert record["Region"] == {"Ref": "AWS::Region"}
    assert record["SetIdentifier"] == {"Fn::Sub": "${AWS::Region}-${Stage}"}  # unique per stage
    assert record["HealthCheckId"] == {"Ref": "RegionHealthCheck"}
    # the regional domain of the mode's API: REST (stream) or HTTP (buffered)
    assert record["AliasTarget"]["DNSName"] == {"Fn::If": [
        "IsStream", {"Fn::GetAtt": "RestApiDomain.RegionalDomainName"},
        {"Fn::GetAtt": "ApiDomain.RegionalDomainName"},
    ]}  # fmt: skip
    assert record["AliasTarget"]["HostedZoneId"] == {"Fn::If": [
        "IsStream", {"Fn::GetAtt": "RestApiDomain.RegionalHostedZoneId"},
        {"Fn::GetAtt": "ApiDomain.RegionalHostedZoneId"},
    ]}  # fmt: skip
    check = resources["RegionHealthCheck"]["Properties"]["HealthCheckConfig"]
    assert check["Type"] == "HTTPS"
    # the REST API's execute-api URL carries the stage; the HTTP API's $default stage does not
    assert check["ResourcePath"] == {"Fn::If": ["IsStream", {"Fn::Sub": "/${Stage}/health"}, "/health"]}
    # this stack's execute-api host, never the shared name (which could be another region)
    assert check["FullyQualifiedDomainName"] == {"Fn::If": [
        "IsStream",
        {"Fn::Sub": "${RouterRestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
        {"Fn::Sub": "${RouterApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
    ]}  # fmt: skip
    domain = resources["ApiDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert domain["EndpointType"] == "REGIONAL"
    rest = resources["RestApiDomain"]["Properties"]["EndpointConfiguration"]
    assert rest == {"Types": ["REGIONAL"]}


def dashboard_body(template: Mapping[str, Any]) -> dict[str, Any]:
    text, variables = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${ApiDimensions} stands for a list of strings (the API's dimension names and values)
    text = text.replace("${ApiDimensions}", '"ApiId", "x"')
    assert "ApiDimensions" in variables
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
    assert build == ["make", "build", "SAM=sam"]  # the build `make build` runs
    assert [c[:2] for c in regional] == [["sam", "deploy"]] * len(REGIONS)
    assert [c[c.index("--config-env") + 1] for c in regional] == REGIONS
    assert all("--no-fail-on-empty-changeset" in c for c in regional)


def test_deploy_all_regions_option_and_validation() -> None:
    one = dry_run("--skip-table", "--regions", "ap-northeast-2")
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == [
        "make build SAM=sam",
        "sam deploy --config-env ap-northeast-2 --no-fail-on-empty-changeset",
    ]
    unknown = dry_run("--regions", "eu-west-1")
    assert unknown.returncode == 2 and "samconfig.toml has no [eu-west-1" in unknown.stderr
    assert unknown.stdout == ""
    assert dry_run("--bogus").returncode == 2
    help_text = subprocess.run(["bash", str(DEPLOY_ALL), "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--dry-run" in help_text.stdout

