"""A lean keep-alive HTTP/1.1 client for upstream calls: trio for I/O, httptools for parsing.

Usage, from a trio task:

client = HttpClient("https://api.example.com/v1", connect_timeout=5)
response = await client.request("POST", "chat/completions", headers, body)
try:
    body = await response.read()          # or: async for piece in response.iter_raw()
finally:
    await response.aclose()
await client.aclose()
"""

from actors.http_client.client import HttpClient, default_ssl_context
from actors.http_client.errors import (
    ConnectError,
    ConnectTimeout,
    HttpClientError,
    ReadError,
    RemoteProtocolError,
    WriteError,
)
from actors.http_client.message import Headers
from actors.http_client.response import Response

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "Headers",
    "HttpClient",
    "HttpClientError",
    "ReadError",
    "RemoteProtocolError",
    "Response",
    "WriteError",
    "default_ssl_context",
]
