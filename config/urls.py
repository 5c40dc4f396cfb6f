"""URLs in configuration and logs: their credentials hidden (a password, a query token)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL with any password and query string hidden: either may carry a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_password(url: str | None) -> str | None:
    """The password in a URL's userinfo (`http://user:password@host`), for the secret registry."""
    if not url:
        return None
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None
