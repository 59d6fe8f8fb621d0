"""Deterministic crash points for the crash tests: ``OMNIFLOW_KILL_AT="journal:7"``.

A crash test that sends SIGKILL after a random sleep hits whatever the
machine happens to be doing, and misses the narrow windows that matter
(between an intent's commit and its POST, half-way through a download). This
hook names the moment instead: the process kills itself with SIGKILL, so no
``finally``, ``atexit`` or signal handler runs — exactly as under ``kill -9``.

``OMNIFLOW_KILL_AT`` holds one or more ``phase:N`` (comma-separated; N >= 1):

- ``journal:N`` — right before the Nth journal write executes (writes 1..N-1
  are executed; those inside a group commit that is still open are lost with it);
- ``create:N`` — right before the Nth create request is sent (its intent is
  committed, the server has not seen it);
- ``download:N`` — during the Nth download, once its first chunk is written
  and flushed to the temp file (the file is partial, nothing is in the cache).

A testing hook, not a user feature: the variable is read once, at import, and
when it is unset :func:`reached` is one dict lookup. A malformed value raises
``ValueError`` at import, so a typo cannot make a crash test pass vacuously.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import IO

ENV = "OMNIFLOW_KILL_AT"
PHASES = ("journal", "create", "download")


def parse(text: str) -> dict[str, int]:
    """``"journal:7,create:3"`` -> ``{"journal": 7, "create": 3}``; ValueError on anything else."""
    targets: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        phase, sep, count = part.partition(":")
        if not sep or phase not in PHASES or not count.isdigit() or int(count) < 1:
            raise ValueError(
                f"{ENV}={text!r}: expected phase:N with phase one of {', '.join(PHASES)} and N >= 1"
            )
        if phase in targets:
            raise ValueError(f"{ENV}={text!r}: {phase} named twice")
        targets[phase] = int(count)
    return targets


_TARGETS = parse(os.environ.get(ENV, ""))
_counts = dict.fromkeys(_TARGETS, 0)
_mutex = threading.Lock()  # journal writes count on the writer thread, the rest on the loop


def reached(phase: str, *, when: bool = True, flush: IO[bytes] | None = None) -> None:
    """Count one ``phase`` event (when ``when``); SIGKILL this process at the configured Nth.

    ``flush``: a file to flush first, so the bytes written so far are really in
    it when the process dies (a kill drops Python's buffers).
    """
    if phase not in _TARGETS or not when:
        return
    with _mutex:
        _counts[phase] += 1
        due = _counts[phase] == _TARGETS[phase]
    if due:
        if flush is not None:
            flush.flush()
        os.kill(os.getpid(), signal.SIGKILL)
