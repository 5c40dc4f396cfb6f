"""Chaos: a provider that flips between healthy and failing every few seconds for a minute,
under many concurrent clients. No call fails while the other candidate is healthy, and after
every recovery the flapping provider is used again (its probes bring it back to the front)."""

from collections import Counter

import httpx2
import trio

from edge.simulator import Complete, always
from tests.e2e.harness import CLIENT_KEY, gateway_config, start_gateway, start_upstreams
from tests.e2e.test_health import Switch

FLIP = 3.0  # seconds healthy, then as long failing, and so on
DURATION = 60.0
CLIENTS = 8


async def test_a_flapping_provider_fails_no_call_and_is_used_again_after_each_recovery() -> None:
    flapping = Switch(period=FLIP)
    served: list[tuple[float, str]] = []  # (when the call was sent, who served it)
    failures: list[str] = []
    with trio.fail_after(DURATION + 30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, alpha=flapping, beta=always(Complete("hello"))
            )
            upstreams["alpha"].probe_script = flapping
            document = gateway_config(upstreams, virtual_models={"fast": ["alpha/m", "beta/m"]})
            document["health"] = {"interval": 0.5, "timeout": 1}
            gateway = await start_gateway(nursery, document, upstreams)
            flapping.started = trio.current_time()

            async def client() -> None:
                async with httpx2.AsyncClient(base_url=gateway.url, timeout=20) as http:
                    while trio.current_time() - flapping.started < DURATION:
                        sent = trio.current_time() - flapping.started
                        reply = await http.post(
                            "/v1/chat/completions",
                            headers={"authorization": f"Bearer {CLIENT_KEY}"},
                            json={"model": "fast", "messages": [{"role": "user", "content": "hi"}]},
                        )
                        body = reply.json()
                        if reply.status_code != 200 or "choices" not in body:
                            failures.append(f"{reply.status_code} {body}")
                        else:
                            served.append((sent, reply.headers["x-baton-provider"]))
                        await trio.sleep(0.1)

            async with trio.open_nursery() as clients:
                for _ in range(CLIENTS):
                    clients.start_soon(client)
            nursery.cancel_scope.cancel()
    assert failures == []
    assert len(served) > 1000
    windows = int(DURATION / FLIP)
    by_window = Counter((int(sent / FLIP), who) for sent, who in served)
    # every healthy window after a failing one (even-numbered; the last may be cut short)
    for window in range(2, windows - 1, 2):
        assert by_window[(window, "alpha")] > 0, (window, by_window)
    # and while alpha fails, beta answers: every failing window was served throughout
    for window in range(1, windows, 2):
        assert by_window[(window, "beta")] > 0, (window, by_window)
