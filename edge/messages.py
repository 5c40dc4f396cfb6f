"""`POST /v1/messages`: the Anthropic Messages API, as JSON or Anthropic's event stream.

A Messages request is translated to a Chat call (`protocols.anthropic.messages_request`) and
walks the same chain, with the same failover, telemetry and provenance, as Chat Completions
and Responses. A provider of `kind: anthropic` gets the client's request itself (`Native`,
with the client's `anthropic-version` and `anthropic-beta`): thinking signatures,
`cache_control` and server tools reach it intact, and its reply comes back untouched. Any
other provider's Chat reply is translated back (`messages_reply`, `messages_stream`).

Errors are Anthropic's envelope (`edge.messages_errors`) with the statuses it uses: a call
every candidate refused as overloaded is a 529 `overloaded_error`, all rate-limited a 429.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import trio

from actors.messages import Completed, Failed, Native, Provenance, Streaming
from actors.system import ActorSystem
from actors.telemetry.record import CANCELLED, OK
from edge.incoming import Incoming
from edge.messages_errors import messages_error_response
from edge.messages_stream import MessagesBody
from edge.meter import CallMeter, MeteredStream, request_id_of
from edge.replies import JSON, SSE_HEADERS, Answer, Reply, StreamReply
from edge.request_log import CallTrail
from edge.walk_events import first_event, submit, walked
from protocols import jsoncodec
from protocols.anthropic.messages_reply import message_from_completion, new_message_id
from protocols.anthropic.messages_request import (
    MessagesRequest,
    native_only_request,
    parse_messages_request,
)
from protocols.anthropic.messages_stream import MessagesStream
from protocols.anthropic.upstream_reply import usage_of_message
from protocols.chat import ChatRequest, parse_json_object
from protocols.errors import NoCapableCandidate, Untranslatable, UpstreamFailed
from protocols.usage import Usage

PASSED_HEADERS = ("anthropic-version", "anthropic-beta")  # what a native upstream reads


def native_of(
    parsed: MessagesRequest, headers: Mapping[str, str], *, required: bool = False
) -> Native:
    """The request as a `kind: anthropic` upstream gets it, with the client's API headers;
    `required`: it has no Chat form, so only such an upstream can serve it."""
    passed = tuple(
        (name, value) for name in PASSED_HEADERS if (value := headers.get(name)) is not None
    )
    return Native("messages", parsed.payload, passed, required)


def create_message_route(system: ActorSystem):  # type: ignore[no-untyped-def]
    config = system.config

    async def create_message(request: Incoming, trail: CallTrail | None = None) -> Answer:
        untranslatable: Untranslatable | None = None
        try:
            parsed = parse_messages_request(request.body)
        except Untranslatable as error:  # a native upstream may still take it as it is
            parsed, untranslatable = native_only_request(parse_json_object(request.body)), error
        chat = ChatRequest.from_payload(parsed.chat, size=len(request.body))
        native = native_of(parsed, request.headers, required=untranslatable is not None)
        meter = CallMeter(
            system.telemetry,
            request_id_of(request),
            "messages",
            request.client,
            chat.model,
            chat.stream,
        )
        message_id = new_message_id()
        deadline = trio.current_time() + config.timeouts.total
        if not chat.stream:
            try:
                outcome = await system.supervisor.call(chat, deadline, native, meter.hops)
            except BaseException:
                meter.finish(499, CANCELLED, None)
                raise
            assert not isinstance(outcome, Streaming), outcome
            walked(outcome.provenance, trail)
            outcome = _explained(outcome, untranslatable)
            return _complete(outcome, parsed, message_id, meter)
        call, receive = submit(system, chat, native, meter)
        first = await first_event(call, receive, meter, config.timeouts.keepalive)
        if isinstance(first, Failed):  # nothing sent yet: a plain HTTP error says it best
            first = _explained(first, untranslatable)
            receive.close()
            walked(first.provenance, trail)
            reply = messages_error_response(first.error, first.provenance.headers())
            meter.failed(reply.status, first.error.code, first.provenance)
            return reply
        headers = dict(SSE_HEADERS)
        provenance = getattr(first, "provenance", None)
        if isinstance(provenance, Provenance):
            headers.update(provenance.headers())
        body = MessagesBody(
            call,
            receive,
            MessagesStream(model=parsed.model, message_id=message_id),
            first=first,
            keepalive=config.timeouts.keepalive,
            on_provenance=partial(walked, trail=trail),
        )
        return StreamReply(200, headers, MeteredStream(body, meter, None))

    return create_message


def _explained(outcome: Any, untranslatable: Untranslatable | None) -> Any:
    """A request no candidate could take because it has no Chat form fails with why."""
    if (
        untranslatable is not None
        and isinstance(outcome, Failed)
        and isinstance(outcome.error, NoCapableCandidate)
    ):
        return Failed(untranslatable, outcome.provenance)
    return outcome


def _complete(
    outcome: Completed | Failed, parsed: MessagesRequest, message_id: str, meter: CallMeter
) -> Reply:
    if isinstance(outcome, Failed):
        reply = messages_error_response(outcome.error, outcome.provenance.headers())
        meter.failed(reply.status, outcome.error.code, outcome.provenance)
        return reply
    headers = {"content-type": JSON, **outcome.provenance.headers()}
    if outcome.native:  # the upstream's own Message, passed through as it came
        usage = outcome.usage or _usage_of(outcome.body)
        meter.finish(200, OK, outcome.provenance, usage=usage)
        return Reply(200, headers, outcome.body)
    try:
        message = message_from_completion(
            jsoncodec.loads(outcome.body), model=parsed.model, message_id=message_id
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        error = UpstreamFailed(
            f"upstream {outcome.provenance.provider} sent a reply baton cannot read: "
            f"{type(exc).__name__}"
        )
        reply = messages_error_response(error, outcome.provenance.headers())
        meter.failed(reply.status, error.code, outcome.provenance)
        return reply
    meter.finish(200, OK, outcome.provenance, usage=outcome.usage)
    return Reply(200, headers, jsoncodec.dumps(message))


def _usage_of(body: bytes) -> Usage | None:
    try:
        return usage_of_message(jsoncodec.loads(body))
    except (ValueError, RecursionError):
        return None
