"""``omniflow review``: the report served on 127.0.0.1 with a Pick button on every candidate.

- :class:`ReviewSession` builds the page (the report of :mod:`omniflow.report`
  with Pick buttons and a per-session token) and writes picks through
  :func:`omniflow.planning.picks.set_pick`, the code of ``omniflow pick``.
- :func:`create_app` is the ASGI app (page, report files, ``POST /pick``)
  behind the checks of :class:`Guard` (Host, Origin, token).
- :func:`serve` binds the socket, prints the URL and runs uvicorn.

starlette and uvicorn are imported only when a session is served.
"""

from omniflow.review.guard import Guard, display_url
from omniflow.review.session import Downstream, Picked, ReviewSession

__all__ = ["Downstream", "Guard", "Picked", "ReviewSession", "create_app", "display_url", "serve"]


def __getattr__(name: str) -> object:
    # the app and server pull in starlette/uvicorn: only when asked for
    if name == "create_app":
        from omniflow.review.app import create_app

        return create_app
    if name == "serve":
        from omniflow.review.server import serve

        return serve
    raise AttributeError(name)
