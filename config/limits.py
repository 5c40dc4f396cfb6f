"""A provider's rate limits: `limits`, `model_limits` and `quota_groups`.

    providers:
      groq:
        limits: {rpm: 30, tpm: 6000, rpd: 1000, tpd: 100000}   # every model, per key
        model_limits:
          moonshotai/kimi-k2-instruct: {rpm: 60, tpm: 10000}    # a model...
          kimi: {rpd: 2000}                                     # ...or a quota group
        quota_groups:
          kimi: [moonshotai/kimi-k2-instruct, moonshotai/kimi-k2-instruct-0905]

Every limit is a ceiling for one key: requests (`rpm`, `rpd`) and tokens (`tpm`, `tpd`) per
rolling minute and day. A model's limits are looked up field by field: its own entry in
`model_limits`, then its quota group's, then the provider's `limits`; a field set nowhere is
no ceiling of ours (the upstream's rate-limit headers still count).

`model_limits` sits beside `models` rather than inside it so that a provider passing any model
(`models: ["*"]`) can still be given limits for one. A quota group names models that draw on
one shared quota per key (aliases of one upstream model); each model belongs to at most one,
every member must be a model the provider serves, and a group may not be named like a model,
since `model_limits` could then not tell the two apart.
"""

from __future__ import annotations

from collections.abc import Collection

from config.model import ANY_MODEL, Limits
from config.reader import Reader, child, shown

LIMIT_FIELDS = ("rpm", "tpm", "rpd", "tpd")


def read_limits(reader: Reader, value: object, path: str) -> Limits | None:
    fields = reader.mapping(value, path, allowed=LIMIT_FIELDS)
    if fields is None:
        return None
    before = len(reader.problems)
    found = {
        name: _positive(reader, raw, child(path, name))
        for name, raw in fields.items()
        if raw is not None
    }
    if len(reader.problems) > before:
        return None
    return Limits(
        rpm=found.get("rpm"), tpm=found.get("tpm"), rpd=found.get("rpd"), tpd=found.get("tpd")
    )


def read_quota_groups(
    reader: Reader, value: object, path: str, models: Collection[str] | None
) -> dict[str, tuple[str, ...]] | None:
    """`models` is what the provider lists (None if that could not be read: no checks)."""
    section = reader.mapping(value, path)
    if section is None:
        return None
    before = len(reader.problems)
    groups: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for name, body in section.items():
        group_path = child(path, name)
        items = [] if body is None else reader.items(body, group_path)
        if items is None:
            continue
        if not items:
            reader.fail(group_path, "list at least one model")
            continue
        members: list[str] = []
        for index, item in enumerate(items):
            item_path = f"{group_path}[{index}]"
            model = _model_name(reader, item, item_path)
            if model is None:
                continue
            if model in owner and owner[model] != name:
                reader.fail(item_path, f"{model!r} is already in quota group {owner[model]!r}")
            elif models is not None and not serves_model(models, model):
                reader.fail(item_path, not_listed(model, models))
            elif model not in members:
                members.append(model)
                owner[model] = name
        groups[name] = tuple(members)
    for name in groups:
        if name in owner or (models is not None and name in models):
            reader.fail(
                child(path, name),
                "a quota group may not be named like a model (model_limits could not tell"
                " them apart)",
            )
    return groups if len(reader.problems) == before else None


def read_model_limits(
    reader: Reader,
    value: object,
    path: str,
    models: Collection[str] | None,
    groups: Collection[str] | None,
) -> dict[str, Limits] | None:
    """Limits by model or quota group name; checked against both when they could be read."""
    section = reader.mapping(value, path)
    if section is None:
        return None
    before = len(reader.problems)
    found: dict[str, Limits] = {}
    for name, body in section.items():
        entry_path = child(path, name)
        if not name.strip():
            reader.fail(entry_path, "empty model name")
            continue
        if models is not None and groups is not None:
            if not serves_model(models, name) and name not in groups:
                listed = ", ".join(m for m in models if m != ANY_MODEL)
                reader.fail(
                    entry_path,
                    f"names neither a model the provider lists ({listed}) nor a quota group",
                )
                continue
        limits = read_limits(reader, body, entry_path)
        if limits is not None:
            found[name] = limits
    return found if len(reader.problems) == before else None


def _positive(reader: Reader, value: object, path: str) -> int | None:
    number = value
    if isinstance(value, str):
        text = reader.expand(value, path)
        if text is None:
            return None
        try:
            number = int(text.strip())
        except ValueError:
            number = text
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        reader.fail(path, f"must be a positive integer, got {shown(number)}")
        return None
    return number


def _model_name(reader: Reader, value: object, path: str) -> str | None:
    text = reader.text(value, path)
    if text is not None and not text.strip():
        reader.fail(path, "empty model name")
        return None
    return None if text is None else text.strip()


def serves_model(models: Collection[str], model: str) -> bool:
    return ANY_MODEL in models or model in models


def not_listed(model: str, models: Collection[str]) -> str:
    listed = ", ".join(m for m in models if m != ANY_MODEL)
    return f"the provider does not list model {model!r} (it lists {listed})"
