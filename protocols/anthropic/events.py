"""Reading one event of an Anthropic Messages stream, for both gates that read them.

An event is `event: <type>` and `data: <json>`, the JSON repeating the type in its `type`
field, which is what is read (an `event:` line alone says nothing the data does not). A data
that is not a JSON object with a string `type` is malformed; an `error` event is the
upstream's failure, classified by its error's `type` (`protocols.failures`).

Usage is told in two halves: `message_start`'s message carries the input side
(`input_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`) and a placeholder
`output_tokens`; `message_delta` carries the final `output_tokens` (and, from newer models,
the input fields again). `merge_usage` folds the second over the first.
"""

from __future__ import annotations

from typing import Any

from protocols import jsoncodec
from protocols.anthropic.upstream_reply import error_object
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault, classify_error_object


def read_event(data: str) -> dict[str, Any]:
    """One event's data, decoded. Raises `UpstreamFault`: malformed, or the upstream's error."""
    try:
        event = jsoncodec.loads(data)
    except (ValueError, RecursionError):
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise UpstreamFault(
            UpstreamFailure(FailureClass.MALFORMED, "upstream sent a malformed Messages event")
        )
    if event["type"] == "error":
        raise UpstreamFault(classify_error_object(error_object(event)))
    return event


def merge_usage(usage: dict[str, Any] | None, update: Any) -> dict[str, Any] | None:
    """`usage` with the counts of `update` (a later event's `usage`) over it."""
    if not isinstance(update, dict):
        return usage
    merged = dict(usage or {})
    merged.update((name, value) for name, value in update.items() if value is not None)
    return merged
