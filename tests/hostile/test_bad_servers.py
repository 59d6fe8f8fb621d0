"""A server that answers with garbage: every bad answer is a typed error on that step,
in the server's words; siblings finish under --keep-going; no partial file is cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omniflow.config import Config
from omniflow.store import Cache

from .conftest import Harness, cache_is_clean

# step id -> fault forced on it by a [[fault:NAME]] marker in its prompt
VIDEO_FAULTS = {
    "c_malformed": "create_malformed",
    "c_html": "create_html",
    "c_200err": "create_200_error",
    "q_200err": "query_200_error",
    "q_missing": "query_missing_fields",
    "q_types": "query_wrong_types",
    "q_malformed": "query_malformed",
    "q_html": "query_html",
    "t_nourl": "task_no_url",
    "t_fileurl": "task_file_url",
    "t_evil": "task_evil_url",
    "d_type": "download_wrong_type",
    "d_big": "download_too_big",
    "d_loop": "download_redirect_loop",
}
IMAGE_FAULTS = {"i_nourl": "task_no_url", "i_type": "download_wrong_type", "i_200err": "query_200_error"}


def _pipeline() -> str:
    lines = ["omniflow: 1", "name: bad", "defaults:", "  video: {model: Vidu-q3-turbo-720p, seconds: 1}", "steps:",
             "  good1:", "    prompt: a calm sea", "  good2:", "    prompt: a calm sky",
             "  still:", "    kind: image", "    model: Nano-Banana2", "    prompt: a calm lighthouse",
             "  cut: {kind: concat, inputs: [good1, good2]}"]
    for step, fault in VIDEO_FAULTS.items():
        lines += [f"  {step}:", f'    prompt: "shot {step} [[fault:{fault}]]"']
    for step, fault in IMAGE_FAULTS.items():
        lines += [f"  {step}:", "    kind: image", "    model: Nano-Banana2", f'    prompt: "still {step} [[fault:{fault}]]"']
    lines += ["  after_bad: {kind: concat, inputs: [good1, d_type]}"]
    return "\n".join(lines) + "\n"


# what each step must end as, and words its reason must carry (the server's own, where it gave any)
EXPECTED = {
    "good1": ("completed", ""), "good2": ("completed", ""), "still": ("completed", ""), "cut": ("completed", ""),
    "c_malformed": ("unknown", "without a task id"),
    "c_html": ("unknown", "502 Bad Gateway"),
    "c_200err": ("unknown", "invalid upstream signature"),
    "q_200err": ("failed", "无可用渠道"),
    "q_missing": ("failed", "without a task status"),
    "q_types": ("failed", "without a task status"),
    "q_malformed": ("failed", "gave up after"),
    "q_html": ("failed", "gave up after"),
    "t_nourl": ("failed", "no output file for this task"),
    "t_fileurl": ("completed", ""),  # file:// is never read: the client falls back to /content
    "t_evil": ("completed", ""),  # stored by content hash whatever the URL and headers say
    "d_type": ("failed", "Sign in - Corporate Proxy"),
    "d_big": ("failed", "over the limit"),
    "d_loop": ("failed", "redirect loop"),
    "i_nourl": ("failed", "completed without an output URL"),
    "i_type": ("failed", "expected image/"),
    "i_200err": ("failed", "无可用渠道"),
    "after_bad": ("blocked", ""),
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bad")
    (root / ".omniflow").mkdir()
    h = Harness(root)
    path = h.write("bad.yaml", _pipeline())
    canary = root / "etc-passwd-canary"
    result = h.run(path, keep_going=True, jobs=8,
                   config=Config(poll_deadline=300.0, max_download_bytes=2 * 1024 * 1024))
    steps = {s.id: s for s in result.plan.variants[0].steps}
    outcomes = {sid: result.outcomes[ps.step.key] for sid, ps in steps.items()}
    return h, root, result, outcomes, steps, canary


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_each_bad_answer_is_a_typed_error_on_its_step(bad_run, step: str) -> None:
    _, _, _, outcomes, _, _ = bad_run
    state, words = EXPECTED[step]
    out = outcomes[step]
    assert out.state == state, (step, out.state, out.reason)
    assert words in out.reason, (step, out.reason)
    assert "Traceback" not in out.reason


def test_a_server_that_keeps_answering_html_is_quoted_when_the_step_gives_up(bad_run) -> None:
    _, _, _, outcomes, _, _ = bad_run
    assert "Sign in - Corporate Proxy" in outcomes["q_html"].reason


def test_no_partial_file_enters_the_cache_and_only_good_steps_have_entries(bad_run) -> None:
    h, root, result, outcomes, steps, _ = bad_run
    assert cache_is_clean(root) == []
    cache = Cache(root / ".omniflow")
    keys = {e.key for e in cache.entries()}
    good = {sid for sid, (state, _) in EXPECTED.items() if state == "completed"}
    assert keys == {steps[sid].step.key for sid in good}
    for entry in cache.entries():
        for info in entry.outputs:
            assert cache.object_path(info.sha256).name.startswith(info.sha256)
    # the padding of download_too_big and the login page are nowhere in the cache
    objects = [p for p in (root / ".omniflow").rglob("*") if p.is_file() and p.stat().st_size > 2 * 1024 * 1024]
    assert objects == []
    assert result.exit_code == 1


def test_server_chosen_names_and_paths_never_escape(bad_run) -> None:
    h, root, _, outcomes, steps, _ = bad_run
    assert not Path("/tmp/omniflow-escape.mp4").exists()
    assert not any(p.name == "omniflow-escape.mp4" or p.name == "passwd" for p in root.rglob("*"))
    cache = Cache(root / ".omniflow")
    entry = cache.get_entry(steps["t_evil"].step.key)
    assert entry is not None and entry.outputs[0].media_type == "video/mp4"
    file_entry = cache.get_entry(steps["t_fileurl"].step.key)
    assert file_entry is not None
    data = cache.object_path(file_entry.outputs[0].sha256).read_bytes()
    assert data != Path("/etc/passwd").read_bytes() and data[4:8] == b"ftyp"
    # outputs/ copies are named by step, never by the server
    out_names = {p.name for p in (root / "outputs").rglob("*") if p.is_file()}
    assert "t_evil.mp4" in out_names and not any(".." in n or n == "passwd" for n in out_names)


def test_the_emulator_really_misbehaved(bad_run) -> None:
    h = bad_run[0]
    faults = h.stats()["faults"]
    for name in set(VIDEO_FAULTS.values()) | set(IMAGE_FAULTS.values()):
        assert faults.get(name, 0) >= 1, (name, faults)
    # creates whose answers were garbage were never re-sent
    assert set(h.stats()["create_bodies"].values()) == {1}
    assert json.dumps(h.stats())  # stats stay JSON
