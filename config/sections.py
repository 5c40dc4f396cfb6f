"""The `server:`, `timeouts:`, `embeddings:` and `virtual_models:` sections.

Virtual models are read after the providers, since every hop of a chain must name a declared
provider and, unless that provider passes any model (`"*"`), a model it lists.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from config.env import expand
from config.health import read_order
from config.model import ProviderConfig, ServerConfig, Target, Timeouts, VirtualModel
from config.reader import Reader, child, kind, shown
from config.settings import EmbeddingsSettings

SERVER_FIELDS = (
    "api_keys",
    "max_body_bytes",
    "shutdown_grace",
    "header_timeout",
    "body_timeout",
    "max_connections",
    "keepalive_timeout",
    "write_timeout",
)
TIMEOUT_FIELDS = tuple(field.name for field in attrs.fields(Timeouts))
VIRTUAL_MODEL_FIELDS = ("chain", "order")
EMBEDDINGS_FIELDS = ("batch_window", "max_batch_inputs")


def read_server(reader: Reader, value: object, path: str = "server") -> ServerConfig | None:
    fields = reader.mapping(value, path, allowed=SERVER_FIELDS)
    if fields is None:
        return None
    server = ServerConfig()
    if fields.get("api_keys") is not None:
        api_keys = _client_keys(reader, fields["api_keys"], child(path, "api_keys"))
        server = attrs.evolve(server, api_keys=api_keys)
    if fields.get("max_body_bytes") is not None:
        limit = reader.integer(fields["max_body_bytes"], child(path, "max_body_bytes"), minimum=1)
        server = attrs.evolve(server, max_body_bytes=limit or server.max_body_bytes)
    durations: dict[str, Any] = {}
    for name in (
        "shutdown_grace",
        "header_timeout",
        "body_timeout",
        "keepalive_timeout",
        "write_timeout",
    ):
        if fields.get(name) is not None:
            seconds = reader.seconds(fields[name], child(path, name))
            if seconds is not None:
                durations[name] = seconds
    server = attrs.evolve(server, **durations)
    if fields.get("max_connections") is not None:
        cap = reader.integer(fields["max_connections"], child(path, "max_connections"), minimum=1)
        server = attrs.evolve(server, max_connections=cap or server.max_connections)
    return server


def read_embeddings(
    reader: Reader, value: object, path: str = "embeddings"
) -> EmbeddingsSettings | None:
    fields = reader.mapping(value, path, allowed=EMBEDDINGS_FIELDS)
    if fields is None:
        return None
    settings = EmbeddingsSettings()
    if fields.get("batch_window") is not None:
        window = reader.number(
            fields["batch_window"],
            child(path, "batch_window"),
            "expected a number of seconds, 0 or more (0: no batching)",
            minimum=0,
        )
        if window is not None:
            settings = attrs.evolve(settings, batch_window=window)
    if fields.get("max_batch_inputs") is not None:
        path_ = child(path, "max_batch_inputs")
        most = reader.integer(fields["max_batch_inputs"], path_, minimum=1)
        settings = attrs.evolve(settings, max_batch_inputs=most or settings.max_batch_inputs)
    return settings


def _client_keys(reader: Reader, value: object, path: str) -> tuple[str, ...]:
    """The bearer tokens clients present. Unlike upstream keys, an unset one is an error:
    silently dropping it could leave the server open."""
    keys: list[str] = []
    for index, item in enumerate(reader.items(value, path, secret=True) or []):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str):
            reader.fail(item_path, f"expected a string, got {kind(item)}")
            continue
        result = expand(item, reader.env)
        for name in result.missing:
            reader.fail(item_path, f"{name} is not set")
        key = result.value.strip()
        if not result.missing and not key:
            empty = f"{result.variable} is empty" if result.variable else "empty key"
            reader.fail(item_path, empty)
        elif key and key not in keys:
            keys.append(key)
    return tuple(keys)


def read_timeouts(reader: Reader, value: object, path: str = "timeouts") -> Timeouts | None:
    fields = reader.mapping(value, path, allowed=TIMEOUT_FIELDS)
    if fields is None:
        return None
    timeouts = Timeouts()
    for name, raw in fields.items():
        seconds = None if raw is None else reader.seconds(raw, child(path, name))
        if seconds is not None:
            timeouts = attrs.evolve(timeouts, **{name: seconds})
    return timeouts


def read_virtual_models(
    reader: Reader,
    value: object,
    providers: Mapping[str, ProviderConfig],
    declared: Collection[str],
    path: str = "virtual_models",
) -> dict[str, VirtualModel]:
    """`declared` holds every provider name in the document; `providers` those that read
    cleanly (only those can be asked which models they serve)."""
    models: dict[str, VirtualModel] = {}
    for name, body in (reader.mapping(value, path) or {}).items():
        model_path = child(path, name)
        if "/" in name:
            prefix = name.partition("/")[0]
            if prefix in declared:
                reader.fail(
                    model_path,
                    f"clashes with the provider/model id {name!r};"
                    " a virtual model name may not contain '/'",
                )
            else:
                reader.fail(model_path, "a virtual model name may not contain '/'")
            continue
        # `name: [a/b, c/d]` is short for `name: {chain: [a/b, c/d]}`.
        fields = (
            {"chain": body}
            if isinstance(body, list)
            else reader.mapping(body, model_path, allowed=VIRTUAL_MODEL_FIELDS)
        )
        if fields is None:
            continue
        chain = _chain(reader, fields.get("chain"), child(model_path, "chain"), providers, declared)
        order = read_order(reader, fields.get("order"), child(model_path, "order"))
        if chain is not None and order is not None:
            models[name] = VirtualModel(name=name, chain=chain, order=order)
    return models


def _chain(
    reader: Reader,
    value: object,
    path: str,
    providers: Mapping[str, ProviderConfig],
    declared: Collection[str],
) -> tuple[Target, ...] | None:
    items = [] if value is None else reader.items(value, path)
    if items is None:
        return None
    if not items:
        reader.fail(path, "empty chain: name at least one provider/model")
        return None
    before = len(reader.problems)
    chain: list[Target] = []
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        text = reader.text(item, item_path)
        if text is None:
            continue
        try:
            target = Target.parse(text.strip())
        except ValueError:
            reader.fail(item_path, f"expected provider/model, got {shown(text)}")
            continue
        provider = providers.get(target.provider)
        if target.provider not in declared:
            reader.fail(item_path, f"unknown provider {target.provider!r}")
        elif provider is not None and not provider.serves(target.model):
            listed = ", ".join(provider.listed_models)
            reader.fail(
                item_path,
                f"provider {target.provider!r} does not list model {target.model!r}"
                f" (it lists {listed})",
            )
        elif target in chain:
            reader.warn(item_path, f"{target.label} is already in the chain; tried again")
            chain.append(target)
        else:
            chain.append(target)
    return tuple(chain) if len(reader.problems) == before else None
