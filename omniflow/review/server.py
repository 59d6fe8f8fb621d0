"""Serving a review session with uvicorn on a socket bound before the URL is printed.

The socket is bound here, not by uvicorn, so ``--port 0`` (any free port)
works: the port is known, printed and written into the guard before the
first request can arrive.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

from omniflow.errors import UsageError
from omniflow.review.app import create_app
from omniflow.review.guard import WILDCARD, Guard, display_url
from omniflow.review.session import ReviewSession

DEFAULT_PORT = 8765


def bind(host: str, port: int | None) -> socket.socket:
    """A listening TCP socket; without ``port``, DEFAULT_PORT or, when taken, any free one."""
    name = host.strip("[]")
    family = socket.AF_INET6 if ":" in name else socket.AF_INET
    for candidate in ((DEFAULT_PORT, 0) if port is None else (port,)):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((name or "0.0.0.0", candidate))
            sock.listen(64)
            return sock
        except OSError as exc:
            sock.close()
            if port is None and candidate == DEFAULT_PORT:
                continue
            raise UsageError(f"cannot listen on {host}:{candidate}: {exc.strerror or exc}"
                             " (--port 0 takes any free port)") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but Ctrl-C / SIGTERM end ``serve`` normally.

        uvicorn re-raises a signal it caught once it has shut down, which would
        kill the process before the temp folder is removed (SIGTERM) or turn a
        plain stop into an "interrupted" exit 130 (SIGINT). Stopping a review
        server is how it is meant to end, so the caught signals are dropped.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                captured = getattr(self, "_captured_signals", None)
                if isinstance(captured, list):
                    captured.clear()

    return Server


def _Server(config: object) -> object:  # noqa: N802 - stands for the class
    return _server_class()(config)


def serve(session: ReviewSession, *, host: str = "127.0.0.1", port: int | None = None,
          ready: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM end it cleanly); ``ready`` gets the URL."""
    import uvicorn

    sock = bind(host, port)
    actual = sock.getsockname()[1]
    guard = Guard(host, actual, session.token)
    app = create_app(session, guard)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, date_header=False)
    server = _Server(config)
    try:
        ready(display_url(host, actual))
        server.run(sockets=[sock])
    finally:
        sock.close()


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in WILDCARD
