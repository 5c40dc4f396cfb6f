"""Function tools and response schemas as the text OpenAI's models read them in.

A model never sees a request's `tools` JSON. OpenAI's chat formats render them into the system
prompt as a TypeScript namespace, which OpenAI published with its harmony format (the renderer
of gpt-oss, `openai/harmony`):

    # Tools

    ## functions

    namespace functions {

    // Get the current weather in a given location
    type get_current_weather = (_: {
    // The city and state, e.g. San Francisco, CA
    location: string,
    unit?: "celsius" | "fahrenheit", // default: "celsius"
    }) => any;

    } // namespace functions

Property comments are descriptions (plus titles and examples); `?` marks a property that is not
`required`; `integer` reads as `number`, an enum as a union of literals, an array as `T[]`,
nested objects indent by four spaces. Where harmony has no rule (`anyOf`, `const`, `$ref`,
`allOf`), this module writes the nearest TypeScript (`A | B`, a literal, the referenced name,
`any`): the point is a faithful token count, not a byte-exact prompt.

A `json_schema` response format reads, in the same prompt, as harmony's

    # Response Formats

    ## {name}

    // {description}
    {the schema as compact JSON}
"""

from __future__ import annotations

import json
from typing import Any

_INDENT = "    "
_SCALARS = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean"}


def render_tools(tools: list[dict[str, Any]]) -> str:
    """The `# Tools` section for Chat `tools` entries (`{"type": "function", "function": ...}`).

    A tool of another type (`custom`, ...) has no published rendering: it is written as its
    compact JSON in the same namespace, which costs about what its definition says."""
    lines = ["# Tools", "", "## functions", "", "namespace functions {", ""]
    for tool in tools:
        function = tool.get("function") if tool.get("type", "function") == "function" else None
        if not isinstance(function, dict):
            lines += [_compact(tool), ""]
            continue
        description = function.get("description")
        if isinstance(description, str) and description:
            lines += [f"// {line}" for line in description.splitlines()]
        name = function.get("name", "")
        parameters = function.get("parameters")
        if isinstance(parameters, dict) and parameters:
            lines.append(f"type {name} = (_: {typescript(parameters, '')}) => any;")
        else:
            lines.append(f"type {name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def render_response_format(response_format: Any) -> str:
    """The `# Response Formats` section for a `json_schema` format; "" for any other."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return ""
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        return ""
    lines = ["# Response Formats", "", f"## {spec.get('name', '')}", ""]
    description = spec.get("description")
    if isinstance(description, str) and description:
        lines.append(f"// {description}")
    lines.append(_compact(spec.get("schema", {})))
    return "\n".join(lines)


def typescript(schema: Any, indent: str) -> str:
    """`schema` as a TypeScript type; an object's own lines are indented by `indent`."""
    if not isinstance(schema, dict):
        return "any"
    if "const" in schema:
        return _compact(schema["const"])
    variants = schema.get("oneOf", schema.get("anyOf"))
    if isinstance(variants, list) and variants:
        return " | ".join(typescript(variant, indent) for variant in variants)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(typescript({**schema, "type": one}, indent) for one in kind)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return " | ".join(_compact(value) for value in enum)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
        return _object(schema, indent)
    if kind == "array":
        items = schema.get("items")
        return f"{typescript(items, indent)}[]" if isinstance(items, dict) else "Array<any>"
    if kind == "null":
        return "null"
    return _SCALARS.get(kind, "any") if isinstance(kind, str) else "any"


def _object(schema: dict[str, Any], indent: str) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return "object"
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    out = ["{"]
    for key, value in properties.items():
        value = value if isinstance(value, dict) else {}
        out += _comments(value, indent)
        mark = "" if key in required else "?"
        type_text = typescript(value, indent + _INDENT)
        if value.get("nullable") is True and "null" not in type_text:
            type_text += " | null"
        line = f"{indent}{key}{mark}: {type_text},"
        if "default" in value:
            line += f" // default: {_compact(value['default'])}"
        out.append(line)
    out.append(f"{indent}}}")
    return "\n".join(out)


def _comments(schema: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    title = schema.get("title")
    if isinstance(title, str) and title:
        lines += [f"{indent}// {title}", f"{indent}//"]
    description = schema.get("description")
    if isinstance(description, str) and description:
        lines += [f"{indent}// {line}" for line in description.splitlines()]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        lines.append(f"{indent}// Examples:")
        lines += [f"{indent}// - {_compact(example)}" for example in examples]
    return lines


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
