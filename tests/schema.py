"""Validate objects against the OpenAI spec: `validate(obj, "CreateChatCompletionResponse")`.

The spec (OpenAPI 3.1, so its schemas are JSON Schema 2020-12) is loaded once per process and
registered as one `referencing` resource, so `$ref: '#/components/schemas/...'` resolves
inside it. Two things make it more than `jsonschema.validate`:

- The spec still uses OpenAPI 3.0's `nullable: true` in places (e.g. a chunk's `finish_reason`,
  `logprobs` and `usage`), which 2020-12 ignores, so `null` would be refused there even though
  OpenAI sends it. Each `nullable: true` schema is rewritten to `anyOf: [schema, {type: null}]`.
- Parsing 3 MB of YAML takes ~1.5 s even with libyaml, so the normalised document is cached
  as JSON in the temp directory, keyed by the spec's path, size and mtime.

The spec is found through $BATON_OPENAPI_SPEC, then ../shared/spec beside the repository
(where CI puts it), then spec/ in the repository, then /work/shared.
Schemas do not forbid extra properties, so a misspelt optional field passes; the validation is
about shapes, types and required fields.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

SPEC_ENV = "BATON_OPENAPI_SPEC"
SPEC_NAME = "openai-openapi.yaml"
_CANDIDATES = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "spec" / SPEC_NAME,  # CI's layout
    Path(__file__).resolve().parent.parent / "spec" / SPEC_NAME,
    Path("/work/shared/spec") / SPEC_NAME,
)
_BASE_URI = "urn:baton:openai-openapi"
_CACHE_VERSION = "1"


class SchemaMismatch(AssertionError):
    """`obj` does not match the named schema; the message lists every violation."""


def spec_path() -> Path:
    configured = os.environ.get(SPEC_ENV)
    if configured:
        return Path(configured)
    for candidate in _CANDIDATES:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(c) for c in _CANDIDATES)
    raise FileNotFoundError(f"OpenAI spec not found (set ${SPEC_ENV}; tried {tried})")


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


def _cache_file(path: Path) -> Path:
    stat = path.stat()
    key = f"{_CACHE_VERSION}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"baton-openapi-{digest}.json"


@functools.cache
def document() -> dict[str, Any]:
    """The whole spec, normalised (cached in memory and on disk)."""
    path = spec_path()
    cache = _cache_file(path)
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        doc = _normalise(yaml.load(handle, Loader=loader))
    try:  # write then rename, so a concurrent reader never sees half a file
        scratch = cache.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(scratch, cache)
    except OSError:
        pass
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
        raise KeyError(f"no schema {schema_name!r} in {spec_path()}")
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
