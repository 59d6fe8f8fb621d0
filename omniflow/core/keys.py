"""Canonical JSON and cache keys (design.md §2).

A step's key is the sha256 of the canonical JSON of::

    {"omniflow": 1, "backend": <backend kind>, "kind": <step kind>,
     "request": <rendered request, upstream URLs replaced by "omniflow:<upstream key>">,
     "take": <take>}

Canonical JSON: keys sorted, no insignificant white space, UTF-8 (non-ASCII
characters kept as themselves), so the same request always hashes the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

LANGUAGE_VERSION = 1
UPSTREAM_PREFIX = "omniflow:"
FILE_PREFIX = UPSTREAM_PREFIX + "file:"  # a local input file, by sha256: not an upstream step


def canonical_json(value: Any) -> bytes:
    """Sorted keys, compact separators, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def step_key(*, backend: str, kind: str, request: Any, take: int) -> str:
    """The cache key of one step: lowercase 64-hex."""
    doc = {"omniflow": LANGUAGE_VERSION, "backend": backend, "kind": kind, "request": request, "take": take}
    return sha256_hex(canonical_json(doc))


def upstream_ref(key: str) -> str:
    """The placeholder that stands for an upstream output's URL inside a request."""
    return UPSTREAM_PREFIX + key


def upstream_key(value: Any) -> str | None:
    """The upstream key a placeholder stands for, or None (not a placeholder, or a local file)."""
    if isinstance(value, str) and value.startswith(UPSTREAM_PREFIX) and not value.startswith(FILE_PREFIX):
        return value[len(UPSTREAM_PREFIX) :]
    return None


def upstream_keys(node: Any) -> list[str]:
    """Keys of the upstream outputs a rendered request refers to, in order of first use."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            key = upstream_key(value)
            if key is not None and key not in found:
                found.append(key)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(node)
    return found


def body_digest(body: Any) -> str:
    """sha256 of a request body's canonical JSON (the emulator's stats use it too)."""
    return sha256_hex(canonical_json(body))
