"""Downloads give way to submissions: one per answered create, never longer than the patience."""

from __future__ import annotations

import asyncio

from omniflow.planning.plan import make_plan
from omniflow.run.units import Submissions, awaited_keys, build_units

from .conftest import CHAIN, Harness


async def _started(tasks: list[asyncio.Task[None]]) -> list[bool]:
    for _ in range(3):
        await asyncio.sleep(0)
    return [t.done() for t in tasks]


def test_with_nothing_submitting_a_download_starts_at_once() -> None:
    async def main() -> bool:
        subs = Submissions(patience=60.0)
        waiter = asyncio.ensure_future(subs.give_way())
        return (await _started([waiter]))[0]

    assert asyncio.run(main())


def test_each_answered_create_lets_one_download_go_and_the_last_lets_all_go() -> None:
    async def main() -> list[list[bool]]:
        subs = Submissions(patience=60.0)
        for _ in range(3):
            subs.begin()
        downloads = [asyncio.ensure_future(subs.give_way()) for _ in range(4)]
        seen = [await _started(downloads)]
        subs.end()
        seen.append(await _started(downloads))
        subs.end()
        seen.append(await _started(downloads))
        subs.end()  # nothing left submitting: every waiting download goes
        seen.append(await _started(downloads))
        return seen

    assert asyncio.run(main()) == [
        [False, False, False, False],
        [True, False, False, False],
        [True, True, False, False],
        [True, True, True, True],
    ]


def test_no_download_waits_longer_than_the_patience() -> None:
    async def main() -> tuple[bool, float, int]:
        subs = Submissions(patience=0.02)
        subs.begin()  # a create that never answers
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.wait_for(subs.give_way(), timeout=5)
        waited = loop.time() - t0
        subs.end()  # the timed-out waiter is skipped, not counted as released
        return subs.pending == 0, waited, len(subs._waiting)

    done, waited, left = asyncio.run(main())
    assert done and 0.015 <= waited < 2 and left == 0


def test_an_output_another_step_waits_for_is_never_held_back(harness: Harness) -> None:
    """keyframe feeds shot1, shot1 feeds its frame grab and the cut; nothing waits for cut or other."""
    harness.write("chain.yaml", CHAIN)
    pipeline = harness.load("chain.yaml")
    units, outcomes = build_units(make_plan(pipeline, harness.cache()))
    ids = {unit.step.id: key for key, unit in units.items()}
    assert awaited_keys(units, outcomes) == {ids[n] for n in ("keyframe", "shot1", "shot1_end", "shot2")}

    assert harness.run("chain.yaml").exit_code == 0
    units, outcomes = build_units(make_plan(harness.load("chain.yaml"), harness.cache()))
    assert awaited_keys(units, outcomes) == set()  # all cached: nobody waits


def test_a_submission_block_ends_however_it_is_left() -> None:
    subs = Submissions()
    with subs.submitting():
        assert subs.pending == 1
    try:
        with subs.submitting():
            raise RuntimeError("create refused")
    except RuntimeError:
        pass
    assert subs.pending == 0
