"""Restart in the middle of a cooldown: after the restart the cooled key is still cooled."""

from pathlib import Path

import trio

from edge.simulator import Complete, Error, by_key
from tests.e2e.harness import gateway_config, start_gateway, start_upstreams


async def test_a_key_cooled_before_a_restart_is_still_cooled_after_it(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=by_key(
                    {
                        "bad-key": Error.rate_limited(retry_after=120),
                        "good-key": Complete("from the good key"),
                    }
                ),
            )
            document = gateway_config(
                upstreams,
                virtual_models={"vm": ["alpha/m"]},
                keys={"alpha": ["bad-key", "good-key"]},
                providers={"alpha": {"rotation": "sequential"}},  # bad-key first, if it may
            )
            alpha = upstreams["alpha"]
            async with trio.open_nursery() as first_run:
                gateway = await start_gateway(first_run, document, upstreams, tmp_path)
                raw = await gateway.chat("vm")
                assert raw.headers["x-baton-route"] == "alpha/m=429,alpha/m=200"
                first_run.cancel_scope.cancel()
            assert (tmp_path / "state.sqlite3").exists()
            assert len(alpha.calls_with_key("bad-key")) == 1

            gateway = await start_gateway(nursery, document, upstreams, tmp_path)
            for _ in range(2):
                raw = await gateway.chat("vm")
                assert raw.parse().choices[0].message.content == "from the good key"
                assert raw.headers["x-baton-route"] == "alpha/m=200"
            assert len(alpha.calls_with_key("bad-key")) == 1  # never called again
            assert len(alpha.calls_with_key("good-key")) == 3
            nursery.cancel_scope.cancel()
