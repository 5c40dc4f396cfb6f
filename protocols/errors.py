"""The exception tree every part of baton raises, and the OpenAI error envelope.

Two branches, kept apart because they lead to different things:
- `CallerError`: the client's own fault (4xx). Never retried on another candidate.
- `GatewayError`: baton or its upstreams could not answer (429 when every candidate is rate
  limited, 502/503 when upstreams failed, 504 when the call's deadline ran out).
Each carries what the OpenAI envelope needs: status, type, code, param and a message that is
safe to show (it never contains a secret).
"""

from __future__ import annotations

from typing import Any

from protocols import jsoncodec


def error_envelope(
    message: str, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class BatonError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.message, self.type, self.code, self.param)

    def body(self) -> bytes:
        return jsoncodec.dumps(self.envelope())

    def headers(self) -> dict[str, str]:
        return {}


class CallerError(BatonError):
    status = 400
    type = "invalid_request_error"


class BadRequest(CallerError):
    code = "invalid_request"


class Untranslatable(BadRequest):
    """Valid in the client's protocol but with no Chat form (an Anthropic server tool's blocks
    in the history, a file source): only an upstream that speaks that protocol can take it."""

    code = "untranslatable"


class Unauthorized(CallerError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(CallerError):
    status = 404
    code: str | None = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class NoCapableCandidate(CallerError):
    """Every candidate of the model was passed over as unable to take the request (tools,
    images, `json_schema`, embeddings, the prompt's size): the message says why, per
    candidate; another model, or a smaller request, would do."""

    code = "no_capable_candidate"
    param = "model"


class PayloadTooLarge(CallerError):
    status = 413
    code = "request_too_large"


class MethodNotAllowed(CallerError):
    status = 405
    code = "method_not_allowed"


class UpstreamRejected(CallerError):
    """An upstream refused the request for a reason every candidate would share (a 400)."""

    def __init__(
        self, status: int, message: str, *, type: str | None, code: str | None, param: str | None
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.status = status
        self.type = type or "invalid_request_error"


class GatewayError(BatonError):
    pass


class AllRateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, int(-(-self.retry_after // 1))))}


class UpstreamFailed(GatewayError):
    status = 502
    type = "server_error"
    code = "upstream_error"


class AllOverloaded(GatewayError):
    """Every candidate said it is overloaded (503, Anthropic's 529 `overloaded_error`): a
    state that passes, unlike a failure. The Messages API says so with its own 529."""

    status = 503
    type = "server_error"
    code = "upstream_overloaded"


class NoCandidate(GatewayError):
    status = 503
    type = "server_error"
    code = "no_available_provider"


class DeadlineExceeded(GatewayError):
    status = 504
    type = "timeout_error"
    code = "deadline_exceeded"


class GatewayOverloaded(GatewayError):
    """baton's own queue for new calls is full: the client may retry shortly."""

    status = 503
    type = "server_error"
    code = "gateway_overloaded"


class InternalError(GatewayError):
    """A bug in baton failed this call (and only this call): the traceback is in the log."""

    status = 500
    type = "server_error"
    code = "internal_error"
