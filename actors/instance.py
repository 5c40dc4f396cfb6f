"""This process's name to a fleet and in `/stats`: host, pid and a random part, so that a
restarted process is a new instance (the old one's heartbeat expires)."""

from __future__ import annotations

import os
import socket
import uuid

INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
