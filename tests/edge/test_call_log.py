"""The per-call line: one per CallRecord, its level by outcome, its fields in JSON mode."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import attrs
import pytest
import trio
from loguru import logger

from actors.messages import Hop
from actors.telemetry.record import CANCELLED, CUT, FAILED, OK, CallRecord
from edge import logs
from edge.call_log import call_line, log_call
from protocols.usage import Usage

SECRET = "sk-calllog-SECRET-zyxwvutsrq"

SERVED = CallRecord(
    request_id="req_0123456789abcdef01234567",
    started=1_700_000_000.0,
    endpoint="chat",
    client="client#1",
    model="coding-elite",
    stream=True,
    status=200,
    outcome=OK,
    hops=(
        Hop("alpha", "m", "429", key="alpha#1", failure="rate_limit", latency=0.05, message="no"),
        Hop("beta", "m", "200", key="beta#2", latency=0.12),
    ),
    provider="beta",
    served_model="m",
    ttft=0.12,
    duration=0.812,
    usage=Usage(input=10, output=20),
    cost=0.0001,
)
FAILED_CALL = attrs.evolve(
    SERVED,
    request_id="req_failed",
    stream=False,
    status=429,
    outcome=FAILED,
    hops=(
        Hop("alpha", "m", "429", key="alpha#1", failure="rate_limit", message=f"key {SECRET}"),
        Hop("beta", "m", "cooling"),
    ),
    provider=None,
    served_model=None,
    error="rate_limit_exceeded",
    ttft=None,
    duration=0.05,
    usage=Usage(),
    cost=None,
    client=None,
)


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logger.remove()
    logger.add(sys.stderr)


def test_a_served_call_reads_as_one_line() -> None:
    assert call_line(SERVED) == (
        "chat coding-elite 200 ok via beta/m route=alpha/m=429,beta/m=200 attempts=2 "
        "ttft=120ms 812ms tokens=10/20 $0.0001 client#1"
    )


def test_a_failed_call_names_its_error_and_leaves_out_what_it_lacks() -> None:
    assert call_line(FAILED_CALL) == (
        "chat coding-elite 429 failed error=rate_limit_exceeded "
        "route=alpha/m=429,beta/m=cooling attempts=1 50ms"
    )


def test_tiny_costs_and_unknown_token_counts_print_plainly() -> None:
    record = attrs.evolve(SERVED, cost=0.0000125, usage=Usage(input=7), hops=(), client=None)
    assert call_line(record).endswith("attempts=0 ttft=120ms 812ms tokens=7/? $0.000013")


@pytest.mark.parametrize(
    ("outcome", "level"),
    [(OK, "INFO"), (CANCELLED, "INFO"), (FAILED, "WARNING"), (CUT, "WARNING")],
)
def test_the_level_follows_the_outcome(out: io.StringIO, outcome: str, level: str) -> None:
    logs.configure("DEBUG", stream=out)
    log_call(attrs.evolve(SERVED, outcome=outcome))
    [line] = out.getvalue().splitlines()
    assert f" {level:<7} [req_0123456789abcdef01234567] chat coding-elite 200 {outcome} " in line


async def test_json_mode_carries_the_whole_record_and_the_request_id(out: io.StringIO) -> None:
    logs.configure("INFO", json=True, stream=out)
    logs.register_secrets([SECRET])

    async def telemetry_actor() -> None:  # logs from its own task, whatever id is bound there
        with logger.contextualize(request_id="another-request"):
            log_call(FAILED_CALL)
            log_call(SERVED)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(telemetry_actor)
    failed, served = (json.loads(line) for line in out.getvalue().splitlines())
    assert failed["request_id"] == "req_failed"
    assert failed["level"] == "WARNING"
    assert failed["message"].startswith("chat coding-elite 429 failed error=rate_limit_exceeded")
    assert failed["logger"] == "edge.call_log"
    assert failed["hops"][0] == {
        "provider": "alpha",
        "model": "m",
        "mark": "429",
        "key": "alpha#1",
        "failure": "rate_limit",
        "latency": None,
        "message": "key ***",
    }
    assert (failed["status"], failed["outcome"], failed["error"]) == (
        429,
        FAILED,
        "rate_limit_exceeded",
    )
    assert failed["route"] == "alpha/m=429,beta/m=cooling"
    assert failed["attempts"] == 1 and failed["key"] is None and failed["cost"] is None
    assert served["request_id"] == SERVED.request_id
    assert served["level"] == "INFO"
    assert served["usage"] == {"input": 10, "output": 20, "reasoning": None, "cached": None}
    assert (served["provider"], served["served_model"], served["key"]) == ("beta", "m", "beta#2")
    assert (served["ttft"], served["duration"], served["cost"]) == (0.12, 0.812, 0.0001)
    assert served["tokens_per_second"] == pytest.approx(20 / 0.692)
    assert served["client"] == "client#1" and served["stream"] is True
    assert SECRET not in out.getvalue()
