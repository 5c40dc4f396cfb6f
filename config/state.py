"""The top-level `state:` and `cluster:`: where the state baton instances share lives.

Without `state:` (and without `BATON_STATE_URL`) nothing changes: one process keeps its state
in memory and in SQLite in its data directory. With `state: redis://host:6379/0` (or
`rediss://` for TLS; a password in the URL, or `${VAR}` from the environment), every worker
and every machine pointed at the same Redis or Valkey shares rate windows, cooldowns, key
concurrency and stored responses (`actors.state`, `actors.store.redis_responses`). `cluster:`
(default `baton`) names the gateway inside that Redis: two gateways with different names
share one Redis without mixing (`baton:<cluster>:...`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from config.reader import Reader, kind
from config.settings import StateSettings

STATE_VARIABLE = "BATON_STATE_URL"
SCHEMES = ("redis", "rediss")
CLUSTER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def read_state(reader: Reader, value: object, cluster: object) -> StateSettings:
    url: str | None = None
    path = "state"
    if value is None:
        value = reader.env.get(STATE_VARIABLE) or None
        path = STATE_VARIABLE
    if value is not None:
        text = reader.text(value, path, secret=True) if isinstance(value, str) else None
        if text is None:
            reader.fail(path, f"expected a redis:// or rediss:// URL, got {kind(value)}")
        elif urlsplit(text).scheme not in SCHEMES or not urlsplit(text).hostname:
            reader.fail(path, "expected a redis:// or rediss:// URL with a host")
        else:
            url = text
    name = "baton"
    if cluster is not None:
        if isinstance(cluster, str) and CLUSTER_NAME.fullmatch(cluster):
            name = cluster
        else:
            reader.fail("cluster", "expected a name of letters, digits, '.', '_' or '-'")
    return StateSettings(url=url, cluster=name)
