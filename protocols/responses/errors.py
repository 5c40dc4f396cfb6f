"""The two ways a Responses translation can fail, one per side of the gateway.

- `RequestError`: the client sent something the Responses API would refuse, or that has no
  Chat Completions equivalent. It is a `BadRequest` (a `CallerError`), so the edge answers 400
  with the OpenAI envelope and `param` naming the offending path (`input[2].call_id`). No other
  candidate would do better, so it is never retried.
- `UpstreamReplyError`: a Chat reply or chunk that is not one (no `choices`, a non-object
  delta, an in-band `{"error": ...}`). A `ValueError`, like the checks in `protocols.chat`; the
  caller classifies it (malformed, or the in-band error's own class) and fails over or, once
  output has reached the client, ends the stream with `ResponseStream.fail`.
"""

from __future__ import annotations

from protocols.chat_choice import UpstreamReplyError
from protocols.errors import BadRequest

__all__ = ["RequestError", "UpstreamReplyError"]  # the latter lives with the Chat reading


class RequestError(BadRequest):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message, param=param)
