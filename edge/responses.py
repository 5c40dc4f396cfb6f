"""The Responses API routes: `POST /v1/responses` (JSON and SSE) and the stored-response routes.

A Responses request becomes a Chat call (protocols.responses), walks the same chain with the
same failover as Chat Completions, and its reply is translated back. What the translation
needs from the store (`previous_response_id`, `item_reference`) is looked up before it runs,
since the translation itself is pure. With `store` true (the API's default) the final Response
and its input items are saved; `store: false` saves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Literal

import attrs
import trio
from loguru import logger

from actors.messages import (
    Completed,
    Failed,
    Native,
    Streaming,
    StreamStarted,
)
from actors.store import StoredResponse
from actors.system import ActorSystem
from actors.telemetry.record import CANCELLED, OK
from edge.incoming import Incoming
from edge.meter import CallMeter, MeteredStream, request_id_of
from edge.replies import SSE_HEADERS, Answer, Reply, StreamReply, error_response, json_response
from edge.request_log import CallTrail
from edge.responses_stream import ResponsesStream
from edge.walk_events import first_event, submit, walked
from protocols import jsoncodec
from protocols.chat import ChatRequest, parse_json_object
from protocols.errors import BadRequest, NotFound, UpstreamFailed
from protocols.responses import (
    IdFactory,
    ResponseStream,
    UpstreamReplyError,
    chat_to_response,
    history_items,
    responses_to_chat,
)
from protocols.usage import Usage


def create_route(
    system: ActorSystem,
) -> Callable[[Incoming, CallTrail | None], Awaitable[Answer]]:
    """`POST /v1/responses`: JSON, or SSE with keep-alives while the upstream is slow."""
    config = system.config

    async def create_response(request: Incoming, trail: CallTrail | None = None) -> Answer:
        payload = parse_json_object(request.body)
        prepared = await prepare(system, payload, size=len(request.body))
        chat, save = prepared.chat, prepared.save
        meter = CallMeter(
            system.telemetry,
            request_id_of(request),
            "responses",
            request.client,
            chat.model,
            chat.stream,
        )
        ids = IdFactory.random()
        created_at = int(time.time())
        if not chat.stream:
            try:
                deadline = trio.current_time() + config.timeouts.total
                outcome = await system.supervisor.call(chat, deadline, prepared.native, meter.hops)
            except BaseException:
                meter.finish(499, CANCELLED, None)
                raise
            assert not isinstance(outcome, Streaming), outcome
            walked(outcome.provenance, trail)
            reply, saved = _complete(outcome, payload, ids, created_at, save, meter)
            if saved is not None:
                await prepared.written(saved)
            return reply
        call, receive = submit(system, prepared.chat, prepared.native, meter)
        stream = ResponseStream(payload, ids, created_at)
        first = await first_event(call, receive, meter, config.timeouts.keepalive)
        if isinstance(first, Failed):  # nothing sent yet: a plain HTTP error says it best
            receive.close()
            walked(first.provenance, trail)
            reply = error_response(first.error, first.provenance.headers())
            meter.failed(reply.status, first.error.code, first.provenance)
            return reply
        headers = dict(SSE_HEADERS)
        if isinstance(first, StreamStarted):
            headers.update(first.provenance.headers())
        body_stream = ResponsesStream(
            call,
            receive,
            stream,
            first=first,
            keepalive=config.timeouts.keepalive,
            on_final=save,
            written=prepared.written,
            on_provenance=partial(walked, trail=trail),
        )
        return StreamReply(200, headers, MeteredStream(body_stream, meter, None))

    return create_response


@attrs.frozen
class StoredRoutes:
    """`GET`/`DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`."""

    system: ActorSystem

    async def get(self, response_id: str) -> Answer:
        store = self.system.responses
        stored = await store.get(response_id) if store is not None else None
        if stored is None:
            raise _missing(response_id)
        return json_response(stored.response)

    async def delete(self, response_id: str) -> Answer:
        store = self.system.responses
        if store is None or not await store.delete(response_id):
            raise _missing(response_id)
        return json_response({"id": response_id, "object": "response.deleted", "deleted": True})

    async def input_items(self, args: Mapping[str, str], response_id: str) -> Answer:
        store = self.system.responses
        if store is None or await store.get(response_id) is None:
            raise _missing(response_id)
        limit = _limit(args.get("limit", "20"))
        order: Literal["asc", "desc"] = "desc"
        match args.get("order", "desc"):
            case "asc":
                order = "asc"
            case "desc":
                pass
            case _:
                raise BadRequest("'order' must be 'asc' or 'desc'", param="order")
        page = await store.input_items(
            response_id, limit=limit, order=order, after=args.get("after")
        )
        data = list(page.items)
        return json_response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0].get("id") if data else None,
                "last_id": data[-1].get("id") if data else None,
                "has_more": page.has_more,
            }
        )


@attrs.frozen
class Prepared:
    """A Responses request made ready to walk: the Chat call, and how to save its outcome."""

    chat: ChatRequest
    payload: dict[str, Any] = attrs.field(repr=False)
    items: list[dict[str, Any]] = attrs.field(repr=False)  # the input to record with the reply
    save: Callable[[dict[str, Any]], None]
    native: Native = attrs.field(repr=False)  # for upstreams that speak Responses
    written: Callable[[str], Awaitable[None]]  # returns once a saved response is readable


_BATON_ONLY = ("previous_response_id", "generate", "stream")


async def prepare(
    system: ActorSystem,
    payload: dict[str, Any],
    recent: Mapping[str, StoredResponse] | None = None,
    *,
    size: int = 0,
) -> Prepared:
    """Translate a Responses request, with what it refers to looked up first: in `recent`
    (a WebSocket connection's own responses, stored or not), then in the store. `size`: the
    request's bytes, for token estimates."""
    store = system.responses
    translation = responses_to_chat(
        payload,
        resolve_item=(await _referenced_items(store, payload)).get,
        history=await _history(store, payload, recent or {}),
    )
    for note in translation.notes:
        logger.info("responses request for {}: {}", payload.get("model"), note)
    saving = store is not None and payload.get("store", True) is not False
    items = list(translation.items)

    def save(response: dict[str, Any]) -> None:
        if saving:
            store.put_nowait(response, items)

    async def written(response_id: str) -> None:
        """Once this returns, every instance can read the saved response: with a shared
        store, the client's next turn may go to another instance. The store serves in order,
        so a read after the put returns once the put is written."""
        if saving and system.config.state.shared:
            try:
                await store.get(response_id)
            except Exception as exc:  # the reply is made: a store's trouble must not spoil it
                logger.debug("could not confirm response {} was stored: {}", response_id, exc)
        else:
            await trio.lowlevel.checkpoint()

    chat = ChatRequest.from_payload(translation.chat, size=size)
    # A native upstream gets the request itself, with the history baton holds written out
    # (its ids mean nothing there) and nothing stored on its side: baton keeps the state.
    native = {key: value for key, value in payload.items() if key not in _BATON_ONLY}
    native.update(input=items, store=False, stream=chat.stream)
    return Prepared(chat, payload, items, save, Native("responses", native), written)


async def _history(
    store: Any, payload: dict[str, Any], recent: Mapping[str, StoredResponse]
) -> list[dict[str, Any]]:
    previous = payload.get("previous_response_id")
    if previous is None:
        return []
    stored = recent.get(previous) if isinstance(previous, str) else None
    if stored is None and store is not None and isinstance(previous, str):
        stored = await store.get(previous)
    if stored is None:
        raise BadRequest(
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return history_items(stored.input_items, stored.response.get("output") or [])


async def _referenced_items(store: Any, payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    items = payload.get("input")
    if store is None or not isinstance(items, list):
        return found
    for item in items:
        if isinstance(item, dict) and item.get("type") == "item_reference":
            item_id = item.get("id")
            if isinstance(item_id, str) and item_id not in found:
                stored = await store.find_item(item_id)
                if stored is not None:
                    found[item_id] = stored
    return found


def _complete(
    first: Completed | Failed,
    payload: dict[str, Any],
    ids: IdFactory,
    created_at: int,
    save: Any,
    meter: CallMeter,
) -> tuple[Reply, str | None]:
    """The reply, and the id of the response saved (None: nothing was)."""
    if isinstance(first, Failed):
        reply = error_response(first.error, first.provenance.headers())
        meter.failed(reply.status, first.error.code, first.provenance)
        return reply, None
    try:
        if first.native:  # the upstream's own Response, named as the client named the model
            response = {**jsoncodec.loads(first.body), "model": payload.get("model")}
        else:
            response = chat_to_response(
                jsoncodec.loads(first.body),
                request=payload,
                ids=ids,
                created_at=created_at,
                completed_at=int(time.time()),
            )
    except (UpstreamReplyError, ValueError) as exc:
        error = UpstreamFailed(
            f"upstream {first.provenance.provider} sent a reply baton cannot read: {exc}"
        )
        reply = error_response(error, first.provenance.headers())
        meter.failed(reply.status, error.code, first.provenance)
        return reply, None
    save(response)
    usage = Usage.from_responses(response.get("usage"))
    meter.finish(200, OK, first.provenance, usage=usage)
    saved = response.get("id")
    reply = json_response(response, headers=first.provenance.headers())
    return reply, saved if isinstance(saved, str) else None


class ResponseNotFound(NotFound):
    code = None  # the API's own 404 for an unknown response: no param, no code


def _missing(response_id: str) -> NotFound:
    return ResponseNotFound(f"Response with id '{response_id}' not found.")


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise BadRequest("'limit' must be an integer from 1 to 100", param="limit")
    return int(text)
