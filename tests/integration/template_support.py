"""Shared by the template tests: the parsed templates, constants and IAM helpers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edge_router import observability
from tests.support.cfn import REPO

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
#: The custom domain's resources in each ResponseMode: a REST API domain for `stream`, an HTTP
#: API one for `buffered`; the latency record and its health check in both.
DOMAIN_RESOURCES = {
    "stream": {"RestApiDomain", "RestApiMapping"},
    "buffered": {"ApiDomain", "ApiMapping"},
}
DNS_RESOURCES = {"RegionHealthCheck", "LatencyRecord"}
OPTIONAL_RESOURCES = set.union(DNS_RESOURCES, *DOMAIN_RESOURCES.values())



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


def role_statements(role: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every IAM statement of an `AWS::IAM::Role`'s inline policies, `Fn::If` branches included."""
    for policy in role["Properties"].get("Policies", []):
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        for branch in branches:
            if isinstance(branch, dict) and "PolicyDocument" in branch:
                yield from branch["PolicyDocument"]["Statement"]


def router_statements(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The router's IAM statements: one role (`RouterRole`) for whichever router function the
    ResponseMode creates; neither function may carry policies of its own."""
    for name in ("RouterFunction", "RouterStreamFunction"):
        props = template["Resources"][name]["Properties"]
        assert props["Role"] == {"Fn::GetAtt": "RouterRole.Arn"} and "Policies" not in props, name
    return list(role_statements(template["Resources"]["RouterRole"]))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

