"""The `telemetry:` section: how long call records are kept and how many may wait for the
disk.

```yaml
telemetry:
  retention_days: 30   # call records older than this are pruned (hourly)
  buffer: 10000        # records waiting to be written; past it they are counted as dropped
```
"""

from __future__ import annotations

import attrs

from config.model import TelemetrySettings
from config.reader import Reader, child

TELEMETRY_FIELDS = ("retention_days", "buffer")


def read_telemetry(reader: Reader, value: object, path: str = "telemetry") -> TelemetrySettings:
    settings = TelemetrySettings()
    fields = reader.mapping(value, path, allowed=TELEMETRY_FIELDS)
    if not fields:
        return settings
    if fields.get("retention_days") is not None:
        days = reader.number(
            fields["retention_days"], child(path, "retention_days"), "expected a number of days"
        )
        if days is not None and days <= 0:
            reader.fail(child(path, "retention_days"), f"must be greater than 0, got {days:g}")
        elif days is not None:
            settings = attrs.evolve(settings, retention_days=days)
    if fields.get("buffer") is not None:
        buffer = reader.integer(fields["buffer"], child(path, "buffer"), minimum=1)
        if buffer is not None:
            settings = attrs.evolve(settings, buffer=buffer)
    return settings
