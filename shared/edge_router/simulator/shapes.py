"""Small pure helpers the simulated APIs share: counting a request's text, and making a value
that fits a JSON schema (tool arguments, structured output) so that answers look plausible."""

from __future__ import annotations

from typing import Any

__all__ = ["example_of", "text_chars", "tool_wanted"]


def text_chars(value: Any) -> int:
    """Characters of text in a prompt of any API's shape (strings, content parts, messages)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(text_chars(value.get(k)) for k in ("text", "content", "input", "output"))
    return 0


def tool_wanted(choice: Any) -> bool:
    """False for a `tool_choice` that forbids tools (`"none"`, `{"type": "none"}`)."""
    if choice == "none":
        return False
    return not (isinstance(choice, dict) and choice.get("type") == "none")


def example_of(schema: Any, depth: int = 0) -> Any:
    """A value of `schema`'s type: objects get their required (or all) properties."""
    if not isinstance(schema, dict) or depth > 6:
        return {}
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        required = schema.get("required")
        names = required if isinstance(required, list) and required else list(properties)
        return {n: example_of(properties.get(n), depth + 1) for n in names if isinstance(n, str)}
    if kind == "array":
        return [example_of(schema.get("items"), depth + 1)]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True}.get(kind if isinstance(kind, str) else "")
