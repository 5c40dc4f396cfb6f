"""Errors of the Messages API routes, in Anthropic's envelope with the statuses it uses.

`{"type": "error", "error": {"type": "<error type>", "message": "..."}}`; the type follows the
status (`protocols.anthropic.errors.error_type_for`), and two of baton's errors take Anthropic's
own status: every candidate overloaded is its 529 `overloaded_error` (which its clients back off
from and retry), and a deadline that ran out is a 504 `timeout_error`. Headers a client acts on
(`retry-after`) are kept, and a context-length refusal says "prompt is too long", the words
Claude Code looks for before it compacts a conversation. A path is a Messages route when
`is_messages_path` says so: the app's own errors (404, 405, 413, an unexpected exception) use
this envelope there too, so an Anthropic client can always read what went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.replies import JSON, Reply
from protocols.anthropic.errors import error_body, error_type_for
from protocols.errors import AllOverloaded, BatonError

OVERLOADED = 529  # Anthropic's status for overloaded_error
MESSAGES_PATHS = ("/v1/messages", "/messages")


def is_messages_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in MESSAGES_PATHS)


def messages_status(error: BatonError) -> int:
    return OVERLOADED if isinstance(error, AllOverloaded) else error.status


def messages_error_type(error: BatonError) -> str:
    return error_type_for(messages_status(error))


def messages_error_message(error: BatonError) -> str:
    """The message, worded where a client reads the words: Claude Code compacts the
    conversation when an error says the prompt is too long, as Anthropic's own does."""
    if error.code == "context_length_exceeded":
        return f"prompt is too long: {error.message}"
    return error.message


def messages_error_response(error: BatonError, headers: Mapping[str, str] | None = None) -> Reply:
    status = messages_status(error)
    body = error_body(error_type_for(status), messages_error_message(error))
    return Reply(status, {"content-type": JSON, **error.headers(), **(headers or {})}, body)
