"""Who may use a review server: its own page, on the addresses it was started for.

``omniflow review`` writes files (the picks file) on a click, so a page from
anywhere else must not be able to make it write. Three checks, all needed:

- **Host**: the request names one of the server's own addresses. A DNS
  rebinding page (evil.example resolving to 127.0.0.1) sends ``Host:
  evil.example`` and is refused, so it can read neither the page nor its token.
- **Origin** (writes): present and equal to the server's own origin. Browsers
  send it on every cross-origin and every same-origin POST, and a page cannot
  forge it; ``null`` (sandboxed frames, file://) is refused.
- **Token** (writes): the per-session secret the served page embeds. A request
  made outside a browser can set any Origin it likes, but not know the token
  without reading the page (which needs the Host check to pass anyway).

Loopback binds accept ``127.0.0.1``, ``localhost`` and ``[::1]`` at the bound
port. A wildcard bind (``--host 0.0.0.0`` or ``::``) accepts any IP literal or
``localhost`` (never a DNS name: that is what rebinding uses); any other
``--host`` accepts exactly that name.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _authority(text: str) -> tuple[str, int] | None:
    """(host name lower-cased, port) of ``host[:port]``; port 80 when absent. None if unreadable."""
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or parts.username is not None or parts.password is not None:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname.lower(), 80 if port is None else port


@dataclass(frozen=True)
class Guard:
    """The checks for one server: the address it was bound to, its port and session token."""

    host: str
    port: int
    token: str

    def _name_ok(self, name: str) -> bool:
        bound = self.host.strip("[]").lower()
        if bound in WILDCARD:
            return name == "localhost" or _is_ip(name)
        if bound in LOOPBACK or (_is_ip(bound) and ipaddress.ip_address(bound).is_loopback):
            return name in LOOPBACK or name == bound
        return name == bound

    def host_ok(self, host_header: str | None) -> bool:
        """The Host header names this server (any request)."""
        found = _authority(host_header or "")
        return found is not None and found[1] == self.port and self._name_ok(found[0])

    def origin_ok(self, origin: str | None, host_header: str | None) -> bool:
        """The Origin is this server, as the Host header names it (a write)."""
        if not origin or origin == "null" or not self.host_ok(host_header):
            return False
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme != "http" or parts.path not in ("", "/") or parts.query or parts.fragment:
            return False
        return _authority(parts.netloc) == _authority(host_header or "")

    def token_ok(self, token: Any) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self.token.encode())


def display_url(host: str, port: int) -> str:
    """The URL to print: a wildcard bind is shown as loopback, an IPv6 address in brackets."""
    name = host.strip("[]")
    if name in WILDCARD:
        name = "127.0.0.1"
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}/"
