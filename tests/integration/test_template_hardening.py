"""Template hardening (SPEC §14): what the template refuses to deploy, SnapStart behind the
`live` alias, stage throttling and access logs, reserved concurrency for the checker, one layer
per ResponseMode. (IAM as small as the code, and `infra/deploy-all.sh` building as `make build`
does: test_template_policy.py.)

`Rules` are evaluated here for parameter sets (CloudFormation's own evaluation needs AWS); the
SAM translation (`aws-sam-translator`, offline) shows the API and the schedule invoke the alias.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from tests.integration.template_support import DOMAIN, ZONE
from tests.integration.test_template_stream import created, translate
from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-router/upstream-AbCdEf"


def evaluate(node: Any, params: Mapping[str, str]) -> Any:
    """A CloudFormation Rules expression over `params` (Ref, Equals, Not, And, Or)."""
    if isinstance(node, dict) and len(node) == 1:
        (name, args), = node.items()
        if name == "Ref":
            return params[args]
        values = [evaluate(a, params) for a in (args if isinstance(args, list) else [args])]
        if name == "Fn::Equals":
            return values[0] == values[1]
        if name == "Fn::Not":
            return not values[0]
        if name == "Fn::And":
            return all(values)
        if name == "Fn::Or":
            return any(values)
        raise AssertionError(f"unexpected rule function {name}")
    return node


def refused(template: Mapping[str, Any], **given: str) -> list[str]:
    """Names of the rules whose assertions fail for these parameters (defaults elsewhere)."""
    params = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    params.update(given)
    failed = []
    for name, rule in template["Rules"].items():
        condition = rule.get("RuleCondition")
        if condition is not None and not evaluate(condition, params):
            continue
        if not all(evaluate(a["Assert"], params) for a in rule["Assertions"]):
            failed.append(name)
    return failed


def test_keys_mode_without_the_upstream_secret_is_refused(template: dict[str, Any]) -> None:
    assert refused(template, AuthMode="keys") == ["KeysModeNeedsTheUpstreamSecret"]
    assert refused(template, AuthMode="keys", UpstreamSecretArn=SECRET) == []
    assert refused(template, AuthMode="passthrough") == []


def test_a_custom_domain_given_in_part_is_refused(template: dict[str, Any]) -> None:
    parts = {**DOMAIN, **ZONE}
    assert refused(template) == []
    assert refused(template, **parts) == []
    for size in (1, 2):
        for names in itertools.combinations(parts, size):
            given = {name: parts[name] for name in names}
            assert refused(template, **given) == ["CustomDomainAllOrNothing"], given


def test_snapstart_is_on_by_default_for_the_checker_and_the_buffered_router_only(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert template["Parameters"]["SnapStart"]["Default"] == "on"
    for name in ("RouterFunction", "RouterStreamFunction", "HealthCheckerFunction"):
        assert resources[name]["Properties"]["AutoPublishAlias"] == "live", name
    snap = {"ApplyOn": "PublishedVersions"}
    assert resources["RouterFunction"]["Properties"]["SnapStart"] == {
        "Fn::If": ["RouterSnapStart", snap, {"Ref": "AWS::NoValue"}]}
    assert resources["HealthCheckerFunction"]["Properties"]["SnapStart"] == {
        "Fn::If": ["SnapStartOn", snap, {"Ref": "AWS::NoValue"}]}
    # the web adapter runs the app as its own process: no runtime hook could renew anything
    assert "SnapStart" not in resources["RouterStreamFunction"]["Properties"]
    assert template["Conditions"]["RouterSnapStart"] == {
        "Fn::And": [{"Fn::Condition": "SnapStartOn"}, {"Fn::Condition": "IsBuffered"}]}


@pytest.mark.parametrize("mode", ["stream", "buffered"])
def test_the_api_and_the_schedule_invoke_the_live_alias(
    template: dict[str, Any], mode: str
) -> None:
    cfn = translate(template, {"ResponseMode": mode})
    resources = created(cfn, {"ResponseMode": mode})
    router = "RouterStreamFunction" if mode == "stream" else "RouterFunction"
    text = repr(resources)
    assert f"{router}Aliaslive" in text
    rules = {n: r for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    targets = [t["Arn"] for r in rules.values() for t in r["Properties"]["Targets"]]
    assert targets == [{"Ref": "HealthCheckerFunctionAliaslive"}]
    permissions = [r["Properties"]["FunctionName"] for r in resources.values()
                   if r["Type"] == "AWS::Lambda::Permission"]  # fmt: skip
    assert permissions and all("Aliaslive" in repr(p) for p in permissions), permissions
    snap_start = resources[router]["Properties"].get("SnapStart")
    assert snap_start == ({"ApplyOn": "PublishedVersions"} if mode == "buffered" else None)
    params_off = {"ResponseMode": mode, "SnapStart": "off"}
    off = created(translate(template, params_off), params_off)
    assert "SnapStart" not in off[router]["Properties"]
    assert "SnapStart" not in off["HealthCheckerFunction"]["Properties"]


def test_stage_throttling_and_access_logs_are_parameters(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    limits = {"ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
              "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"}}  # fmt: skip
    assert resources["RouterApi"]["Properties"]["DefaultRouteSettings"] == limits
    (method,) = resources["RouterRestApi"]["Properties"]["MethodSettings"]
    assert method == {"ResourcePath": "/*", "HttpMethod": "*", **limits}
    http_logs = resources["RouterApi"]["Properties"]["AccessLogSettings"]["Fn::If"]
    rest_logs = resources["RouterRestApi"]["Properties"]["AccessLogSetting"]["Fn::If"]
    for logs in (http_logs, rest_logs):
        assert logs[0] == "HasAccessLogs"
        assert logs[1]["DestinationArn"] == {"Fn::GetAtt": "ApiAccessLogGroup.Arn"}
        assert "$context.requestId" in logs[1]["Format"]
        assert "authorization" not in logs[1]["Format"].lower()  # never a credential
    assert resources["ApiAccessLogGroup"]["Condition"] == "HasAccessLogs"


def test_the_checker_has_reserved_concurrency(template: dict[str, Any]) -> None:
    props = template["Resources"]["HealthCheckerFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {"Ref": "HealthCheckerReservedConcurrency"}
    assert template["Parameters"]["HealthCheckerReservedConcurrency"]["Default"] >= 1


def test_the_latency_record_is_unique_per_stage_and_region(template: dict[str, Any]) -> None:
    record = template["Resources"]["LatencyRecord"]["Properties"]
    assert record["SetIdentifier"] == {"Fn::Sub": "${AWS::Region}-${Stage}"}


def test_each_mode_runs_on_its_own_layer_built_by_shared_makefile(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    makefile = (REPO / "shared" / "Makefile").read_text(encoding="utf-8")
    for mode, name in (("IsBuffered", "SharedLayerBuffered"), ("IsStream", "SharedLayerStream")):
        layer = resources[name]
        assert layer["Condition"] == mode
        assert layer["Metadata"]["BuildMethod"] == "makefile"
        assert layer["Properties"]["ContentUri"] == "shared/"
        assert f"build-{name}:" in makefile
    assert resources["RouterFunction"]["Properties"]["Layers"][0] == {"Ref": "SharedLayerBuffered"}
    assert resources["RouterStreamFunction"]["Properties"]["Layers"][0] == {
        "Ref": "SharedLayerStream"}
    assert resources["HealthCheckerFunction"]["Properties"]["Layers"][0] == {
        "Fn::If": ["IsStream", {"Ref": "SharedLayerStream"}, {"Ref": "SharedLayerBuffered"}]}
