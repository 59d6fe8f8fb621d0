"""The report's media folder: cache objects copied in under their content hash, plus poster frames.

Names are ``media/<sha256><ext>`` and ``media/<sha256>.poster.png`` (the
first frame of that video), so the folder is self-contained, can be zipped
or served anywhere, and a rebuild reuses every file already there: a file
whose name is its hash and whose size matches is the right file. Copies go
to a temp name and are renamed, so an interrupted build never leaves half a
clip under a good name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omniflow.errors import CacheError
from omniflow.store._atomic import copy_atomic
from omniflow.store.cache import ObjectInfo

MEDIA_DIR = "media"


def media_name(obj: ObjectInfo) -> str:
    """Relative link of an object inside the report folder."""
    return f"{MEDIA_DIR}/{obj.sha256}{obj.ext}"


def poster_name(obj: ObjectInfo) -> str:
    return f"{MEDIA_DIR}/{obj.sha256}.poster.png"


def is_video(obj: ObjectInfo) -> bool:
    return obj.media_type.startswith("video/")


class MediaFolder:
    """Copies objects from the cache into ``<out>/media`` and makes posters, once each."""

    def __init__(self, cache: Any, out: Path):
        self.cache = cache
        self.out = Path(out)
        self.copied = 0  # files written by this build (the rest were reused)
        self.reused = 0

    def add(self, obj: ObjectInfo) -> str:
        """Make sure the object (and its poster, for a video) is in the folder; its relative link."""
        rel = media_name(obj)
        dest = self.out / rel
        if dest.is_file() and dest.stat().st_size == obj.bytes:
            self.reused += 1
        else:
            src = self.cache.object_path(obj.sha256)
            if not src.is_file():
                raise CacheError(f"output {obj.sha256[:12]} is missing from the cache ({src}); "
                                 "run the pipeline again or `omniflow pull`")
            copy_atomic(src, dest)
            self.copied += 1
        if is_video(obj):
            self._poster(obj, dest)
        return rel

    def _poster(self, obj: ObjectInfo, video: Path) -> None:
        from omniflow.media import extract_frame

        dest = self.out / poster_name(obj)
        if dest.is_file() and dest.stat().st_size > 0:
            return
        extract_frame(video, "first", dest)  # writes atomically; PNG bytes are deterministic


