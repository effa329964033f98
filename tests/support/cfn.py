"""CloudFormation templates as plain data, and the key schema of the table a template defines.

`yaml.safe_load` rejects CloudFormation's short-form tags (`!Ref`, `!Sub`, `!If`, ...);
`load_template` reads each as its long form (`{"Ref": ...}`, `{"Fn::Sub": ...}`), which is all a
test needs to look at resource properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
GLOBAL_TABLE_TEMPLATE = REPO / "infra" / "global-table.yaml"
TABLE_TYPES = ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")


class CfnLoader(yaml.SafeLoader):
    """A safe loader that also understands CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: str | Path) -> dict[str, Any]:
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=CfnLoader)  # a SafeLoader
    assert isinstance(data, dict), f"{path}: not a mapping"
    return data


@dataclass(frozen=True)
class TableSchema:
    """What `CreateTable` needs from a template's table resource."""

    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    ttl_attribute: str | None

    @property
    def hash_key(self) -> str:
        return next(k["AttributeName"] for k in self.key_schema if k["KeyType"] == "HASH")

    @property
    def range_key(self) -> str | None:
        return next((k["AttributeName"] for k in self.key_schema if k["KeyType"] == "RANGE"), None)


def table_schema(path: str | Path = GLOBAL_TABLE_TEMPLATE) -> TableSchema:
    """The key schema of the one DynamoDB table the template at `path` defines."""
    resources = load_template(path).get("Resources", {})
    tables = [r for r in resources.values() if r.get("Type") in TABLE_TYPES]
    assert len(tables) == 1, f"{path}: expected one DynamoDB table, found {len(tables)}"
    props = tables[0]["Properties"]
    ttl = props.get("TimeToLiveSpecification") or {}
    return TableSchema(
        key_schema=[dict(k) for k in props["KeySchema"]],
        attribute_definitions=[dict(a) for a in props["AttributeDefinitions"]],
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled", False) else None,
    )
