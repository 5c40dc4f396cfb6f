"""What went wrong with one upstream attempt, and what that means for the rest of the call.

Every upstream failure is mapped here, once, into a `FailureClass`. The class alone decides
what the supervisor does next:

| class          | from                                     | cools key | next key | next target |
|----------------|------------------------------------------|-----------|----------|-------------|
| rate_limit     | 429, 402, quota codes in an error body   | yes       | yes      | yes         |
| auth           | 401, 403                                 | yes       | yes      | yes         |
| server         | 5xx, an error body with no better class  | no        | no       | yes         |
| timeout        | connect/first-byte/idle timeouts, 408    | no        | no       | yes         |
| connect        | refused, reset or cut before any reply   | no        | no       | yes         |
| malformed      | a 200 that is not the protocol           | no        | no       | yes         |
| not_found      | 404: this upstream lacks the model       | no        | no       | yes         |
| context_length | 400/413 about context or token size      | no        | no       | yes         |
| caller         | other 4xx (400, 413, 415, 422, ...)      | no        | no       | no: client  |

A 3xx is a failure of the `server` class: redirects are never followed (a key must never go
to another host), and an upstream that redirects will redirect every call.

A connection or stream cut after the reply began is a `connect` failure with the code
`upstream_cut` (`CUT`), so a stream that ends that way says so to the client rather than
looking like a refused connection; before the commit point it fails over like any `connect`.

What an upstream says in its error is not trusted to be fit to show: it may echo the key it
was sent (`"param": "Bearer sk-..."`, a `code` that is the key itself). `shown` is the one
place a failure is made fit for the client, the logs and the disk: the known secrets and any
credential-shaped text are scrubbed out of `message` and `param`, and `code` and `type` are
kept only when they are a plain identifier that holds no secret (the vocabulary upstreams
use: `rate_limit_exceeded`, `invalid_request_error`, ...); anything else is dropped.

An upstream 413 that speaks of tokens is a context/size limit of that provider (Groq answers
413 for prompts over its per-minute token budget), which another candidate may not share.

Anthropic wraps its error as `{"type": "error", "error": {"type": ..., "message": ...}}` (read
like OpenAI's `{"error": ...}`) and names the class in the error's `type`. With a status, the
status decides (529 `overloaded_error` is a 5xx; `prompt is too long` on a 400 or 413 is the
context). Without one (a stream's `error` event, an error in a 200 body) the type does:
`ERROR_TYPE_CLASSES` (`overloaded_error` and `api_error`: server, `rate_limit_error` and
`billing_error`: rate limit, `authentication_error` and `permission_error`: auth,
`not_found_error`: not found, `timeout_error`: timeout).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from protocols import jsoncodec
from protocols.ratelimit_headers import retry_after_seconds
from protocols.redact import scrub, scrub_patterns


class FailureClass(enum.Enum):
    RATE_LIMIT = "rate_limit"
    AUTH = "auth"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECT = "connect"
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    CONTEXT_LENGTH = "context_length"
    CALLER = "caller"

    @property
    def cools_key(self) -> bool:
        return self in (FailureClass.RATE_LIMIT, FailureClass.AUTH)

    @property
    def tries_next_key(self) -> bool:
        return self.cools_key

    @property
    def returns_to_caller(self) -> bool:
        return self is FailureClass.CALLER


@attrs.frozen
class UpstreamFailure:
    """One failed attempt. `message` is safe to show: callers scrub secrets before building it."""

    failure: FailureClass
    message: str
    status: int | None = None
    code: str | None = None
    type: str | None = None
    param: str | None = None
    retry_after: float | None = None

    @property
    def trail_mark(self) -> str:
        """How the attempt shows in `x-baton-route`: an error status, else the class."""
        if self.status is not None and self.status >= 300:
            return str(self.status)
        return self.failure.value


CUT = "upstream_cut"  # the code of a reply or stream cut off mid-way


def cut(message: str) -> UpstreamFailure:
    """A reply or stream that the upstream (or the network) cut off after it began."""
    return UpstreamFailure(FailureClass.CONNECT, message, code=CUT)


class UpstreamFault(Exception):
    """Raised where an attempt fails, carrying the one `UpstreamFailure` it was mapped to."""

    def __init__(self, failure: UpstreamFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def shown(failure: UpstreamFailure, secrets: Iterable[str | None]) -> UpstreamFailure:
    """`failure` fit to show anywhere: see the module's docstring."""
    secrets = tuple(secrets)

    def text(value: str | None) -> str | None:
        return None if value is None else scrub_patterns(scrub(value, secrets))

    def identifier(value: str | None) -> str | None:
        if value is None or not _IDENTIFIER.fullmatch(value) or text(value) != value:
            return None
        return value

    fit = attrs.evolve(
        failure,
        message=text(failure.message) or "",
        code=identifier(failure.code),
        type=identifier(failure.type),
        param=text(failure.param),
    )
    return failure if fit == failure else fit


_CONTEXT_PATTERN = re.compile(
    r"context[ _](length|window)|maximum context|too many tokens|prompt is too long|"
    r"input is too long|reduce the length|token limit|exceeds? the (model'?s? )?(maximum|limit)",
    re.IGNORECASE,
)
_RATE_CODES = ("rate_limit", "ratelimit", "quota", "too_many_requests", "resource_exhausted")
# error types that say the class themselves (Anthropic's vocabulary), for errors with no status
ERROR_TYPE_CLASSES = {
    "authentication_error": FailureClass.AUTH,
    "permission_error": FailureClass.AUTH,
    "not_found_error": FailureClass.NOT_FOUND,
    "billing_error": FailureClass.RATE_LIMIT,  # the key's credit ran out, as a 402
    "timeout_error": FailureClass.TIMEOUT,
    "overloaded_error": FailureClass.SERVER,
    "api_error": FailureClass.SERVER,
}


def reply_object(body: bytes) -> dict[str, Any] | UpstreamFailure:
    """A 200 body decoded as the JSON object every reply is, or why it is malformed."""
    try:
        reply = jsoncodec.loads(body)
    except (ValueError, RecursionError):
        return UpstreamFailure(
            FailureClass.MALFORMED, "upstream returned a body that is not JSON", status=200
        )
    if not isinstance(reply, dict):
        return UpstreamFailure(
            FailureClass.MALFORMED, "upstream returned JSON that is not an object", status=200
        )
    return reply


def classify_response(
    status: int, body: bytes, headers: Mapping[str, str], *, now: float
) -> UpstreamFailure:
    """Classify a non-2xx upstream reply. `headers` must look up names case-insensitively."""
    if 300 <= status < 400:
        return UpstreamFailure(
            FailureClass.SERVER,
            f"upstream redirected (HTTP {status}); redirects are not followed: check base_url",
            status=status,
        )
    error = _error_object(body)
    message = _message(error, status)
    code = _str_field(error, "code")
    type_ = _str_field(error, "type")
    param = _str_field(error, "param")
    retry_after = retry_after_seconds(headers, now=now)
    failure = _class_for(status, message, code, type_)
    return UpstreamFailure(
        failure,
        message,
        status=status,
        code=code,
        type=type_,
        param=param,
        retry_after=retry_after,
    )


def classify_error_object(
    error: Mapping[str, Any], *, status: int | None = None
) -> UpstreamFailure:
    """An `{"error": ...}` object met where a success was expected (a 200 body, a stream event)."""
    message = _message(error, status)
    code = _str_field(error, "code")
    type_ = _str_field(error, "type")
    failure = ERROR_TYPE_CLASSES.get(type_ or "", FailureClass.SERVER)
    text = f"{code or ''} {type_ or ''}".lower()
    if any(mark in text for mark in _RATE_CODES):
        failure = FailureClass.RATE_LIMIT
    elif "context_length" in text or _CONTEXT_PATTERN.search(message):
        failure = FailureClass.CONTEXT_LENGTH
    return UpstreamFailure(failure, message, status=status, code=code, type=type_)


def _class_for(status: int, message: str, code: str | None, type_: str | None) -> FailureClass:
    text = f"{code or ''} {type_ or ''}".lower()
    if status in (429, 402):
        return FailureClass.RATE_LIMIT
    if status in (401, 403):
        return FailureClass.AUTH
    if status == 404:
        return FailureClass.NOT_FOUND
    if status == 408:
        return FailureClass.TIMEOUT
    if status >= 500:
        return FailureClass.SERVER
    if status in (400, 413) and (
        "context_length" in text
        or _CONTEXT_PATTERN.search(message)
        or (status == 413 and "token" in message.lower())
    ):
        return FailureClass.CONTEXT_LENGTH
    if any(mark in text for mark in _RATE_CODES):
        return FailureClass.RATE_LIMIT
    return FailureClass.CALLER


def _error_object(body: bytes) -> Mapping[str, Any]:
    try:
        parsed = jsoncodec.loads(body) if body else None
    except ValueError:
        return {}
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]  # Gemini's OpenAI endpoint wraps errors in a list
    if not isinstance(parsed, dict):
        return {}
    error = parsed.get("error", parsed)
    if isinstance(error, str):
        return {"message": error}
    return error if isinstance(error, dict) else {}


def _str_field(error: Mapping[str, Any], name: str) -> str | None:
    value = error.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _message(error: Mapping[str, Any], status: int | None) -> str:
    message = error.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()[:2000]
    return f"upstream answered HTTP {status}" if status else "upstream reported an error"
