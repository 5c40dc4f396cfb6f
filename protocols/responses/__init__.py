"""The Responses API over Chat Completions upstreams: pure translation, dicts in, dicts out.

- `responses_to_chat(request, resolve_item=..., history=...)`: a `CreateResponse` body as a
  Chat request body, plus what was dropped (`ChatTranslation`); `history_items` expands a
  `previous_response_id` from the stored input and output of that response.
- `chat_to_response(completion, request=..., ids=..., created_at=...)`: a Chat completion as a
  `Response`.
- `ResponseStream`: Chat chunks in, Responses stream events out.
- `IdFactory`: `resp_`/`msg_`/`fc_`/`rs_` ids, random or deterministic.
- `RequestError` (the client's fault, 400) and `UpstreamReplyError` (the upstream's).
"""

from protocols.responses.errors import RequestError, UpstreamReplyError
from protocols.responses.ids import IdFactory
from protocols.responses.reply import chat_to_response
from protocols.responses.request import ChatTranslation, history_items, responses_to_chat
from protocols.responses.stream import ResponseStream

__all__ = [
    "ChatTranslation",
    "IdFactory",
    "RequestError",
    "ResponseStream",
    "UpstreamReplyError",
    "chat_to_response",
    "history_items",
    "responses_to_chat",
]
