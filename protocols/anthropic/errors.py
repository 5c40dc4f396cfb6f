"""baton's errors in the Anthropic envelope, with the error types Anthropic's clients act on.

Anthropic answers every failure with `{"type": "error", "error": {"type": ..., "message": ...}}`
and an HTTP status; its SDKs pick the exception class from the status and show the message, and
Claude Code retries on `rate_limit_error` and `overloaded_error` (429, 529, 503) and on
`api_error` (5xx). So baton keeps its own status (it already says what a client can do) and
derives the type from it, with two refinements:
- `AllRateLimited` (every candidate rate limited or out of quota) is 429 `rate_limit_error`, and
  keeps its `retry-after` header (the edge takes it from `error.headers()`);
- 504 (baton's deadline ran out) is `timeout_error` and 402 is `billing_error`, the types the
  Anthropic API itself sends for those statuses (the SDK's `ErrorObject` union lists both).
The message is baton's own, which never contains a secret. The same envelope is the `data` of
a stream's `error` event (`MessagesStream.fail`).
"""

from __future__ import annotations

from protocols import jsoncodec
from protocols.errors import AllRateLimited, BatonError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_object(error_type: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_body(error_type: str, message: str) -> bytes:
    """The JSON body Anthropic sends with an error status."""
    return jsoncodec.dumps(error_object(error_type, message))


def error_type_for(status: int) -> str:
    """Anthropic's error type for an HTTP status: other 4xx are the request's fault, other
    statuses (5xx and anything unexpected) the server's."""
    known = _TYPES.get(status)
    if known is not None:
        return known
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def anthropic_error(error: BatonError) -> tuple[int, bytes]:
    """The status and Anthropic body for any baton error."""
    if isinstance(error, AllRateLimited):
        return 429, error_body("rate_limit_error", error.message)
    return error.status, error_body(error_type_for(error.status), error.message)
