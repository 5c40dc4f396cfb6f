"""Keep secrets out of text that leaves baton (errors, logs, stats, request logs).

Two nets, used together by `Redactor`: the secrets baton knows (every upstream key and client
key of the config), replaced wherever they appear, and patterns for credentials it cannot know
in advance (a client's wrong key in an `Authorization` header, a token in a URL's query,
an `sk-...` key pasted into a message). Everything found becomes `***`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"

# Header names whose values are credentials, whatever they hold.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
    }
)
# Query parameters that carry credentials (`?key=` is Gemini's, `?api-key=` Azure's).
_QUERY_NAMES = r"(?:api[-_]?key|key|token|access[-_]?token|auth|password|secret|sig|signature)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `Bearer X` on its own (a token is long: "bearer of bad news" stays)
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=:-]{8,}"), rf"\1\2{REDACTED}"),
    # `Authorization: Bearer X`, `"authorization": "Basic X"`, `authorization=X`
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:[a-z]+\s+)?[^\s\"',;]+"
        ),
        rf"\1{REDACTED}",
    ),
    # `x-api-key: X`, `api-key=X`, `"x-goog-api-key": "X"`, `api_key: X`
    (
        re.compile(r"(?i)\b((?:x-)?(?:goog-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"),
        rf"\1{REDACTED}",
    ),
    # `?key=X&token=Y` in a URL
    (re.compile(rf"(?i)([?&]{_QUERY_NAMES}=)[^&\s#\"']+"), rf"\1{REDACTED}"),
    # `https://user:password@host`
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), rf"\1{REDACTED}@"),
    # OpenAI-style keys: `sk-...`, `sk-proj-...`, `sk-ant-...`
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
)


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


def scrub_patterns(text: str) -> str:
    """`text` with every credential-shaped piece (see `_PATTERNS`) replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with every credential header's value replaced (names kept)."""
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


class Redactor:
    """Scrubs text and JSON-like values of the given secrets and of credential patterns.

    Secrets are tried longest first, so a secret that is the prefix of another never leaves
    the other's tail behind."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        known = set(self.secrets)
        known.update(secret for secret in secrets if secret and len(secret) >= 4)
        self.secrets = tuple(sorted(known, key=len, reverse=True))

    def text(self, text: str) -> str:
        return scrub_patterns(scrub(text, self.secrets))

    def value(self, value: Any) -> Any:
        """`value` with every string in it scrubbed, dicts and lists walked (a copy)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value


def mask(secret: str | None) -> str:
    """A form of a secret safe to print: its length only."""
    if not secret:
        return "(none)"
    return f"<{len(secret)} chars>"
