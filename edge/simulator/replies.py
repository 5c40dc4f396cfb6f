"""What the simulator received, what it may answer, and scripts that choose the answer.

A `Script` is a plain function from `SimRequest` to a reply value. The reply values are inert
descriptions (`@attrs.frozen`); `edge.simulator.server` turns them into bytes on the wire, so a
test reads as a table of "this request gets that misbehaviour".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import attrs


def _headers(value: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in value.items()}


@attrs.frozen
class SimRequest:
    """One request as the simulator received it (header names lower-cased)."""

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(converter=_headers)
    body: bytes
    json: Any | None

    @property
    def api_key(self) -> str | None:
        """The key from `Authorization: Bearer X`, `x-api-key` or `api-key`, if any."""
        scheme, _, token = self.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return self.headers.get("x-api-key") or self.headers.get("api-key") or None

    @property
    def model(self) -> str | None:
        model = self.json.get("model") if isinstance(self.json, dict) else None
        return model if isinstance(model, str) else None

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and self.json.get("stream") is True

    @property
    def include_usage(self) -> bool:
        """True when the request asked for `stream_options.include_usage`."""
        options = self.json.get("stream_options") if isinstance(self.json, dict) else None
        return isinstance(options, dict) and options.get("include_usage") is True


@attrs.frozen
class ToolCall:
    id: str = "call_1"
    name: str = "get_weather"
    arguments: str = '{"city":"Paris"}'


@attrs.frozen
class Complete:
    """A successful chat completion, as JSON or as an SSE stream (the request decides).

    `chunks`: how to split `text` for streaming: None splits into word-ish tokens (" from"),
    an int into that many near-equal pieces, a tuple of strings gives the pieces verbatim.
    `finish_reason` None means "tool_calls" when there are tool calls, else "stop".
    `usage`: True computes rough token counts, False omits usage, a mapping is sent as given
    (`total_tokens` filled in when missing).
    """

    text: str = "Hello from sim"
    chunks: int | tuple[str, ...] | None = None
    chunk_delay: float = 0.0
    model: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=tuple)
    reasoning: str = ""
    usage: bool | Mapping[str, Any] = True
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_headers)
    delay: float = 0.0


# Default envelope per status: (type, code, message), modelled on OpenAI's own replies.
_ENVELOPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", "permission_denied", "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("timeout", "timeout", "Request timed out."),
    413: ("invalid_request_error", "request_too_large", "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", "bad_gateway", "Bad gateway."),
    503: ("server_error", "service_unavailable", "The engine is currently overloaded."),
    504: ("server_error", "timeout", "Gateway timeout."),
}


def error_envelope(
    status: int, message: str | None = None, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The OpenAI error envelope a real upstream would send with `status`."""
    fallback = "invalid_request_error" if status < 500 else "server_error"
    kind, default_code, default_message = _ENVELOPES.get(status, (fallback, None, f"HTTP {status}"))
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": param,
            "code": code or default_code,
        }
    }


@attrs.frozen
class Error:
    """An error status. `body` None sends the envelope for `status`, a dict is sent as JSON,
    bytes are sent raw (`text/plain` unless `headers` name a content-type)."""

    status: int = 500
    body: Mapping[str, Any] | bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_headers)
    delay: float = 0.0

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, *, delay: float = 0.0) -> Error:
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return cls(429, headers=headers, delay=delay)

    @classmethod
    def insufficient_quota(cls) -> Error:
        message = "You exceeded your current quota, please check your plan and billing details."
        body = error_envelope(429, message, code="insufficient_quota")
        body["error"]["type"] = "insufficient_quota"
        return cls(429, body=body)

    @classmethod
    def invalid_api_key(cls) -> Error:
        return cls(401)

    @classmethod
    def context_length_exceeded(cls) -> Error:
        message = "This model's maximum context length is 8192 tokens. Please reduce the length."
        return cls(
            400, body=error_envelope(400, message, code="context_length_exceeded", param="messages")
        )


@attrs.frozen
class Hang:
    """Read the request and never answer, until the client gives up and closes."""

    delay: float = 0.0


@attrs.frozen
class Stall:
    """Streams: headers and the first `after_chunks` SSE events of `reply`, then silence.
    The role chunk is event 0, so `after_chunks=1` stalls before any content.
    Non-stream: headers and half the body, then silence."""

    after_chunks: int = 2
    reply: Complete = Complete()
    delay: float = 0.0


@attrs.frozen
class Cut:
    """Like `Stall`, but closes the TCP connection instead of going silent (no terminating
    chunk, no `[DONE]`). `reset` closes with an RST (SO_LINGER 0) instead of a FIN."""

    after_chunks: int = 2
    reply: Complete = Complete()
    reset: bool = False
    delay: float = 0.0


@attrs.frozen
class Garbage:
    """A malformed reply sent as a well-formed HTTP message. `content_type` None means
    `application/json` for plain requests and `text/event-stream` for streaming ones.
    `hold`: send `body` chunked, then neither end it nor close (an endless line, say)."""

    body: bytes = b"<html>oops</html>"
    status: int = 200
    content_type: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_headers)
    delay: float = 0.0
    hold: bool = False


@attrs.frozen
class Drip:
    """Raw bytes, not framed by h11: `prefix` at once, then `data` a byte every `interval`
    seconds (a drip-feed that keeps a connection busy without ever finishing), then an RST
    with `reset`, else silence until the client gives up."""

    data: bytes
    interval: float = 0.5
    prefix: bytes = b""
    reset: bool = False
    delay: float = 0.0


Reply: TypeAlias = Complete | Error | Hang | Stall | Cut | Garbage | Drip
Script: TypeAlias = Callable[[SimRequest], Reply]
ReplyOrScript: TypeAlias = Reply | Script


def _resolve(choice: ReplyOrScript, request: SimRequest) -> Reply:
    return choice(request) if callable(choice) else choice


def always(reply: Reply) -> Script:
    """Answer every request with `reply`."""
    return lambda _request: reply


def sequence(*replies: ReplyOrScript, then: ReplyOrScript | None = None) -> Script:
    """One reply per call in order; afterwards `then`, or the last reply forever.

    Each item may itself be a script (e.g. `by_key(...)`), called for its turn.
    """
    if not replies:
        raise ValueError("sequence() needs at least one reply")
    items = list(replies)
    after = then if then is not None else items[-1]
    position = 0

    def script(request: SimRequest) -> Reply:
        nonlocal position
        choice = items[position] if position < len(items) else after
        position += 1
        return _resolve(choice, request)

    return script


UNKNOWN_KEY = Error(401)
UNKNOWN_MODEL = Error(404)


def by_key(replies: Mapping[str, ReplyOrScript], default: ReplyOrScript = UNKNOWN_KEY) -> Script:
    """Choose by the request's API key; an unknown or missing key gets `default` (401)."""
    table = dict(replies)
    return lambda request: _resolve(table.get(request.api_key or "", default), request)


def by_model(
    replies: Mapping[str, ReplyOrScript], default: ReplyOrScript = UNKNOWN_MODEL
) -> Script:
    """Choose by the request's `model`; an unknown model gets `default` (404)."""
    table = dict(replies)
    return lambda request: _resolve(table.get(request.model or "", default), request)
