"""The top-level `model_catalog:` section: model names or fnmatch patterns and what is known of
them, over the bundled catalog (`config.model_catalog`).

```yaml
model_catalog:
  gpt-4o: {input_price: 2.0}                    # one field over the bundled entry
  "my-finetune-*":                              # a model the catalog does not know
    context_window: 32768
    max_output: 4096
    input_price: 0.5
    output_price: 1.5
    cached_input_price: 0.25
    capabilities: [tools, json_schema]          # exactly these
  "qwen3-coder*": {capabilities: {vision: true}}   # these flags over the bundled ones
```

Entries are tried in the order written, the first that matches wins, and are matched like the
bundled ones (case-insensitively, with or without a provider or vendor prefix). Each field is
optional and laid over the bundled entry for the model; `null` makes a bundled value unknown
again. Token counts are integers >= 1, prices numbers >= 0 (USD per 1M tokens).
`capabilities` is a list (the model can do exactly these) or a mapping of flags (these over the
bundled ones).
"""

from __future__ import annotations

from config.model_info import CAPABILITIES, PRICE_FIELDS, TOKEN_FIELDS, CatalogEntry, Value
from config.reader import Reader, child, shown

FIELDS = (*TOKEN_FIELDS, *PRICE_FIELDS, "capabilities")


def read_model_catalog(
    reader: Reader, value: object, path: str = "model_catalog"
) -> tuple[CatalogEntry, ...]:
    entries: list[CatalogEntry] = []
    for name, body in (reader.mapping(value, path) or {}).items():
        entry_path = child(path, name)
        if not name.strip():
            reader.fail(entry_path, "an entry must be a non-empty model name or pattern")
            continue
        fields = _fields(reader, body, entry_path)
        if fields is not None:
            entries.append(CatalogEntry(name.strip(), fields))
    return tuple(entries)


def _fields(reader: Reader, value: object, path: str) -> dict[str, Value] | None:
    section = reader.mapping(value, path, allowed=FIELDS)
    if section is None:
        return None
    before = len(reader.problems)
    fields: dict[str, Value] = {}
    for name, raw in section.items():
        field_path = child(path, name)
        if name == "capabilities":
            fields.update(_capabilities(reader, raw, field_path))
        elif raw is None:
            fields[name] = None
        elif name in TOKEN_FIELDS:
            fields[name] = reader.integer(raw, field_path, minimum=1)
        else:
            fields[name] = reader.number(
                raw, field_path, "must be a number >= 0 (USD per 1M tokens)", minimum=0
            )
    return fields if len(reader.problems) == before else None


def _capabilities(reader: Reader, value: object, path: str) -> dict[str, Value]:
    if isinstance(value, list):
        named: set[str] = set()
        for index, item in enumerate(value):
            if item not in CAPABILITIES:
                reader.fail(f"{path}[{index}]", _not_a_capability(item))
            else:
                named.add(str(item))
        return {name: name in named for name in CAPABILITIES}
    flags: dict[str, Value] = {}
    if not isinstance(value, dict):
        reader.fail(path, f"expected a list or a mapping of {', '.join(CAPABILITIES)}")
        return flags
    for name, flag in (reader.mapping(value, path, allowed=CAPABILITIES) or {}).items():
        if isinstance(flag, bool):
            flags[name] = flag
        else:
            reader.fail(child(path, name), f"expected true or false, got {shown(flag)}")
    return flags


def _not_a_capability(item: object) -> str:
    return f"expected one of {', '.join(CAPABILITIES)}, got {shown(item)}"
