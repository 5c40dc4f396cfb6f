"""Stream semantics: failover before the first content, an explicit error after it, and a
client that leaves cancels the upstream and leaks nothing."""

import json

import httpx2
import openai
import pytest
import trio
import trio.testing

from edge.simulator import Complete, Cut, Error, Hang, Stall, always, sequence
from protocols.sse import SSEDecoder
from tests.e2e.harness import launch, text_of


def count_tasks() -> int:
    """Every live task of this trio run (gateway, simulators and test alike)."""
    pending = [trio.lowlevel.current_root_task()]
    count = 0
    while pending:
        task = pending.pop()
        count += 1
        pending.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return count


CHAIN = {"vm": ["alpha/m", "beta/m"]}
TIMEOUTS = {"first_byte": 0.5, "idle": 0.5}
LONG = Complete(chunks=("one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight"))


@pytest.mark.parametrize(
    "failure",
    [
        Stall(after_chunks=3, reply=LONG),
        Cut(after_chunks=3, reply=LONG),
        Cut(after_chunks=3, reply=LONG, reset=True),
    ],
    ids=["stall", "cut", "reset"],
)
async def test_a_failure_after_content_ends_the_stream_with_an_error_event(failure) -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(failure), "beta": always(Complete("never used"))},
                virtual_models=CHAIN,
                timeouts=TIMEOUTS,
            )
            async with gateway.http() as http:
                response = await http.post(
                    "/v1/chat/completions",
                    json={
                        "model": "vm",
                        "stream": True,
                        "messages": [{"role": "user", "content": "x"}],
                    },
                )
            assert response.status_code == 200
            assert response.headers["x-baton-provider"] == "alpha"
            events = [e.data for e in SSEDecoder().feed(response.content)]
            assert "[DONE]" not in events  # never a clean ending
            *chunks, last = events
            text = "".join(
                json.loads(c)["choices"][0]["delta"].get("content") or "" for c in chunks
            )
            assert text == "one two "  # exactly what alpha sent, nothing spliced from beta
            error = json.loads(last)["error"]
            assert error["message"].startswith("upstream alpha failed mid-stream")
            # a cut says so (not `connect`, which reads as a refused connection)
            assert error["code"] == ("timeout" if isinstance(failure, Stall) else "upstream_cut")
            assert gateway.upstreams["beta"].calls == []
            nursery.cancel_scope.cancel()


async def test_the_openai_sdk_raises_on_the_in_band_error() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Cut(after_chunks=3, reply=LONG)), "beta": always(Complete())},
                virtual_models=CHAIN,
                timeouts=TIMEOUTS,
            )
            with pytest.raises(openai.APIError, match="failed mid-stream"):
                await gateway.stream("vm")
            nursery.cancel_scope.cancel()


async def test_a_mid_stream_error_event_from_the_upstream_is_relayed_as_an_error() -> None:
    # a provider that reports an error inside its own stream, after content
    from edge.simulator import Garbage

    body = (
        b'data: {"id":"1","object":"chat.completion.chunk","choices":[{"index":0,'
        b'"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
        b'data: {"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}\n\n'
    )
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Garbage(body)), "beta": always(Complete())},
                virtual_models=CHAIN,
                timeouts=TIMEOUTS,
            )
            with pytest.raises(openai.APIError) as caught:
                await gateway.stream("vm")
            assert caught.value.code == "rate_limit_exceeded"
            nursery.cancel_scope.cancel()


async def test_a_stream_with_tool_calls_and_usage_passes_through_whole() -> None:
    from edge.simulator import ToolCall

    reply = Complete(
        "Let me check.",
        tool_calls=(ToolCall("call_a", "f", '{"x":1}'), ToolCall("call_b", "g", '{"y":2}')),
    )
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(nursery, {"alpha": always(reply)})
            _, chunks = await gateway.stream("alpha/m", stream_options={"include_usage": True})
            assert text_of(chunks) == "Let me check."
            calls: dict[int, dict[str, str]] = {}
            for chunk in chunks:
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or []:
                        entry = calls.setdefault(call.index, {"id": "", "name": "", "args": ""})
                        entry["id"] += call.id or ""
                        entry["name"] += (call.function.name or "") if call.function else ""
                        entry["args"] += (call.function.arguments or "") if call.function else ""
            assert calls == {
                0: {"id": "call_a", "name": "f", "args": '{"x":1}'},
                1: {"id": "call_b", "name": "g", "args": '{"y":2}'},
            }
            assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
            nursery.cancel_scope.cancel()


async def test_a_client_leaving_mid_stream_cancels_the_upstream_and_frees_the_key() -> None:
    slow = Complete("a b c d e f g h i j", chunks=10, chunk_delay=0.3)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": sequence(slow, then=Complete("again"))},
                providers={"alpha": {"max_concurrent_per_key": 1}},
            )
            alpha = gateway.upstreams["alpha"]
            await trio.testing.wait_all_tasks_blocked()
            tasks_before = count_tasks()
            async with gateway.http() as http:
                body = {
                    "model": "alpha/m",
                    "stream": True,
                    "messages": [{"role": "user", "content": "x"}],
                }
                async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                    async for _ in response.aiter_raw():
                        break  # one piece of content, then the client goes away
            await alpha.wait_for_disconnects(1)
            assert alpha.disconnects == 1
            with trio.move_on_after(5):  # every task the call started comes to an end
                while count_tasks() != tasks_before:
                    await trio.sleep(0.05)
            assert count_tasks() == tasks_before
            # the only key (max one call at a time) came back: the next call is served
            raw = await gateway.chat("alpha/m")
            assert raw.parse().choices[0].message.content == "again"
            nursery.cancel_scope.cancel()


async def test_a_client_leaving_while_the_upstream_hangs_cancels_it() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(nursery, {"alpha": always(Hang())}, timeouts={"first_byte": 30})
            alpha = gateway.upstreams["alpha"]
            async with gateway.http(timeout=0.5) as http:
                with pytest.raises(httpx2.ReadTimeout):
                    await http.post(
                        "/v1/chat/completions",
                        json={"model": "alpha/m", "messages": [{"role": "user", "content": "x"}]},
                    )
            await alpha.wait_for_disconnects(1)
            assert alpha.disconnects == 1
            nursery.cancel_scope.cancel()


async def test_the_deadline_ends_the_call_with_504() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Hang()), "beta": always(Hang())},
                virtual_models=CHAIN,
                timeouts={"first_byte": 0.6, "total": 1},
            )
            with pytest.raises(openai.APIStatusError) as caught:
                await gateway.chat("vm")
            assert caught.value.status_code == 504
            assert caught.value.code == "deadline_exceeded"
            assert caught.value.response.headers["x-baton-route"].startswith("alpha/m=timeout")
            nursery.cancel_scope.cancel()


async def test_every_candidate_rate_limited_is_a_429_with_retry_after() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {
                    "alpha": always(Error.rate_limited(retry_after=40)),
                    "beta": always(Error.rate_limited(retry_after=7)),
                },
                virtual_models=CHAIN,
            )
            with pytest.raises(openai.RateLimitError) as caught:
                await gateway.chat("vm")
            headers = caught.value.response.headers
            assert headers["retry-after"] == "7"
            assert headers["x-baton-route"] == "alpha/m=429,beta/m=429"
            with pytest.raises(openai.RateLimitError) as caught:  # both cooling now: no calls
                await gateway.stream("vm")
            assert (
                caught.value.response.headers["x-baton-route"] == "alpha/m=cooling,beta/m=cooling"
            )
            assert 1 <= int(caught.value.response.headers["retry-after"]) <= 7  # time passes
            assert len(gateway.upstreams["alpha"].calls) == 1
            nursery.cancel_scope.cancel()


async def test_every_candidate_failing_is_a_502_naming_each_failure() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            gateway = await launch(
                nursery,
                {"alpha": always(Error(500)), "beta": always(Error(503))},
                virtual_models=CHAIN,
            )
            with pytest.raises(openai.APIStatusError) as caught:
                await gateway.chat("vm")
            assert caught.value.status_code == 502
            assert "alpha/m" in caught.value.message and "beta/m" in caught.value.message
            assert caught.value.response.headers["x-baton-route"] == "alpha/m=500,beta/m=503"
            nursery.cancel_scope.cancel()
