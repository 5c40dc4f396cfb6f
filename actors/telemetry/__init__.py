"""Telemetry: one `CallRecord` per call, kept in SQLite and summed up for /stats and /metrics."""

from actors.telemetry.record import CallRecord
from protocols.usage import Usage

__all__ = ["CallRecord", "Usage"]
