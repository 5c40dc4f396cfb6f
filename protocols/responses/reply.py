"""A non-streamed Chat completion as a Response.

Output order follows what the model did: the reasoning item, the message (text and refusal
parts), then one `function_call` item per tool call, `call_id` being the Chat tool call `id`
(minted as `call_...` if the upstream gave none). Ids are minted in that order, the order a
stream of the same reply mints them in, so both paths give the same Response.
"""

from __future__ import annotations

from typing import Any

from protocols import jsoncodec
from protocols.chat_choice import completion_choice
from protocols.responses.envelope import request_echo, response_object
from protocols.responses.errors import UpstreamReplyError
from protocols.responses.ids import IdFactory
from protocols.responses.output import (
    function_call_item,
    message_item,
    outcome,
    reasoning_item,
    reasoning_text,
    refusal_part,
    text_part,
    usage_from_chat,
)


def chat_to_response(
    chat_completion: dict[str, Any],
    *,
    request: dict[str, Any],
    ids: IdFactory,
    created_at: int,
    completed_at: int | None = None,
) -> dict[str, Any]:
    choice, message = completion_choice(chat_completion)

    response_id = ids.response()
    output: list[dict[str, Any]] = []
    reasoning = reasoning_text(message)
    if reasoning:
        output.append(reasoning_item(ids.reasoning(), reasoning, "completed"))
    parts: list[dict[str, Any]] = []
    if message.get("content"):
        parts.append(text_part(message["content"]))
    if message.get("refusal"):
        parts.append(refusal_part(message["refusal"]))
    if parts:
        output.append(message_item(ids.message(), parts, "completed"))
    for call in message.get("tool_calls") or ():
        output.append(_function_call(call, ids))

    status, incomplete = outcome(choice.get("finish_reason"))
    if status == "incomplete" and output:
        output[-1]["status"] = "incomplete"
    return response_object(
        response_id,
        created_at,
        request_echo(request),
        status=status,
        output=output,
        usage=usage_from_chat(chat_completion.get("usage")),
        incomplete_details=incomplete,
        completed_at=completed_at,
    )


def _function_call(call: Any, ids: IdFactory) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise UpstreamReplyError("upstream tool call has no function name")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # a few servers send the parsed object
        arguments = jsoncodec.dumps(arguments).decode()
    elif not isinstance(arguments, str):
        arguments = ""
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = ids.call()
    return function_call_item(
        ids.function_call(), call_id, function["name"], arguments, "completed"
    )
