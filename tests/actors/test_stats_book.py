"""The sums behind /stats, fed records by hand: exact numbers."""

from actors.messages import Hop
from actors.telemetry.record import CallRecord
from actors.telemetry.stats_book import DAY, StatsBook
from protocols.usage import Usage

MIDNIGHT = 1_764_892_800.0  # 2025-12-05 00:00 UTC
NO_USAGE = Usage()


def record(
    *hops: Hop,
    started: float = MIDNIGHT + 60,
    outcome: str = "ok",
    stream: bool = False,
    ttft: float | None = None,
    usage: Usage = NO_USAGE,
    cost: float | None = None,
) -> CallRecord:
    served = hops[-1] if hops and hops[-1].mark == "200" else None
    return CallRecord(
        request_id="req_1",
        started=started,
        endpoint="chat",
        client="client#1",
        model="coding",
        stream=stream,
        status=200 if served else 502,
        outcome=outcome,
        hops=hops,
        provider=served.provider if served else None,
        served_model=served.model if served else None,
        ttft=ttft,
        duration=0.5,
        usage=usage,
        cost=cost,
    )


def ok(provider: str, key: str, latency: float) -> Hop:
    return Hop(provider, "m", "200", key, latency=latency)


def rate_limited(provider: str, key: str) -> Hop:
    return Hop(provider, "m", "429", key, "rate_limit", 0.01, "slow down")


def test_each_attempt_counts_for_its_provider_and_key_and_the_call_once() -> None:
    book = StatsBook(MIDNIGHT)
    book.add(record(rate_limited("a", "a#1"), ok("b", "b#1", 0.2), usage=Usage(10, 5), cost=0.5))
    book.add(record(Hop("a", "m", "cooling"), ok("b", "b#2", 0.4), usage=Usage(1, 1)))
    book.add(record(ok("a", "a#2", 0.1), stream=True, ttft=0.05))
    assert book.totals() == {
        "calls": 3,
        "ok": 3,
        "failed": 0,
        "cut": 0,
        "cancelled": 0,
        "failovers": 2,
    }
    a, b = book.providers["a"], book.providers["b"]
    assert (a.attempts, a.successes, dict(a.failures)) == (2, 1, {"rate_limit": 1})
    assert (b.attempts, b.successes) == (2, 2)
    assert b.as_dict()["latency_ms"] == {"p50": 200.0, "p95": 400.0}
    # a provider's TTFT is its own: its hop's time to first content, not the call's
    assert a.as_dict()["ttft_ms"] == {"p50": 100.0, "p95": 100.0}
    assert b.as_dict()["success_rate"] == 1.0 and a.as_dict()["success_rate"] == 0.5
    assert b.keys["b#1"].today.as_dict()["input_tokens"] == 10
    assert b.today.as_dict() == {
        "calls": 2,
        "input_tokens": 11,
        "output_tokens": 6,
        "reasoning_tokens": 0,
        "cached_tokens": 0,
        "cost_usd": 0.5,
    }
    assert a.keys["a#1"].attempts == 1 and a.keys["a#1"].successes == 0
    assert [r["route"] for r in book.recent_calls()] == [
        "a/m=200",
        "a/m=cooling,b/m=200",
        "a/m=429,b/m=200",
    ]


def test_a_call_nobody_served_is_no_failover_and_counts_no_tokens() -> None:
    book = StatsBook(MIDNIGHT)
    book.add(record(rate_limited("a", "a#1"), outcome="failed"))
    assert book.totals()["failovers"] == 0 and book.totals()["failed"] == 1
    assert book.today.calls == 1 and "a" not in {
        p for p, s in book.providers.items() if s.today.calls
    }


def test_today_rolls_over_at_the_daily_reset_and_other_counters_do_not() -> None:
    book = StatsBook(MIDNIGHT)
    book.add(record(ok("a", "a#1", 0.1), usage=Usage(100, 10)))
    book.roll(MIDNIGHT + DAY - 1)
    assert book.today.input_tokens == 100
    book.roll(MIDNIGHT + DAY)
    assert book.today.input_tokens == 0 and book.providers["a"].today.calls == 0
    assert book.providers["a"].keys["a#1"].today.calls == 0
    assert book.day_start == MIDNIGHT + DAY and book.calls == 1
    book.add(record(ok("a", "a#1", 0.1), started=MIDNIGHT + 3 * DAY + 5, usage=Usage(1, 1)))
    assert book.day_start == MIDNIGHT + 3 * DAY and book.today.input_tokens == 1


def test_restored_sums_count_as_today() -> None:
    book = StatsBook(MIDNIGHT)
    book.restore_today([("a", "a#1", 4, Usage(40, 4, 1, 2), 0.25), (None, None, 2, Usage(), 0)])
    assert book.today.calls == 6 and book.today.input_tokens == 40
    assert book.providers["a"].keys["a#1"].today.as_dict()["cost_usd"] == 0.25
    assert book.providers["a"].attempts == 0  # only today's sums come back


def test_percentiles_are_over_the_most_recent_samples_by_nearest_rank() -> None:
    book = StatsBook(MIDNIGHT)
    for latency in range(1, 101):
        book.add(record(ok("a", "a#1", latency / 1000)))
    assert book.providers["a"].as_dict()["latency_ms"] == {"p50": 50.0, "p95": 95.0}
    for _ in range(1000):
        book.add(record(ok("a", "a#1", 1.0)))
    assert book.providers["a"].as_dict()["latency_ms"] == {"p50": 1000.0, "p95": 1000.0}


def test_another_key_of_the_same_candidate_is_no_failover() -> None:
    book = StatsBook(MIDNIGHT)
    book.add(record(rate_limited("a", "a#1"), ok("a", "a#2", 0.1)))
    book.add(record(Hop("a", "m", "full"), ok("a", "a#1", 0.1)))  # waited for room, then served
    assert book.totals()["failovers"] == 0
    assert [r["failover"] for r in book.recent_calls()] == [False, False]


def test_a_stream_cut_mid_way_is_a_failure_of_the_provider_that_served_it() -> None:
    book = StatsBook(MIDNIGHT)
    book.add(record(ok("a", "a#1", 0.1), outcome="cut", stream=True))
    a = book.providers["a"]
    assert (a.attempts, a.successes, dict(a.failures)) == (1, 0, {"cut": 1})
    assert a.keys["a#1"].successes == 0
