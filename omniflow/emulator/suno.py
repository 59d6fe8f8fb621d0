"""Suno tasks (API reference §16.4, §16.5): the lifecycle on the poller's tick and the bodies.

A Suno task is a :class:`~omniflow.emulator.lifecycle.Task` of kind ``music``
or ``lyrics`` (model ``suno_music`` / ``suno_lyrics``, from the path), so ids,
ownership, fault draws and ``/_emulator/tasks`` work as for videos. Only its
states differ: one step per 15 s tick (§16.7 item 5)::

    NOT_START -> SUBMITTED -> QUEUED -> IN_PROGRESS -> SUCCESS | FAILURE

progress ``"0%"`` until terminal, then ``"100%"``; lyrics finish on the first
tick. A task_timeout fault stays IN_PROGRESS until the task timeout, then
fails with the gateway's timeout reason. Pure functions of the task and time.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from omniflow.emulator.lifecycle import TIMEOUT_REASON, Schedule, Task, TaskView

STEPS = ("SUBMITTED", "QUEUED", "IN_PROGRESS")
CLIP_STATUS = {"SUBMITTED": "submitted", "QUEUED": "queued", "IN_PROGRESS": "streaming", "SUCCESS": "complete", "FAILURE": "error"}
QUOTA = {"music": 50_000, "lyrics": 5_000}  # $0.10 and $0.01 at 500 000 quota per dollar (§16.6)
CLIPS = 2  # a song request returns two clips (§16.7 item 6)
DEFAULT_MV = "chirp-v3-0"
# Failure reasons for the task_fail fault (emulator-chosen), picked per task by its fate.
FAIL_REASONS = (
    "Unable to generate music: the description was flagged by moderation",
    "generation failed, please try again",
    "upstream returned error",
)


def view(schedule: Schedule, task: Task, now: float) -> TaskView:
    """What ``GET /suno/fetch/{id}`` shows at ``now``."""
    first = schedule.first_pass_after(task.created)
    seen = schedule.last_pass(now)
    if seen < first:
        return TaskView("NOT_START", 0, task.created, 0.0, 0.0, "")
    passes = int(round((seen - first) / schedule.tick)) + 1  # passes seen, the first included
    done_at = 1 if task.kind == "lyrics" else len(STEPS) + 1
    start = first + (len(STEPS) - 1) * schedule.tick if task.kind == "music" else first
    finish = first + (done_at - 1) * schedule.tick
    timeout_pass = schedule.first_pass_at_or_after(task.created + schedule.timeout)
    if task.outcome == "timeout" or timeout_pass < finish:
        if seen >= timeout_pass:
            return TaskView("FAILURE", 100, timeout_pass, min(start, timeout_pass), timeout_pass, TIMEOUT_REASON)
    elif seen >= finish:
        if task.outcome == "success":
            return TaskView("SUCCESS", 100, finish, start, finish, "")
        return TaskView("FAILURE", 100, finish, start, finish, fail_reason(task))
    status = STEPS[min(passes, len(STEPS)) - 1] if task.kind == "music" else "IN_PROGRESS"
    return TaskView(status, 0, seen, start if seen >= start else 0.0, 0.0, "")


def fail_reason(task: Task) -> str:
    return FAIL_REASONS[int(task.fate[:8], 16) % len(FAIL_REASONS)]


def clip_id(task: Task, index: int) -> str:
    """A clip's id: a UUID fixed by the task's fate (Suno's clip ids are UUIDs)."""
    return str(uuid.UUID(hashlib.sha256(f"{task.fate}|clip|{index}".encode()).hexdigest()[:32]))


def clip_seconds(music_seconds: float, index: int) -> float:
    """Each clip of a song is its own take: the second is a tenth shorter (emulator-chosen)."""
    return round(music_seconds * (1 - 0.1 * index), 2)


def title(body: Any) -> str:
    given = body.get("title")
    if isinstance(given, str) and given.strip():
        return given.strip()
    words = str(body.get("gpt_description_prompt") or body.get("prompt") or "Untitled").split()
    return " ".join(words[:4]).title() or "Untitled"


def _clips(task: Task, v: TaskView, origin: str, music_seconds: float, audio_url: Any) -> list[dict[str, Any]]:
    body = task.body
    out = []
    for i in range(CLIPS):
        cid = clip_id(task, i)
        complete = v.status == "SUCCESS"
        meta: dict[str, Any] = {
            "tags": body.get("tags") or "",
            "prompt": body.get("prompt") or "",
            "gpt_description_prompt": body.get("gpt_description_prompt") or "",
            "type": "gen",
            "duration": clip_seconds(music_seconds, i) if complete else None,
        }
        if v.status == "FAILURE":
            meta["error_message"] = v.fail_reason
        out.append({
            "id": cid,
            "status": CLIP_STATUS.get(v.status, "submitted"),
            "title": title(body),
            "audio_url": audio_url(cid) if complete else "",
            "video_url": f"{origin}/_emulator/suno/{cid}.mp4" if complete else "",
            "image_url": f"{origin}/_emulator/suno/{cid}.png" if complete else "",
            "model_name": body.get("mv") or DEFAULT_MV,
            "metadata": meta,
            "created_at": int(task.created),
        })
    return out


def lyrics_text(body: Any) -> str:
    seed = str(body.get("prompt") or "")
    return f"[Verse]\n{seed}\n\n[Chorus]\n{seed.split('.')[0]}, {seed.split('.')[0]}"


def task_dto(task: Task, v: TaskView, origin: str, music_seconds: float, audio_url: Any) -> dict[str, Any]:
    """§16.4: the classic TaskDto inside ``{code, message, data}``; §6.2 key order and omissions."""
    if v.status == "NOT_START":
        data: Any = None
    elif task.kind == "lyrics":
        data = {"id": clip_id(task, 0), "status": CLIP_STATUS.get(v.status, "submitted"), "title": title(task.body),
                "text": lyrics_text(task.body) if v.status == "SUCCESS" else ""}
    else:
        data = _clips(task, v, origin, music_seconds, audio_url)
    model = f"suno_{task.kind}"
    dto: dict[str, Any] = {
        "id": task.row,
        "created_at": int(task.created),
        "updated_at": int(v.updated_at),
        "task_id": task.id,
        "platform": "suno",
        "user_id": task.user_id,
        "group": "default",
        "channel_id": 1,
        "quota": QUOTA[task.kind],
        "action": task.kind.upper(),
        "status": v.status,
        "fail_reason": v.fail_reason,
    }
    if v.fail_reason:
        dto["result_url"] = v.fail_reason  # the gateway never sets it: only the copy of fail_reason shows
    dto.update({
        "submit_time": int(task.created),
        "start_time": int(v.start_time),
        "finish_time": int(v.finish_time),
        "progress": "100%" if v.terminal else "0%",
        "properties": {"input": "", "upstream_model_name": model, "origin_model_name": model},
        "data": data,
    })
    return dto
