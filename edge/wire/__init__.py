"""baton's HTTP/1.1 server: trio sockets, requests parsed by httptools (llhttp).

`messages` holds the values handlers take and give, `connection` serves one client
connection, `listen` binds and accepts. Nothing here knows a route: the edge's handler does.
"""

from edge.wire.listen import bind_sockets, serve_http
from edge.wire.messages import Reply, Request, StreamReply, TakeOver

__all__ = ["Reply", "Request", "StreamReply", "TakeOver", "bind_sockets", "serve_http"]
