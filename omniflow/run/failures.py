"""Any exception inside a step, turned into the one line the step ends with.

The run never lets an exception escape a step (a RecursionError from a
200k-deep JSON answer, a KeyError from a transport, ENOSPC while writing a
download): each becomes the step's ``failed`` or ``unknown`` reason, in one
line, bounded, with the API key scrubbed whatever form a server echoed it in.
"""

from __future__ import annotations

import os

from omniflow.backends.scrub import clean, clip
from omniflow.errors import OmniflowError

#: the most characters of a step's reason (the journal, the summary, the report)
MAX_REASON = 500


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` scrubbed of the API key, on one line, at most ``limit`` characters."""
    # the key only ever comes from the environment (design §4)
    key = os.environ.get("OMNIROUTERS_API_KEY", "").strip()
    text = clean(text, key, limit + 64) if key else text[: limit + 64]
    return clip(" ".join(text.split()), limit)


def reason_of(exc: BaseException) -> str:
    """Our own errors in their own words; anything else as ``TypeName: message``."""
    if isinstance(exc, OmniflowError):
        return one_line(str(exc))
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return one_line(f"{type(exc).__name__}: {exc.strerror}{where}")
    text = str(exc).strip()
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
