"""Telemetry: one `CallRecord` per call, kept in SQLite and summed up for /stats and /metrics."""

from actors.telemetry.record import CallRecord, Usage

__all__ = ["CallRecord", "Usage"]
