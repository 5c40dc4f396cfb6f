"""The Anthropic Messages API at baton's two edges: pure translation, dicts and bytes.

baton runs every call as Chat Completions inside, so Anthropic appears in two directions:

- **Ingress** (a client such as Claude Code or the `anthropic` SDK calls baton's
  `POST /v1/messages`): the `messages_*` modules and `errors`. `messages_request` validates the
  client's body as Anthropic would and translates it to a Chat request (its `messages` through
  `messages_turns` and `messages_content`, its `tools` through `messages_tools`);
  `messages_reply` turns the Chat completion that comes back into an Anthropic `Message`;
  `messages_stream` turns the Chat chunks of a stream into Anthropic's exact SSE event
  sequence; `errors` gives every baton error Anthropic's envelope and an error type a client
  can act on.
- **Egress** (baton calls an upstream that speaks Messages natively, `kind: anthropic`): the
  `upstream_*` modules and `native`, kept apart because every mapping runs the other way
  there. `upstream_request` turns a Chat request into a Messages one (content through
  `upstream_content`); `upstream_reply` checks a Message and turns it into a Chat completion;
  `upstream_stream.MessagesChatGate` reads Anthropic's events as Chat chunks, and
  `native.MessagesNativeGate` passes them through for a Messages client (both read events
  through `events`).

The two directions share vocabulary, not code paths: ingress reads a client's Messages and
writes Chat, egress reads Chat and writes an upstream's Messages, so each can change without
the other noticing.

Malformed upstream replies and chunks raise `protocols.responses.UpstreamReplyError`, the same
exception the Responses translation raises, so the edge classifies both one way.
"""

from protocols.anthropic.errors import anthropic_error, error_body, error_type_for
from protocols.anthropic.messages_reply import message_from_completion, new_message_id
from protocols.anthropic.messages_request import (
    MessagesRequest,
    messages_request_from_payload,
    parse_messages_request,
)
from protocols.anthropic.messages_stream import MessagesStream

__all__ = [
    "MessagesRequest",
    "MessagesStream",
    "anthropic_error",
    "error_body",
    "error_type_for",
    "message_from_completion",
    "messages_request_from_payload",
    "new_message_id",
    "parse_messages_request",
]
