"""Serve the emulator over TCP with uvicorn (``omniflow emulator serve``)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

from omniflow.emulator.config import EmulatorConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. Bound before announcing, so no race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets
    # only when their proto says TCP. Without it every response waits ~40 ms
    # for the client's delayed ACK (Nagle), and throughput drops tenfold.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8765, *, announce: Callable[[str], None] | None = None) -> None:
    """Run until interrupted. ``announce`` gets the base URL once the socket listens."""
    import uvicorn

    from omniflow.emulator.app import create_app

    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{actual}"
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    (announce or (lambda u: print(f"omniflow emulator listening on {u}", file=sys.stderr, flush=True)))(url)
    server.run(sockets=[sock])
