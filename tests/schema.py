"""Validate objects against the OpenAI spec: `validate(obj, "CreateChatCompletionResponse")`.

The spec is the subset vendored in tests/spec: the schemas the tests name and every schema they
reference, unchanged from OpenAI's openapi.yaml (tests/spec/README.md says which commit and how
to regenerate it). It is OpenAPI 3.1, so its schemas are JSON Schema 2020-12; it is loaded once
per process and registered as one `referencing` resource, so `$ref: '#/components/schemas/...'`
resolves inside it.

One thing makes this more than `jsonschema.validate`: the spec still uses OpenAPI 3.0's
`nullable: true` in places (e.g. a chunk's `finish_reason`, `logprobs` and `usage`), which
2020-12 ignores, so `null` would be refused there even though OpenAI sends it. Each
`nullable: true` schema is rewritten to `anyOf: [schema, {type: null}]` on loading.

Schemas do not forbid extra properties, so a misspelt optional field passes; the validation is
about shapes, types and required fields.
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

SPEC = Path(__file__).resolve().parent / "spec" / "openai-openapi-subset.yaml"
_BASE_URI = "urn:baton:openai-openapi"


class SchemaMismatch(AssertionError):
    """`obj` does not match the named schema; the message lists every violation."""


def _normalise(node: Any) -> Any:
    """JSON-safe copy of the YAML tree with OpenAPI 3.0 `nullable` turned into 2020-12."""
    if isinstance(node, dict):
        out = {str(k): _normalise(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    if isinstance(node, datetime.date):  # YAML turns unquoted dates in examples into dates
        return node.isoformat()
    return node


@functools.cache
def document() -> dict[str, Any]:
    """The vendored spec, normalised (loaded once per process)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open("rb") as handle:
        doc: dict[str, Any] = _normalise(yaml.load(handle, Loader=loader))
    return doc


@functools.cache
def _registry() -> referencing.Registry[Any]:
    resource = referencing.Resource.from_contents(
        document(), default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(_BASE_URI, resource)


def schema_names() -> frozenset[str]:
    return frozenset(document()["components"]["schemas"])


@functools.cache
def validator(schema_name: str) -> jsonschema.Draft202012Validator:
    """A validator for `#/components/schemas/<schema_name>`, built once per name."""
    if schema_name not in schema_names():
        raise KeyError(
            f"no schema {schema_name!r} in {SPEC.name}: add it to ROOTS in tests/spec/extract.py"
            " and regenerate (tests/spec/README.md)"
        )
    ref = {"$ref": f"{_BASE_URI}#/components/schemas/{schema_name}"}
    return jsonschema.Draft202012Validator(ref, registry=_registry())


def errors(obj: Any, schema_name: str) -> list[str]:
    """Every violation, as `path: message` lines (empty when `obj` is valid)."""
    lines = []
    for error in validator(schema_name).iter_errors(obj):
        line = f"{error.json_path}: {error.message}"
        if error.context:  # anyOf/oneOf: say why each branch failed
            reasons = sorted({e.message for e in error.context})
            line += f" ({'; '.join(reasons[:6])})"
        lines.append(line)
    return sorted(lines)


def validate(obj: Any, schema_name: str) -> None:
    """Raise `SchemaMismatch` (an AssertionError) unless `obj` matches the named schema."""
    problems = errors(obj, schema_name)
    if problems:
        listing = "\n  ".join(problems)
        raise SchemaMismatch(f"not a valid {schema_name}:\n  {listing}")
