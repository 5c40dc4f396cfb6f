"""The one log line each call leaves, written from its `CallRecord` when the reply has ended.

    chat coding-elite 200 ok via beta/m route=alpha/m=429,beta/m=200 attempts=2 ttft=120ms
    812ms tokens=10/20 $0.0001 client#1

(on one line). A whole answer and a client that left (`cancelled`) log at INFO; a call that
failed, or a stream cut by an upstream failure, at WARNING, with the error code the client saw.
The record's fields (hops included) ride along as extras, which `--log-json` writes as fields
of the line's object; the line carries the call's `request_id` whichever task logs it.
"""

from __future__ import annotations

from loguru import logger

from actors.messages import Provenance
from actors.telemetry.record import CANCELLED, OK, CallRecord

_QUIET = (OK, CANCELLED)


def log_call(record: CallRecord) -> None:
    level = "INFO" if record.outcome in _QUIET else "WARNING"
    logger.bind(**record.as_dict()).log(level, call_line(record))


def call_line(record: CallRecord) -> str:
    """The human form of the record: what was asked, how it ended, by which route, how fast."""
    parts = [record.endpoint, record.model, str(record.status), record.outcome]
    if record.error:
        parts.append(f"error={record.error}")
    if record.provider is not None:
        parts.append(f"via {record.provider}/{record.served_model or '?'}")
    if record.hops:
        parts.append(f"route={record.route}")
    parts.append(f"attempts={record.attempts}")
    if record.ttft is not None:
        parts.append(f"ttft={_ms(record.ttft)}")
    parts.append(_ms(record.duration))
    usage = record.usage
    if usage.input is not None or usage.output is not None:
        parts.append(f"tokens={_count(usage.input)}/{_count(usage.output)}")
    if record.cost is not None:
        parts.append("$" + f"{record.cost:.6f}".rstrip("0").rstrip("."))
    if record.client is not None:
        parts.append(record.client)
    return " ".join(parts)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def _count(tokens: int | None) -> str:
    return "?" if tokens is None else str(tokens)


def log_failed_hops(provenance: Provenance) -> None:
    """At DEBUG, why each failed attempt of a call failed (the per-call line has the marks)."""
    for hop in provenance.hops:
        if hop.failure is not None:
            logger.debug(
                "attempt {} with key {}: {} {}", hop.label, hop.key, hop.mark, hop.message or ""
            )
