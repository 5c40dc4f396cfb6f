"""Telemetry end to end: after a scripted run of mixed calls (successes, a failover, a stream
cut mid-way, a caller error), /stats, /metrics and the SQLite records agree with each other and
with what the fake upstreams actually received."""

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from edge.cli import main
from edge.simulator import Complete, Cut, Error, Hang, always
from tests.e2e.harness import (
    CLIENT_KEY,
    gateway_config,
    in_thread,
    start_gateway,
    start_upstreams,
)

USAGE = {"prompt_tokens": 11, "completion_tokens": 7}
PRICE = {"input": 1.0, "output": 2.0}  # USD per 1M tokens
COST = (11 * 1.0 + 7 * 2.0) / 1_000_000


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(exposition: str) -> Samples:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def total(metrics: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and wanted <= ls)


async def test_stats_metrics_and_records_agree_with_the_upstreams(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=always(Error.rate_limited(retry_after=30)),
                beta=always(Complete("served by beta", usage=USAGE)),
                gamma=always(Cut(after_chunks=3, reply=Complete("one two three four five"))),
            )
            document = gateway_config(
                upstreams,
                virtual_models={
                    "plain": ["beta/m"],
                    "fallback": ["alpha/m", "beta/m"],
                    "cutting": ["gamma/m"],
                },
            )
            document["health"] = {"interval": 3600}  # no probes: upstream counts are calls only
            document["providers"]["beta"]["prices"] = {"m": PRICE}
            gateway = await start_gateway(nursery, document, upstreams, data_dir=tmp_path)
            for _ in range(3):
                await gateway.chat("plain")
            _, unasked = await gateway.stream("plain")  # usage asked upstream, stripped here
            await gateway.chat("fallback")  # alpha 429s and cools; beta serves
            await gateway.chat("fallback")  # alpha is cooling: skipped without an attempt
            with pytest.raises(openai.APIError):
                await gateway.stream("cutting")
            with pytest.raises(openai.NotFoundError):
                await gateway.chat("no-such-model")
            async with gateway.http() as http:
                stats = (await http.get("/stats")).json()
                exposition = (await http.get("/metrics")).text
                anonymous = await http.get("/stats", headers={"authorization": "Bearer wrong"})
            nursery.cancel_scope.cancel()  # the telemetry writes what it holds on the way out
    assert anonymous.status_code == 401
    calls = {name: len(sim.calls) for name, sim in upstreams.items()}
    assert calls == {"alpha": 1, "beta": 6, "gamma": 1}

    # /stats
    totals = stats["totals"]
    assert totals == {
        "calls": 8,
        "ok": 6,
        "failed": 1,
        "cut": 1,
        "cancelled": 0,
        "failovers": 2,
        "in_flight": 0,
        "records_dropped": 0,
    }
    providers = stats["providers"]
    for name, count in calls.items():
        assert providers[name]["attempts"] == count
    assert providers["alpha"]["failures"] == {"rate_limit": 1}
    assert providers["beta"]["successes"] == 6 and providers["beta"]["success_rate"] == 1.0
    assert providers["beta"]["latency_ms"]["p50"] > 0
    alpha_key = providers["alpha"]["keys"]["alpha#1"]
    assert [c["scope"] for c in alpha_key["cooling"]] == ["model m"]
    assert 25 < alpha_key["cooling"][0]["remaining_s"] <= 30
    # beta reported its usage on all 6 calls it served, the stream's in a chunk baton asked for
    assert providers["beta"]["today"]["input_tokens"] == 6 * USAGE["prompt_tokens"]
    assert stats["today"]["output_tokens"] == 6 * USAGE["completion_tokens"]
    assert stats["today"]["cost_usd"] == pytest.approx(6 * COST)
    assert providers["beta"]["keys"]["beta#1"]["today"]["cost_usd"] == pytest.approx(6 * COST)
    assert upstreams["beta"].calls[3].json["stream_options"] == {"include_usage": True}
    assert all(chunk.usage is None for chunk in unasked) and unasked[-1].choices
    assert stats["virtual_models"]["fallback"]["effective"] == ["alpha/m", "beta/m"]
    recent = stats["recent"]
    assert len(recent) == 8 and recent[0]["status"] == 404
    assert recent[2]["route"] == "alpha/m=cooling,beta/m=200" and recent[2]["failover"]

    # /metrics
    metrics = samples(exposition)
    assert total(metrics, "baton_calls_total") == 8
    assert total(metrics, "baton_calls_total", outcome="cut") == 1
    assert total(metrics, "baton_calls_total", model="other") == 1  # not "no-such-model"
    for name, count in calls.items():
        assert total(metrics, "baton_upstream_attempts_total", provider=name) == count
    assert total(metrics, "baton_failovers_total") == 2
    assert total(metrics, "baton_candidates_skipped_total", provider="alpha") == 1
    assert total(metrics, "baton_tokens_total", kind="input") == 6 * USAGE["prompt_tokens"]
    assert total(metrics, "baton_cost_usd_total") == pytest.approx(6 * COST)
    assert total(metrics, "baton_keys_cooling", provider="alpha") == 1

    # SQLite
    with sqlite3.connect(tmp_path / "telemetry.sqlite3") as db:
        rows = db.execute(
            "SELECT outcome, provider, route, hops, input_tokens FROM calls"
        ).fetchall()
        stored_cost = db.execute("SELECT sum(cost) FROM calls").fetchone()[0]
    assert Counter(outcome for outcome, *_ in rows) == {"ok": 6, "failed": 1, "cut": 1}
    attempted: Counter[str] = Counter()
    for *_, hops, _ in rows:
        attempted.update(hop["provider"] for hop in _json(hops) if hop["key"] is not None)
    assert dict(attempted) == calls
    assert sum(tokens or 0 for *_, tokens in rows) == stats["today"]["input_tokens"]
    assert stored_cost == pytest.approx(stats["today"]["cost_usd"])


def _json(text: str) -> list[dict[str, Any]]:
    return json.loads(text)


async def test_responses_calls_are_recorded_with_their_usage() -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, beta=always(Complete("served by beta", usage=USAGE))
            )
            document = gateway_config(upstreams, virtual_models={"plain": ["beta/m"]})
            gateway = await start_gateway(nursery, document, upstreams)

            def responses() -> None:
                with gateway.client() as client:
                    client.responses.create(model="plain", input="hi")
                    with client.responses.stream(model="plain", input="hi") as stream:
                        stream.until_done()

            await in_thread(responses)
            async with gateway.http() as http:
                stats = (await http.get("/stats")).json()
            nursery.cancel_scope.cancel()
    recent = stats["recent"]
    assert [(r["stream"], r["outcome"], r["provider"]) for r in recent] == [
        (True, "ok", "beta"),
        (False, "ok", "beta"),
    ]
    assert recent[0]["ttft_ms"] is not None and recent[1]["ttft_ms"] is None
    assert stats["providers"]["beta"]["attempts"] == 2 == len(upstreams["beta"].calls)
    # the JSON reply carried usage; the stream's usage chunk is asked for once it is wired
    assert stats["today"]["input_tokens"] >= USAGE["prompt_tokens"]


async def test_a_client_that_asks_for_usage_gets_the_usage_chunk() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, beta=always(Complete("served by beta", usage=USAGE))
            )
            document = gateway_config(upstreams, virtual_models={"plain": ["beta/m"]})
            gateway = await start_gateway(nursery, document, upstreams)
            _, chunks = await gateway.stream("plain", stream_options={"include_usage": True})
            nursery.cancel_scope.cancel()
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (11, 7)


async def test_baton_stats_shows_the_running_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery,
                alpha=always(Error.rate_limited(retry_after=30)),
                beta=always(Complete("served by beta", usage=USAGE)),
            )
            document = gateway_config(upstreams, virtual_models={"fallback": ["alpha/m", "beta/m"]})
            gateway = await start_gateway(nursery, document, upstreams)
            await gateway.chat("fallback")
            code = await in_thread(main, ["stats", "--url", gateway.url, "--key", CLIENT_KEY])
            nursery.cancel_scope.cancel()
    shown = capsys.readouterr()
    assert code == 0, shown.err
    table = shown.out
    assert "alpha#1" in table and "model m" in table  # the cooled key and its scope
    assert "alpha/m=429,beta/m=200" in table  # the failover, in recent calls
    assert CLIENT_KEY not in table + shown.err


async def test_a_call_the_client_gave_up_on_still_counts_what_it_tried() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            upstreams = await start_upstreams(
                nursery, alpha=always(Error.rate_limited(retry_after=30)), beta=always(Hang())
            )
            document = gateway_config(
                upstreams,
                virtual_models={"fallback": ["alpha/m", "beta/m"]},
                timeouts={"first_byte": 20},
            )
            gateway = await start_gateway(nursery, document, upstreams)
            async with gateway.http(timeout=1.0) as http:
                with pytest.raises(httpx2.ReadTimeout):
                    await http.post(
                        "/v1/chat/completions",
                        json={"model": "fallback", "messages": [{"role": "user", "content": "x"}]},
                    )
            async with gateway.http() as http:
                for _ in range(100):  # the gateway notices the client left
                    stats = (await http.get("/stats")).json()
                    if stats["totals"]["cancelled"]:
                        break
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert stats["totals"]["cancelled"] == 1 and stats["totals"]["in_flight"] == 0
    assert stats["providers"]["alpha"]["failures"] == {"rate_limit": 1}
    assert stats["recent"][0]["route"].startswith("alpha/m=429")
