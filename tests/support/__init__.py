"""Helpers shared by tests of every tier (not tests themselves).

- `cfn`: load CloudFormation YAML (tolerates `!Ref`, `!Sub`, ...) and read a table's key schema.
- `moto_dynamodb`: a real moto server over HTTP on 127.0.0.1, tables created from
  `infra/global-table.yaml`, and the pytest fixtures `moto_endpoint` and `moto_table`
  (import them into a test module or a conftest to use them).
- `calls`: `CallCounter`, an `on_call` hook for the DynamoDB health store.
"""
