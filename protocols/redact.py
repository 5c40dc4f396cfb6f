"""Keep secrets out of text that leaves baton (errors, logs, stats)."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[redacted]"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of each secret (and of its long prefixes and suffixes,
    which upstreams echo as `sk-abc...xyz`) replaced."""
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        if secret in text:
            text = text.replace(secret, REDACTED)
        if len(secret) >= 16:
            for part in (secret[:12], secret[-8:]):
                if part in text:
                    text = text.replace(part, REDACTED)
    return text


def mask(secret: str | None) -> str:
    """A form of a secret safe to print: its length only."""
    if not secret:
        return "(none)"
    return f"<{len(secret)} chars>"
