"""The smallest request body the OpenAPI document accepts for an operation (for access tests).

A cross-clinic request must be refused by the patient lookup, not by body validation that
happens to run first; so the role walk sends a body that passes the schema.
"""

from __future__ import annotations

from typing import Any

from ketaclinic.api import api


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value valid for `schema` (required properties only)."""
    schema = _resolve(schema, components)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"]
            return example(options[0], components)
    if "allOf" in schema:
        return example(schema["allOf"][0], components)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema.get("type") != "object":
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: example(props[name], components) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), components)] * schema.get("minItems", 0)
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return "2020-01-01"
        if fmt == "date-time":
            return "2020-01-01T12:00:00Z"
        if fmt == "email":
            return "someone@example.org"
        return "x" * max(1, schema.get("minLength", 1))
    return None


def request_body(method: str, path: str) -> dict[str, Any] | None:
    """The smallest valid JSON body for `method path` (a /api/v1/... path), or None."""
    document = api.get_openapi_schema()
    components = document.get("components", {}).get("schemas", {})
    operation = document["paths"].get(path, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else example(schema, components)
