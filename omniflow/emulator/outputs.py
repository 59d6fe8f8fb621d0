"""Task outputs: find the reference image, render off the event loop, cache the bytes.

Reference images are read only from the emulator's own storage (uploads,
image outputs, other tasks' videos); any other host is never fetched, and the
frame shows a placeholder naming the URL instead.
"""

from __future__ import annotations

from typing import Any

from omniflow.core import catalog
from omniflow.core.keys import sha256_hex
from omniflow.emulator.lifecycle import Task
from omniflow.emulator.state import EmulatorState, Stored

MAX_IMAGES = 4  # `n` on the image route is clamped to this


def image_count(task: Task) -> int:
    n = task.body.get("n", 1)
    return max(1, min(MAX_IMAGES, n)) if isinstance(n, int) and not isinstance(n, bool) else 1


def image_name(task: Task, index: int) -> str:
    return f"{task.id}-{index}.png"


def image_file(state: EmulatorState, name: str) -> tuple[Task, int] | None:
    """The image task and output index an :func:`image_name` stands for, or None."""
    stem, dot, ext = name.rpartition(".")
    task_id, dash, index = stem.rpartition("-")
    if ext != "png" or not dot or not dash or not index.isdigit():
        return None
    task = state.tasks.get(task_id)
    if task is None or task.kind != "image" or int(index) >= image_count(task):
        return None
    return task, int(index)


def _first_reference_url(body: Any) -> str | None:
    images = body.get("images")
    if isinstance(images, list) and images and isinstance(images[0], str):
        return images[0]
    for key in ("firstframe", "image"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


async def _lookup(state: EmulatorState, task: Task, url: str, depth: int) -> Stored | None:
    """Bytes behind one of the emulator's own URLs, or None."""
    own = state.own_resource(url, task.origin)
    if own is None:
        return None
    where, name = own
    if where == "upload":
        return state.uploads.get(name)
    if depth > 4:  # a chain of outputs referencing outputs: stop somewhere
        return None
    if where == "file":
        found = image_file(state, name)
        if found is None or state.view(found[0]).status != "SUCCESS":
            return None
        return Stored(await render(state, *found, depth + 1), "image/png")
    other = state.tasks.get(name)
    if other is None or other.kind != "video" or state.view(other).status != "SUCCESS":
        return None
    return Stored(await render(state, other, 0, depth + 1), "video/mp4")


async def render(state: EmulatorState, task: Task, index: int = 0, depth: int = 0) -> bytes:
    """The task's output bytes (video, or image number ``index``), rendered once."""
    from omniflow.emulator import media

    url = _first_reference_url(task.body)
    reference = None
    if url is not None:
        stored = await _lookup(state, task, url, depth)
        reference = media.Reference(url, stored.data if stored else None, stored.media_type if stored else "")
    ref_digest = sha256_hex(reference.data) if reference and reference.data else (url or "")
    key = state.render_key(task, index, ref_digest)
    cached = state.rendered.get(key)
    if cached is not None:
        return cached
    async with state.render_lock(key):
        cached = state.rendered.get(key)
        if cached is not None:
            return cached
        data = await _render_in_thread(state, task, index, reference)
        state.remember_render(key, data)
        return data


async def _render_in_thread(state: EmulatorState, task: Task, index: int, reference: Any) -> bytes:
    import anyio

    from omniflow.emulator import media

    if task.kind == "music":
        return await anyio.to_thread.run_sync(_song_file, state, task, index, limiter=state.render_limiter())
    model = catalog.get_model(task.model)
    assert model is not None  # tasks are only made for catalogue models
    width, height = state.output_size(model, task.body)
    prompt = str(task.body.get("prompt", ""))
    seed = state.config.seed
    if task.kind == "video":
        seconds_text = task.body.get("seconds")
        seconds = float(seconds_text) if isinstance(seconds_text, str) and _is_number(seconds_text) else 5.0
        shots = tuple(catalog.multi_prompt_shots(dict(task.body)))
        from omniflow.emulator.validation import audio_requested

        spec = media.VideoSpec(prompt, model.id, seconds, width, height, state.config.fps, seed, shots, reference,
                               audio=audio_requested(task.body), take=task.take)
        return await anyio.to_thread.run_sync(media.render_video, spec, limiter=state.render_limiter())
    image = media.ImageSpec(prompt, model.id, width, height, seed, index, reference, take=task.take)
    return await anyio.to_thread.run_sync(media.render_image, image, limiter=state.render_limiter())


def _is_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _song_file(state: EmulatorState, task: Task, index: int) -> bytes:
    """A Suno clip: index 0 and 1 are the two clips' MP3s, 2 and 3 their cover images (PNG)."""
    from omniflow.emulator import media, sound, suno
    from omniflow.media.audio import encode

    clip = index % suno.CLIPS
    text = "|".join(str(task.body.get(k) or "") for k in ("gpt_description_prompt", "prompt", "title", "tags", "mv", "make_instrumental"))
    if index >= suno.CLIPS:
        spec = media.ImageSpec(suno.title(task.body), "suno", 160, 160, state.config.seed, clip, take=task.take)
        return media.render_image(spec)
    seconds = suno.clip_seconds(state.config.music_seconds, clip)
    samples = sound.music_audio(media.take_seed(state.config.seed, task.take), text, seconds, clip)
    return encode(samples, "mp3", sound.MUSIC_RATE, mono=False)
