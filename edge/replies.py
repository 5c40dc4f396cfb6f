"""The HTTP replies every route builds: JSON bodies, OpenAI error envelopes, SSE headers."""

from __future__ import annotations

from quart import Response

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
) -> Response:
    return Response(
        jsoncodec.dumps(payload), status=status, headers={"content-type": JSON, **(headers or {})}
    )


def error_response(error: BatonError, headers: dict[str, str] | None = None) -> Response:
    """The envelope with the error's status and headers (Retry-After) plus `headers`."""
    return Response(
        error.body(),
        status=error.status,
        headers={"content-type": JSON, **error.headers(), **(headers or {})},
    )
