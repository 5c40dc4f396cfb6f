"""The Responses API's WebSocket mode, with trio-websocket and with the openai client."""

import base64
import json

import httpx2
import trio
from trio_websocket import open_websocket_url

from edge.simulator import Complete, always, sequence
from tests.e2e.harness import CLIENT_KEY, in_thread, launch
from tests.schema import validate

AUTH = [("authorization", f"Bearer {CLIENT_KEY}")]


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/v1/responses"


async def events_until_terminal(ws) -> list[dict]:
    events = []
    while True:
        event = json.loads(await ws.get_message())
        events.append(event)
        if event["type"] in (
            "response.completed",
            "response.failed",
            "response.incomplete",
            "error",
        ):
            return events


async def test_responses_run_one_after_another_on_one_socket() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": sequence(Complete("first answer"), Complete("second answer"))},
                virtual_models={"vm": ["alpha/m"]},
            )
            async with open_websocket_url(ws_url(gateway.url), extra_headers=AUTH) as ws:
                answers = []
                for text in ("one", "two"):
                    await ws.send_message(
                        json.dumps(
                            {
                                "type": "response.create",
                                "model": "vm",
                                "input": text,
                                "store": False,
                            }
                        )
                    )
                    events = await events_until_terminal(ws)
                    assert events[0]["type"] == "response.created"
                    assert events[-1]["type"] == "response.completed"
                    assert [e["sequence_number"] for e in events] == list(range(len(events)))
                    for event in events:
                        validate(event, "ResponseStreamEvent")
                    answers.append(events[-1]["response"]["output"][0]["content"][0]["text"])
                assert answers == ["first answer", "second answer"]
                # a message that is not response.create: an error event, the socket stays open
                await ws.send_message(json.dumps({"type": "session.update"}))
                error = json.loads(await ws.get_message())
                assert error["type"] == "error" and error["param"] == "type"
                await ws.send_message("{not json")
                assert json.loads(await ws.get_message())["type"] == "error"
            sent = [
                call.json["messages"][-1]["content"] for call in gateway.upstreams["alpha"].calls
            ]
            assert sent == ["one", "two"]
            nursery.cancel_scope.cancel()


async def test_a_wrong_key_is_refused_at_the_handshake() -> None:
    # a raw upgrade request: trio-websocket's client leaves its socket open after a rejection
    handshake = {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": base64.b64encode(b"0123456789abcdef").decode(),
    }
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(nursery, {"alpha": always(Complete())})
            async with httpx2.AsyncClient(base_url=gateway.url) as http:
                refused = await http.get(
                    "/v1/responses", headers={**handshake, "authorization": "Bearer no"}
                )
                assert refused.status_code == 401
                assert refused.json()["error"]["code"] == "invalid_api_key"
            nursery.cancel_scope.cancel()


async def test_closing_the_socket_cancels_the_upstream_call() -> None:
    slow = Complete("a b c d e f g h", chunks=8, chunk_delay=0.3)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery, {"alpha": always(slow)}, virtual_models={"vm": ["alpha/m"]}
            )
            async with open_websocket_url(ws_url(gateway.url), extra_headers=AUTH) as ws:
                await ws.send_message(
                    json.dumps(
                        {"type": "response.create", "model": "vm", "input": "x", "store": False}
                    )
                )
                while json.loads(await ws.get_message())["type"] != "response.output_text.delta":
                    pass
            await gateway.upstreams["alpha"].wait_for_disconnects(1)
            nursery.cancel_scope.cancel()


async def test_the_openai_client_connect() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("over a websocket"))},
                virtual_models={"vm": ["alpha/m"]},
            )

            def run() -> list:
                with gateway.client() as client, client.responses.connect() as connection:
                    connection.response.create(model="vm", input="hi", store=False)
                    events = []
                    for event in connection:
                        events.append(event)
                        if event.type == "response.completed":
                            return events
                return events

            events = await in_thread(run)
            assert events[-1].type == "response.completed"
            assert events[-1].response.output_text == "over a websocket"
            nursery.cancel_scope.cancel()


async def test_codex_prewarm_then_a_turn_chained_to_it_with_store_false() -> None:
    # Codex's WebSocket pattern: a prewarm (generate: false) with the instructions, then the
    # turn naming it as previous_response_id, both with store: false.
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Complete("turn answer"))},
                virtual_models={"vm": ["alpha/m"]},
            )
            async with open_websocket_url(ws_url(gateway.url), extra_headers=AUTH) as ws:
                await ws.send_message(
                    json.dumps(
                        {
                            "type": "response.create",
                            "model": "vm",
                            "store": False,
                            "generate": False,
                            "input": [
                                {
                                    "type": "message",
                                    "role": "developer",
                                    "content": [{"type": "input_text", "text": "be careful"}],
                                }
                            ],
                        }
                    )
                )
                prewarm = await events_until_terminal(ws)
                assert prewarm[-1]["type"] == "response.completed"
                assert prewarm[-1]["response"]["output"] == []
                assert gateway.upstreams["alpha"].calls == []  # no model call for a prewarm
                await ws.send_message(
                    json.dumps(
                        {
                            "type": "response.create",
                            "model": "vm",
                            "store": False,
                            "previous_response_id": prewarm[-1]["response"]["id"],
                            "input": [
                                {
                                    "type": "message",
                                    "role": "user",
                                    "content": [{"type": "input_text", "text": "hello"}],
                                }
                            ],
                        }
                    )
                )
                turn = await events_until_terminal(ws)
                assert turn[-1]["type"] == "response.completed"
            messages = gateway.upstreams["alpha"].calls[0].json["messages"]
            assert messages == [
                {"role": "system", "content": "be careful"},
                {"role": "user", "content": "hello"},
            ]
            async with gateway.http() as http:  # store: false: nothing was stored
                missing = await http.get(f"/v1/responses/{prewarm[-1]['response']['id']}")
                assert missing.status_code == 404
            nursery.cancel_scope.cancel()
