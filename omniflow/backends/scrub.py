"""Server text made safe to keep, print or raise: the API key removed, the length bounded.

Servers echo what they were sent, sometimes encoded: an error message quoting
the ``Authorization`` header, a failure reason carrying a base64 of
``Bearer <key>``, a hex or UTF-16 dump of a request. :func:`scrub` removes the
key in each of these forms; :func:`clip` bounds a text to a few KB; :func:`clean`
does both in the order that cannot leave a half key behind. Pure functions:
the client uses them for every message it builds, and the run layer may use
them for anything else a server said.

    from omniflow.backends.scrub import clean
    reason = clean(server_text, api_key)
"""

from __future__ import annotations

import base64
import functools
import re
from urllib.parse import quote

#: the most characters of server-provided text we keep (messages, failure reasons)
MAX_TEXT = 2000
ELLIPSIS = "…"
MARK = "***"
_MIN_SECRET = 8  # shorter "secrets" (a key's body of a few letters) would erase ordinary words


def scrub(text: str, secret: str) -> str:
    """``text`` without ``secret`` in raw, base64, base64-of-``Bearer <secret>``, hex or UTF-16 form.

    The key's body without its ``sk-`` prefix counts as the key too (servers
    quote ``Bearer sk-...`` after stripping ``sk-``). Base64 forms are matched at
    every alignment, so the key is found inside any base64 blob (a whole header
    dump, ``Bearer <key>``, a JSON document), in the standard and URL-safe alphabets.
    """
    if not text or not secret:
        return text
    pattern, _ = _compiled(secret)
    return pattern.sub(MARK, text) if pattern is not None else text


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """At most ``limit`` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def clean(text: str, secret: str, limit: int = MAX_TEXT) -> str:
    """:func:`scrub` then :func:`clip`, reading only a bounded prefix of a huge text.

    The prefix is cut before scrubbing (a 200 MB message is not scanned whole);
    a form of the key cut in half at that point is dropped with the tail, so no
    part of the key survives the cut.
    """
    margin = (_compiled(secret)[1] if secret else 0) + 16
    if len(text) <= limit + margin:
        return clip(scrub(text, secret), limit)
    scrubbed = scrub(text[: limit + margin], secret)
    # whatever form of the key straddled the cut is in the last `margin` characters
    return scrubbed[: len(scrubbed) - margin][: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


@functools.lru_cache(maxsize=8)
def _compiled(secret: str) -> tuple[re.Pattern[str] | None, int]:
    """The alternation of every form of ``secret`` (longest first), and the longest form's length."""
    forms: set[str] = set()
    for value in _values(secret):
        forms |= _forms(value)
    alternatives = sorted((f for f in forms if len(f) >= _MIN_SECRET), key=len, reverse=True)
    if not alternatives:
        return None, 0
    # longest first: a form that contains another is removed whole
    return re.compile("|".join(re.escape(f) for f in alternatives)), len(alternatives[0])


def _values(secret: str) -> list[str]:
    values = [secret]
    if secret.startswith("sk-") and len(secret) - 3 >= _MIN_SECRET:
        values.append(secret[3:])
    return values


def _forms(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), raw.hex(), raw.hex().upper(), "\x00".join(value)}
    # "\x00".join: UTF-16 in either byte order, read back as UTF-8 or Latin-1 text
    forms |= {value.encode("utf-16-le").hex(), value.encode("utf-16-be").hex()}
    for prefix in (b"", b"Bearer "):
        forms |= _exact_base64(prefix + raw)
    for shift in range(3):
        forms |= _base64_core(raw, shift)
    return forms


def _exact_base64(data: bytes) -> set[str]:
    whole = base64.b64encode(data).decode("ascii")
    return {whole, whole.rstrip("="), whole.translate(_URLSAFE), whole.translate(_URLSAFE).rstrip("=")}


def _base64_core(raw: bytes, shift: int) -> set[str]:
    """The base64 characters fixed by ``raw`` alone when it starts ``shift`` bytes into a 3-byte group.

    Base64 turns each 3-byte group into 4 characters on its own, so the groups
    wholly inside ``raw`` encode the same way wherever ``raw`` sits in a larger
    blob; only the (at most two) groups at its edges mix in outside bytes.
    """
    skip = (3 - shift) % 3  # bytes of raw in its first, shared group
    body = raw[skip:]
    body = body[: len(body) - len(body) % 3]
    if len(body) < 6:
        return set()
    core = base64.b64encode(body).decode("ascii")
    return {core, core.translate(_URLSAFE)}


_URLSAFE = str.maketrans("+/", "-_")


__all__ = ["ELLIPSIS", "MARK", "MAX_TEXT", "clean", "clip", "scrub"]
