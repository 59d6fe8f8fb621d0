"""The one price of a rendered request: what plan, budget, run summary, report and lock all use.

A price table maps a model to a number (``[prices]`` in omniflow.toml). What
the number means follows the kind of request:

- ``video``: money per generated second, times the request's ``seconds``;
- ``image``: money per image, times the request's ``n`` (1 when absent);
- ``speech``: money per 1,000 characters of the request's ``input`` (the gateway bills characters, §16.6);
- ``music``: money per call (a Suno song, both its clips, §16.6);
- local kinds (``frame``, ``concat``) cost nothing and have no price.

A request whose model has no price, or a video whose length is unknown, has
no cost (``None``): totals then name the model as unpriced instead of
guessing. Every amount is rounded to 6 decimals, so sums agree to the cent
wherever they are made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PRICED_KINDS = ("video", "image", "speech", "music")
_DIGITS = 6


def image_count(request: Mapping[str, Any]) -> int:
    """Images an image request asks for: its ``n`` (a positive whole number, also as text), else 1."""
    value = request.get("n")
    if isinstance(value, bool):
        return 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 1 else 1


def units(kind: str, request: Mapping[str, Any], seconds: float | None) -> float | None:
    """How many priced units a request makes: its seconds for a video, its images for an image; else None.

    ``seconds`` is the rendered step's (omniflow.language.render reads them from
    the request once; they are not parsed again here).
    """
    if kind == "video":
        return seconds
    if kind == "image":
        return float(image_count(request))
    if kind == "speech":
        text = request.get("input")
        return len(text) / 1000 if isinstance(text, str) else None
    if kind == "music":
        return 1.0
    return None


def request_cost(kind: str, model: str | None, request: Mapping[str, Any], seconds: float | None,
                 prices: Mapping[str, float]) -> float | None:
    """The cost of sending ``request`` (a ``kind`` step's body for ``model``), or None when it has no price."""
    if kind not in PRICED_KINDS or not model:
        return None
    price = prices.get(model)
    amount = units(kind, request, seconds)
    if price is None or amount is None:
        return None
    return round(price * amount, _DIGITS)


def step_cost(step: Any, prices: Mapping[str, float]) -> float | None:
    """The cost of a rendered step (kind, model, seconds, request: omniflow.language.model.RenderedStep)."""
    return request_cost(step.kind, step.model, step.request, step.seconds, prices)


@dataclass(frozen=True)
class Total:
    """A sum of costs: ``cost`` is None when nothing in it had a price; ``unpriced`` names the models without one."""

    cost: float | None
    unpriced: tuple[str, ...] = ()


def total(items: Iterable[tuple[str | None, float | None]]) -> Total:
    """Sum (model, cost) pairs of remote steps; a None cost counts its model as unpriced."""
    amount = 0.0
    priced = False
    unpriced: set[str] = set()
    for model, cost in items:
        if cost is None:
            if model:
                unpriced.add(model)
            continue
        amount += cost
        priced = True
    return Total(round(amount, _DIGITS) if priced else None, tuple(sorted(unpriced)))
