"""How one attempt speaks to its provider: the path, headers and body it sends, and how the
reply is read back into what the walk passes on.

| provider kind      | client's request          | sends                  | reply read back as     |
|--------------------|---------------------------|------------------------|------------------------|
| `openai`           | any                       | Chat Completions       | Chat (as sent)         |
| `openai-responses` | Responses                 | the Responses request  | Responses (native)     |
|                    | Chat, Messages            | Chat Completions       | Chat (as sent)         |
| `anthropic`        | Messages                  | the Messages request   | Messages (native)      |
|                    | Chat, Responses           | Messages, translated   | Chat, translated back  |
| any but anthropic  | Embeddings                | Embeddings             | Embeddings (as sent)   |

The walk and the edge see only two shapes: Chat Completions, or the client's own protocol
when the upstream speaks it (`native`). A translated reply is turned into a Chat completion
here, inside the provider actor, once its 200 body is known to be a Message; a translated
stream's gate (`MessagesChatGate`) turns Messages events into Chat chunks as they arrive. A
body that passes the check but cannot be translated is malformed, like any other.

Credentials: `Authorization: Bearer` for OpenAI-compatible upstreams; `x-api-key` and
`anthropic-version` for Anthropic's. A native Messages call also carries the client's own
`anthropic-version` and `anthropic-beta` (betas such as prompt caching or a longer context
change what the upstream accepts); a translated one sends only baton's version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from actors.messages import Attempt
from actors.upstream_stream import Gate
from protocols import jsoncodec, sse
from protocols.anthropic.native import (
    MessagesNativeGate,
    check_native_message,
    without_unsigned_thinking,
)
from protocols.anthropic.upstream_reply import check_message, completion_body_from_message_body
from protocols.anthropic.upstream_request import messages_from_chat
from protocols.anthropic.upstream_stream import MessagesChatGate
from protocols.chat import ChatRequest, check_completion
from protocols.chat_stream import ChatStreamGate
from protocols.embeddings import EmbeddingsRequest, check_embeddings
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault
from protocols.responses.native import NativeStreamGate, check_native_response
from protocols.stream_usage import UsageTap
from protocols.temperature import apply_temperature_zero, is_zero

ANTHROPIC_VERSION = "2023-06-01"  # the Messages API version baton's translation speaks
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")  # from a native Messages client


def _as_sent(body: bytes) -> bytes:
    return body


@attrs.frozen
class TemperatureZero:
    """A provider's `temperature_zero` (`protocols.temperature`), applied to what it is sent."""

    mode: str = "keep"
    value: float = 1.0

    def changes(self, payload: dict[str, Any]) -> bool:
        return self.mode != "keep" and is_zero(payload.get("temperature"))

    def applied(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.changes(payload):
            return payload
        return apply_temperature_zero(payload, self.mode, self.value)


KEEP = TemperatureZero()


def credential_headers(kind: str, secret: str | None) -> dict[str, str]:
    """What carries the key (and, to Anthropic, the API version) to a provider of `kind`."""
    if kind == "anthropic":
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if secret is not None:
            headers["x-api-key"] = secret
        return headers
    return {} if secret is None else {"authorization": "Bearer " + secret}


@attrs.frozen
class Dialect:
    path: str  # under the provider's base URL
    native: bool  # the reply is in the client's own protocol
    body: bytes = attrs.field(repr=False)
    headers: dict[str, str] = attrs.field(repr=False)
    check: Callable[[bytes], UpstreamFailure | None]  # None if a 200 body is whole
    translate: Callable[[bytes], bytes]  # a checked 200 body -> what the walk passes on
    gate: Gate

    @classmethod
    def of(
        cls,
        attempt: Attempt,
        kind: str,
        ask_usage: bool,
        max_event_bytes: int,
        temperature: TemperatureZero = KEEP,
    ) -> Dialect:
        """Raises `UpstreamFault` for what the provider cannot be asked at all."""
        model = attempt.target.model
        secret = attempt.credential.secret
        decoder = sse.SSEDecoder(max_event_bytes=max_event_bytes)
        native = attempt.native
        headers = credential_headers(kind, secret)
        request = attempt.request
        if isinstance(request, EmbeddingsRequest):
            if kind == "anthropic":
                message = "an Anthropic Messages upstream serves no embeddings"
                raise UpstreamFault(UpstreamFailure(FailureClass.NOT_FOUND, message))
            body = request.body_for(model)
            gate: Gate = ChatStreamGate(decoder=decoder)  # never read: embeddings do not stream
            return cls("embeddings", False, body, headers, check_embeddings, _as_sent, gate)
        if kind == "anthropic":
            if native is not None:
                headers.update(native.headers)
                payload = without_unsigned_thinking(temperature.applied(native.payload))
                body = jsoncodec.dumps({**payload, "model": model})
                gate = MessagesNativeGate(decoder=decoder)
                return cls("messages", True, body, headers, check_native_message, _as_sent, gate)
            body = jsoncodec.dumps(messages_from_chat(temperature.applied(request.payload), model))
            gate = MessagesChatGate(decoder=decoder, usage=UsageTap(keep=request.include_usage))
            translate = completion_body_from_message_body
            return cls("messages", False, body, headers, check_message, translate, gate)
        if native is not None:
            body = jsoncodec.dumps({**temperature.applied(native.payload), "model": model})
            gate = NativeStreamGate(decoder=decoder)
            return cls("responses", True, body, headers, check_native_response, _as_sent, gate)
        if temperature.changes(request.payload):
            payload = temperature.applied(request.payload)
            body = ChatRequest.from_payload(payload).body_for(model, ask_usage=ask_usage)
        else:
            body = request.body_for(model, ask_usage=ask_usage)
        gate = ChatStreamGate(decoder=decoder, usage=UsageTap(keep=request.include_usage))
        return cls("chat/completions", False, body, headers, check_completion, _as_sent, gate)
