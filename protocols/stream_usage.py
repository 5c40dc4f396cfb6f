"""Usage of a streamed Chat reply: always asked of the upstream, shown to the client only if it
asked.

A Chat stream reports its tokens only when the request says `stream_options.include_usage`;
baton needs them for every call (telemetry, cost, token windows), so `ask_for_usage` adds the
option to what goes upstream. The upstream then sends `"usage": null` on every chunk and a last
chunk with `choices: []` and the usage. A client that did not ask for that must not get it
(some clients choke on a chunk without choices), so a `UsageTap` on the stream reads the usage
and, for such a client, drops the usage chunk (no choices, a `usage` that is not null, no
`error`: an error is never swallowed) and takes a usage that sits beside choices out of its
chunk. A `"usage": null` is left where it is: it tells the client nothing, and a chunk without
choices may need it to stay a well-formed chunk (one with neither is malformed). Groq's
`x_groq.usage` is read but left in place: Groq sends it unasked.

The tap sees every chunk of every stream, so it is cheap for the chunks that matter least:
one without the text `"usage"`, or whose only mention is `"usage":null` (OpenAI's chunks),
passes through untouched after a substring search or two. Only a chunk that carries usage, or a
chunk of another shape that mentions it, is decoded; only one that loses its `usage` is
re-encoded. A chunk that is not JSON passes through: judging it is the stream gate's job.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from protocols import jsoncodec
from protocols.usage import Usage, usage_of_chunk

_MARK = '"usage"'
_NULL_USAGE = '"usage":null'  # compact JSON's null usage (OpenAI's chunks carry it)

Data = TypeVar("Data", str, bytes)


def client_asked_for_usage(payload: dict[str, Any]) -> bool:
    """The Chat request streams and asks for usage itself (as `ChatRequest.include_usage`)."""
    options = payload.get("stream_options")
    return bool(
        payload.get("stream") is True and isinstance(options, dict) and options.get("include_usage")
    )


def ask_for_usage(payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The Chat request payload to send upstream, and whether the client asked for usage.

    A streamed request gets `stream_options.include_usage: true` (other `stream_options` kept);
    `payload` itself is not changed. A request that does not stream, that asked already, or
    whose `stream_options` is not an object (the upstream will refuse it as the client sent
    it) is returned as it is.
    """
    asked = client_asked_for_usage(payload)
    options = payload.get("stream_options")
    if asked or payload.get("stream") is not True or not isinstance(options, dict | None):
        return payload, asked
    return {**payload, "stream_options": {**(options or {}), "include_usage": True}}, False


def filter_chunk(data: Data, *, keep: bool) -> tuple[Data | None, Usage | None]:
    """One Chat stream chunk (the JSON of a `data:` event, str or bytes): what to forward (None:
    drop it) and the usage it carried. `keep`: the client asked for usage, so nothing is
    removed."""
    if isinstance(data, bytes):
        if b'"usage"' not in data:
            return data, None
        decoded = data.decode("utf-8", errors="replace")
        text, usage = _filter_text(decoded, keep)
        if text is None:
            return None, usage
        return (data if text is decoded else text.encode()), usage
    if _MARK not in data:
        return data, None
    return _filter_text(data, keep)


def _filter_text(data: str, keep: bool) -> tuple[str | None, Usage | None]:
    if _NULL_USAGE in data and data.count(_MARK) == 1:
        return data, None  # `"usage":null` says nothing and hides nothing: pass it as it is
    try:
        chunk = jsoncodec.loads(data)
    except (ValueError, RecursionError):
        return data, None
    usage = usage_of_chunk(chunk)
    if keep or not isinstance(chunk, dict) or chunk.get("usage") is None:
        return data, usage
    if not chunk.get("choices") and chunk["usage"] is not None and "error" not in chunk:
        return None, usage  # the usage chunk: it exists only because usage was asked for
    del chunk["usage"]
    return jsoncodec.dumps(chunk).decode(), usage


@attrs.define
class UsageTap:
    """One stream's usage: `take` each chunk's data in order; `usage` is the last one the
    upstream reported (None: it reported none). `keep`: the client asked for usage."""

    keep: bool
    usage: Usage | None = None

    def take(self, data: Data) -> Data | None:
        """The chunk to forward (None: drop it)."""
        forwarded, usage = filter_chunk(data, keep=self.keep)
        if usage is not None and usage.known:
            self.usage = usage
        return forwarded
