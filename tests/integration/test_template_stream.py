"""`ResponseMode` (SPEC §11): the template translated offline by `aws-sam-translator` (what
CloudFormation's `AWS::Serverless-2016-10-31` transform runs) in both modes, and what each mode
creates: in `stream` a regional REST API whose `ANY /` and `ANY /{proxy+}` integrations stream
(`responseTransferMode: STREAM` on the `/response-streaming-invocations` URI) to `run.sh` under
the Lambda Web Adapter layer; in `buffered` the HTTP API + Mangum. The translated templates are
linted too. No AWS call is made.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)

from edge_router.config import load_config
from tests.integration.template_support import DOMAIN, ZONE, functions
from tests.integration.test_template import cfn_lint, deployed, references, resolve_ifs
from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
LWA_LAYER = (
    "arn:${AWS::Partition}:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:"
)
MODES = ["stream", "buffered"]


def translate(template: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """CloudFormation from the SAM template, as `sam package` + the transform would make it
    (code locations become S3 objects first, as `sam package` uploads them)."""
    sam = copy.deepcopy(template)
    for name, resource in sam["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://artifacts/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://artifacts/{name}.zip"
    values: dict[str, Any] = {"AWS::Region": REGION, **params}
    to_py27_compatible_template(sam, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    out = translator.translate(sam, parameter_values=values, get_managed_policy_map=dict)
    return undo_mark_unicode_str_in_template(out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def translated(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mode: translate(template, {"ResponseMode": mode}) for mode in MODES}


def created(cfn: dict[str, Any], params: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation would create from translated `cfn` for `params`."""
    resources: dict[str, dict[str, Any]] = deployed(cfn, params)["Resources"]
    return resources


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == kind}


def streaming_integrations(body: dict[str, Any], active: dict[str, bool]) -> dict[str, Any]:
    paths = resolve_ifs(body["paths"], active)
    return {
        path: methods["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        for path, methods in paths.items()
    }


def test_stream_mode_is_a_regional_rest_api_streaming_every_path_to_run_sh(
    translated: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    cfn = translated["stream"]
    resources = created(cfn, {"ResponseMode": "stream"})
    # a REST API, no HTTP API; one router function: run.sh under the adapter
    assert not of_type(resources, "AWS::ApiGatewayV2::Api")
    ((api_name, api),) = of_type(resources, "AWS::ApiGateway::RestApi").items()
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    routers = {n: p for n, p in of_type(resources, "AWS::Lambda::Function").items()
               if p["Handler"] != "handler.handler" or "Router" in n}  # fmt: skip
    assert set(routers) == {"RouterStreamFunction"}
    router = routers["RouterStreamFunction"]
    assert router["Handler"] == "run.sh"
    assert router["Timeout"] == {"Ref": "RequestTimeoutSeconds"}
    assert router["Architectures"] == ["arm64"]
    assert any(isinstance(layer, dict) and str(layer.get("Fn::Sub", "")).startswith(LWA_LAYER)
               for layer in router["Layers"])  # fmt: skip
    # THEN `ANY /` and `ANY /{proxy+}` stream from the function with the request timeout
    integrations = streaming_integrations(api["Body"], {"IsStream": True})
    assert set(integrations) == {"/", "/{proxy+}"}
    mapping = template["Mappings"]["RequestTimeout"]
    for integration in integrations.values():
        assert integration["type"] == "aws_proxy"
        assert integration["responseTransferMode"] == "STREAM"
        uri = resolve_ifs(integration["uri"], {"IsStream": True})["Fn::Sub"]
        # the `live` alias (AutoPublishAlias), not $LATEST
        assert "/2021-11-15/functions/${RouterStreamFunctionAliaslive}/response-streaming-invocations" in uri
        find = integration["timeoutInMillis"]["Fn::FindInMap"]
        assert find == ["RequestTimeout", {"Ref": "RequestTimeoutSeconds"}, "Millis"]
        default = str(template["Parameters"]["RequestTimeoutSeconds"]["Default"])
        assert mapping[default]["Millis"] == 300_000
    # API Gateway may invoke it (one permission per path), and the API is deployed to the stage
    permissions = of_type(resources, "AWS::Lambda::Permission")
    assert sum(p["FunctionName"] == {"Ref": "RouterStreamFunctionAliaslive"}
               for p in permissions.values()) == 2  # fmt: skip
    ((_stage_name, stage),) = of_type(resources, "AWS::ApiGateway::Stage").items()
    assert stage["StageName"] == {"Ref": "Stage"}
    assert stage["RestApiId"] == {"Ref": api_name}


def test_buffered_mode_is_todays_http_api_and_mangum(translated: dict[str, dict[str, Any]]) -> None:
    resources = created(translated["buffered"], {"ResponseMode": "buffered"})
    assert not of_type(resources, "AWS::ApiGateway::RestApi")
    assert set(of_type(resources, "AWS::ApiGatewayV2::Api")) == {"RouterApi"}
    functions_ = of_type(resources, "AWS::Lambda::Function")
    assert "RouterStreamFunction" not in functions_
    router = functions_["RouterFunction"]
    assert router["Handler"] == "handler.handler"
    assert router["Timeout"] == 29
    assert not any("LambdaAdapterLayer" in str(layer) for layer in router["Layers"])


@pytest.mark.parametrize("mode", MODES)
def test_every_reference_resolves_in_each_mode_and_domain_combination(
    translated: dict[str, dict[str, Any]], mode: str
) -> None:
    cfn = translated[mode]
    for params in ({}, DOMAIN, {**DOMAIN, **ZONE}):
        stack = deployed(cfn, {"ResponseMode": mode, **params})
        known = set(stack["Resources"]) | set(cfn["Parameters"]) | {
            "AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId",
            "AWS::StackName", "AWS::URLSuffix",
        }  # fmt: skip
        dangling = {
            (where, ref)
            for where, body in [*stack["Resources"].items(), *stack["Outputs"].items()]
            for ref in references(body)
            if ref not in known
        }
        assert not dangling, (params, dangling)


@pytest.mark.parametrize("mode", MODES)
def test_the_custom_domain_latency_record_and_health_check_follow_the_mode(
    translated: dict[str, dict[str, Any]], mode: str
) -> None:
    resources = created(translated[mode], {"ResponseMode": mode, **DOMAIN, **ZONE})
    record = of_type(resources, "AWS::Route53::RecordSet")["LatencyRecord"]
    check = of_type(resources, "AWS::Route53::HealthCheck")["RegionHealthCheck"]["HealthCheckConfig"]
    assert record["Region"] == {"Ref": "AWS::Region"}
    assert record["SetIdentifier"] == {"Fn::Sub": "${AWS::Region}-${Stage}"}  # unique per stage
    if mode == "stream":
        domain = of_type(resources, "AWS::ApiGateway::DomainName")["RestApiDomain"]
        assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
        assert domain["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
        (mapping,) = of_type(resources, "AWS::ApiGateway::BasePathMapping").values()
        assert "BasePath" not in mapping  # the domain's root is the stage's root
        assert mapping["RestApiId"] == {"Ref": "RouterRestApi"}
        assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": "RestApiDomain.RegionalDomainName"}
        # the REST stage is a path prefix on the execute-api host
        assert check["ResourcePath"] == {"Fn::Sub": "/${Stage}/health"}
        assert check["FullyQualifiedDomainName"] == {
            "Fn::Sub": "${RouterRestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
        }
        assert not of_type(resources, "AWS::ApiGatewayV2::DomainName")
    else:
        assert set(of_type(resources, "AWS::ApiGatewayV2::DomainName")) == {"ApiDomain"}
        assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": "ApiDomain.RegionalDomainName"}
        assert check["ResourcePath"] == "/health"
        assert not of_type(resources, "AWS::ApiGateway::DomainName")


def test_the_integration_timeout_is_the_function_timeout_in_milliseconds(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["RequestTimeoutSeconds"]
    mapping = template["Mappings"]["RequestTimeout"]
    assert parameter["Default"] == 300
    assert sorted(int(v) for v in mapping) == sorted(parameter["AllowedValues"])
    for seconds, row in mapping.items():
        assert row == {"Millis": int(seconds) * 1000}
    assert max(parameter["AllowedValues"]) <= 900  # API Gateway streams for 15 minutes at most
    # deadline_s bounds the time to the first byte: below the shortest request timeout
    packaged = load_config(REPO / "config" / "edge-router.yaml")
    assert packaged.routing.deadline_s < min(parameter["AllowedValues"])


def test_each_mode_has_exactly_one_router_function(template: dict[str, Any]) -> None:
    conditions = {name: props for name, props in functions(template).items()}
    resources = template["Resources"]
    assert resources["RouterStreamFunction"]["Condition"] == "IsStream"
    assert resources["RouterFunction"]["Condition"] == "IsBuffered"
    assert "Condition" not in resources["HealthCheckerFunction"]
    assert set(conditions) == {"RouterStreamFunction", "RouterFunction", "HealthCheckerFunction"}
    assert template["Parameters"]["ResponseMode"]["Default"] == "stream"
    assert template["Parameters"]["ResponseMode"]["AllowedValues"] == MODES


def as_cloudformation(value: Any) -> Any:
    """`tests.support.cfn` reads `!Condition X` as `{"Fn::Condition": X}`; JSON spells it
    `{"Condition": X}`."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Condition"}:
            return {"Condition": value["Fn::Condition"]}
        return {k: as_cloudformation(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation(v) for v in value]
    return value


@pytest.mark.parametrize("mode", MODES)
def test_cfn_lint_passes_the_translated_template(
    translated: dict[str, dict[str, Any]], mode: str, tmp_path: Path
) -> None:
    # What CloudFormation itself receives: the resources SAM generates (the REST API's OpenAPI
    # body, stage, permissions) checked against their CloudFormation schemas. Two warnings are
    # the translator's own doing, not the template's: it substitutes parameter values into
    # `Fn::Sub` strings (W1020) and nests `Fn::If`s on a condition already known (W1028).
    path = tmp_path / f"translated-{mode}.json"
    path.write_text(json.dumps(as_cloudformation(translated[mode])), encoding="utf-8")
    result = cfn_lint(str(path), "--parameters", f"ResponseMode={mode}",
                      "--ignore-checks", "W1020", "W1028")
    assert result.returncode == 0, result.stdout + result.stderr
