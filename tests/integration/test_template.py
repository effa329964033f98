"""The deployment files against the code they deploy (SPEC §6-§8).

`template.yaml`, `infra/global-table.yaml`, `samconfig.toml`, `env.json`, the packaged config,
`shared/requirements.txt` and `infra/deploy-all.sh` are checked statically: cfn-lint, environment
variable names against `edge_router.config.env`, handler paths, the table's keys against
`edge_router.health.items`, least-privilege IAM, and every reference resolving in each
combination of the optional custom-domain parameters. No AWS call is made.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from edge_router.config import env, load_config
from edge_router.config.defaults import DEFAULT_HOME, DEFAULT_UPSTREAMS, HOLYSHEEP_BASE_URL
from edge_router.config.model import Ops, Routing
from tests.integration.template_support import (
    DNS_RESOURCES,
    DOMAIN,
    DOMAIN_RESOURCES,
    LAYER_PYTHON_DIR,
    OPTIONAL_RESOURCES,
    REGIONS,
    ZONE,
    as_list,
    functions,
    router_statements,
    statements,
)
from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

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


@pytest.mark.parametrize("mode", ["stream", "buffered"])
@pytest.mark.parametrize("params", [{}, DOMAIN, {**DOMAIN, **ZONE}], ids=["none", "domain", "domain+zone"])
def test_cfn_lint_passes_in_each_mode_with_the_custom_domain_parameters(
    params: dict[str, str], mode: str
) -> None:
    params = {"ResponseMode": mode, **params}
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


@pytest.mark.parametrize("mode", ["stream", "buffered"])
@pytest.mark.parametrize(
    ("params", "dns"),
    [
        ({}, False),
        (DOMAIN, False),
        (ZONE, False),  # a zone without a domain and certificate creates nothing
        ({**DOMAIN, **ZONE}, True),
    ],
    ids=["no-domain", "domain", "zone-only", "domain+zone"],
)
def test_each_custom_domain_combination_creates_the_right_resources_and_resolves(
    template: dict[str, Any], params: dict[str, str], dns: bool, mode: str
) -> None:
    expected_optional = (DOMAIN_RESOURCES[mode] if "DomainName" in params else set()) | (
        DNS_RESOURCES if dns else set()
    )
    # GIVEN the template deployed in `mode` with (a subset of) the custom-domain parameters
    stack = deployed(template, {"ResponseMode": mode, **params})
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
        stack = deployed(template, params)
        granted = {
            "HealthCheckerFunction": list(statements(functions(stack)["HealthCheckerFunction"])),
            "RouterRole": router_statements({"Resources": {
                **stack["Resources"],
                "RouterFunction": template["Resources"]["RouterFunction"],  # a buffered-only one
            }}),
        }  # fmt: skip
        for name, found in granted.items():
            actions = {a for s in found for a in as_list(s["Action"])}
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


def test_ops_endpoints_are_private_unless_the_parameter_says_public(
    template: dict[str, Any],
) -> None:
    # the parameter feeds the variable that overrides `ops.endpoints`, with the same values
    parameter = template["Parameters"]["OpsEndpoints"]
    values = typing.get_args(Ops.model_fields["endpoints"].annotation)
    assert (parameter["Default"], sorted(parameter["AllowedValues"])) == (
        "private", sorted(values))
    assert env.OPS_ENDPOINTS in env.OVERRIDES
    for name, variables in environment(template).items():
        if name.startswith("Router"):
            assert variables[env.OPS_ENDPOINTS] == {"Ref": "OpsEndpoints"}, name


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
        "RouterStreamFunction": "functions/router/",
        "HealthCheckerFunction": "functions/health_checker/",
    }
    props = functions(template)
    assert {name: p["CodeUri"] for name, p in props.items()} == expected
    for name, p in props.items():
        if p["Handler"].endswith(".sh"):  # run by the web adapter's bootstrap (stream mode)
            script = REPO / p["CodeUri"] / p["Handler"]
            assert script.is_file() and script.stat().st_mode & 0o111, f"{name}: {script}"
            continue
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
    shared = {"SharedLayerBuffered": "requirements-buffered.txt",
              "SharedLayerStream": "requirements-stream.txt"}  # fmt: skip
    for name in shared:  # built by shared/Makefile (test_template_hardening.py, test_layer.py)
        assert resources[name]["Metadata"] == {"BuildMethod": "makefile",
                                               "BuildArchitecture": "arm64"}  # fmt: skip
    layer = resources["ConfigLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    for name in [*shared, "ConfigLayer"]:
        props = resources[name]["Properties"]
        assert props["ContentUri"] == ("config/" if name == "ConfigLayer" else "shared/")
        assert props["CompatibleArchitectures"] == ["arm64"]
        assert props["CompatibleRuntimes"] == ["python3.12"]
    assert (REPO / "shared" / "edge_router" / "__init__.py").is_file()
    assert all((REPO / "shared" / f).is_file() for f in shared.values())


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


