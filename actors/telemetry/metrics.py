"""Prometheus metrics (`GET /metrics`), on the `prometheus_client` package.

Counters and histograms are fed one `CallRecord` at a time (`observe`); what is live (calls in
flight, keys cooling, provider health, dropped records) is read from the running system when
scraped, by a collector given a function that returns it. Each baton process has its own
registry: with `--workers N`, a scrape sees the worker that answered it.

Labels never carry a secret: providers, models, key aliases, outcomes and failure classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.telemetry.record import CallRecord
from actors.telemetry.stats_book import attempt_failure, provider_ttft

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

Live = Callable[[], dict[str, Any]]  # {"in_flight": {provider: n}, "cooling": {...}, ...}


class _LiveCollector(Collector):
    def __init__(self, live: Live) -> None:
        self._live = live

    def collect(self) -> Iterator[Metric]:
        live = self._live()
        calls = GaugeMetricFamily("baton_calls_in_flight", "Calls being answered now")
        calls.add_metric([], live.get("calls_in_flight", 0))
        yield calls
        in_flight = GaugeMetricFamily(
            "baton_in_flight",
            "Calls being served now (edge) and attempts per provider",
            labels=["provider"],
        )
        for provider, count in live.get("in_flight", {}).items():
            in_flight.add_metric([provider], count)
        yield in_flight
        cooling = GaugeMetricFamily(
            "baton_keys_cooling", "Keys cooling down now, per provider", labels=["provider"]
        )
        for provider, count in live.get("cooling", {}).items():
            cooling.add_metric([provider], count)
        yield cooling
        health = GaugeMetricFamily(
            "baton_provider_up",
            "Provider health: 1 up, 0.5 degraded, 0 down, -1 unknown",
            labels=["provider"],
        )
        for provider, value in live.get("health", {}).items():
            health.add_metric([provider], value)
        yield health
        dropped = GaugeMetricFamily(
            "baton_telemetry_records_dropped", "Call records lost to an overloaded writer"
        )
        dropped.add_metric([], live.get("records_dropped", 0))
        yield dropped
        state = GaugeMetricFamily(
            "baton_state_backend_up",
            "The state backend answers: 1 yes, 0 no (a shared Redis away: local state, degraded)",
            labels=["backend"],
        )
        for backend, value in live.get("state_backend_up", {}).items():
            state.add_metric([backend], value)
        yield state


class Metrics:
    def __init__(self, live: Live | None = None, virtual_models: Iterable[str] = ()) -> None:
        # a client may ask for any name: only these, and names an upstream served, are labels
        self.virtual_models = frozenset(virtual_models)
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.calls = Counter(
            "baton_calls",
            "Calls answered, by endpoint, requested model, serving provider and outcome",
            ["endpoint", "model", "provider", "outcome"],
            registry=registry,
        )
        self.call_seconds = Histogram(
            "baton_call_duration_seconds",
            "From the request read to the reply ended",
            ["endpoint", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft_seconds = Histogram(
            "baton_time_to_first_token_seconds",
            "Streamed calls: the serving provider's time from sending to its first content",
            ["provider"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.attempts = Counter(
            "baton_upstream_attempts",
            "Upstream attempts by provider, key alias and result (ok or the failure class)",
            ["provider", "key", "result"],
            registry=registry,
        )
        self.attempt_seconds = Histogram(
            "baton_upstream_attempt_duration_seconds",
            "Successful attempts: from sending to the answer (a stream: its first content)",
            ["provider"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.failovers = Counter(
            "baton_failovers",
            "Calls served by other than the first candidate of their chain",
            ["model"],
            registry=registry,
        )
        self.skips = Counter(
            "baton_candidates_skipped",
            "Candidates passed over without an attempt: cooling or out of rate headroom",
            ["provider", "reason"],
            registry=registry,
        )
        self.tokens = Counter(
            "baton_tokens",
            "Tokens reported by the serving upstream",
            ["provider", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "baton_cost_usd", "Estimated cost from the price table", ["provider"], registry=registry
        )
        if live is not None:
            registry.register(_LiveCollector(live))
        # labels() validates and locks on every call; a labelled child, once made, is reused
        self._children: dict[tuple[object, ...], Any] = {}

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, record: CallRecord) -> None:
        child = self._child
        provider = record.provider or "none"
        served = record.provider is not None or record.model in self.virtual_models
        model = record.model if served else "other"
        child(self.calls, record.endpoint, model, provider, record.outcome).inc()
        child(self.call_seconds, record.endpoint, record.outcome).observe(record.duration)
        ttft = provider_ttft(record)
        if ttft is not None:
            child(self.ttft_seconds, provider).observe(ttft)
        for hop in record.hops:
            if hop.key is None:  # not attempted
                child(self.skips, hop.provider, hop.mark).inc()
                continue
            failure = attempt_failure(record, hop)
            child(self.attempts, hop.provider, hop.key, failure or "ok").inc()
            if failure is None and hop.latency is not None:
                child(self.attempt_seconds, hop.provider).observe(hop.latency)
        if record.failover:
            child(self.failovers, model).inc()
        usage = record.usage
        for kind, count in (
            ("input", usage.input),
            ("output", usage.output),
            ("reasoning", usage.reasoning),
            ("cached", usage.cached),
        ):
            if count:
                child(self.tokens, provider, kind).inc(count)
        if record.cost:
            child(self.cost, provider).inc(record.cost)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
