"""How baton reaches a provider: the per-provider options of its HTTP client.

`max_connections` (a cap on the connections one process holds to the upstream) and `http2`
are read with the provider's other fields; this module reads the two that need care:

- `proxy`: an http(s) URL of an outbound proxy, for this provider only (without it the
  standard `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables apply). It may carry a password
  (`http://user:password@proxy:3128`), so a wrong one is only ever shown redacted, and the
  password joins the secrets the log scrubber knows.
- `ca_bundle`: a PEM file of certificate authorities trusted for this upstream instead of
  the system's, for a private upstream behind its own CA. It must exist when the config is
  read; it is loaded when the provider's client is made.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from config.reader import Reader
from config.urls import redact_url

_PROXY_SCHEMES = ("http", "https")


def read_proxy(reader: Reader, value: object, path: str) -> str | None:
    """An http(s) proxy URL; it may carry a password, so a wrong one is shown redacted."""
    if value is None:
        return None
    text = reader.text(value, path, secret=True)
    if text is None:
        return None
    try:
        parts = urlsplit(text.strip())
        valid = parts.scheme in _PROXY_SCHEMES and bool(parts.hostname)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        reader.fail(path, "expected an http(s) proxy URL, got a malformed one")
        return None
    if not valid:
        reader.fail(path, f"expected an http(s) proxy URL, got {redact_url(text)!r}")
        return None
    return text.strip()


def read_ca_bundle(reader: Reader, value: object, path: str) -> str | None:
    """A PEM file of certificate authorities; it must exist (it is read when baton starts)."""
    if value is None:
        return None
    text = reader.text(value, path)
    if text is None:
        return None
    bundle = Path(text).expanduser()
    if not bundle.is_file():
        reader.fail(path, f"no such file: {text}")
        return None
    return str(bundle)
