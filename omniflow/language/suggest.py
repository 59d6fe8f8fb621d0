""""Did you mean" for step ids, fields, kinds and variables."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], n: int = 1) -> str:
    """`` (did you mean 'x'?)`` or an empty string when nothing is close."""
    pool = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(word, pool, n=n, cutoff=0.6) if isinstance(word, str) else []
    if not close:
        lowered = {c.lower(): c for c in pool}
        if isinstance(word, str) and word.lower() in lowered:
            close = [lowered[word.lower()]]
    return suggestion(close)


def suggestion(close: Iterable[str]) -> str:
    """`` (did you mean 'x' or 'y'?)`` for names already found close, or an empty string."""
    names = " or ".join(repr(c) for c in close)
    return f" (did you mean {names}?)" if names else ""
