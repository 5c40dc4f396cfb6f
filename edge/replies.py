"""The replies every route builds: JSON bodies, OpenAI error envelopes, SSE headers."""

from __future__ import annotations

from edge.wire import Reply
from protocols import jsoncodec
from protocols.errors import BatonError

JSON = "application/json"
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(status, {"content-type": JSON, **(headers or {})}, jsoncodec.dumps(payload))


def error_response(error: BatonError, headers: dict[str, str] | None = None) -> Reply:
    """The envelope with the error's status and headers (Retry-After) plus `headers`."""
    return Reply(
        error.status, {"content-type": JSON, **error.headers(), **(headers or {})}, error.body()
    )
