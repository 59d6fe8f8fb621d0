"""Publishing local files (frames, assets) as http(s) URLs a remote step can use.

A publisher is a small strategy object, so a bucket publisher (design §7,
``publish: s3://bucket/prefix``) plugs into the client without touching it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from omniflow.errors import PublishError

UPLOAD_ROUTE = "/_emulator/uploads"



class Publisher(Protocol):
    async def publish(self, path: Path, media_type: str) -> str: ...


# (route, raw bytes, content type) -> decoded JSON answer
PostBytes = Callable[[str, bytes, str], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class EmulatorPublisher:
    """Uploads to the emulator's own route, which serves the bytes back over http."""

    post: PostBytes

    async def publish(self, path: Path, media_type: str) -> str:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PublishError(f"cannot publish {path}: {exc.strerror or exc}") from None
        answer = await self.post(UPLOAD_ROUTE, data, media_type)
        url = answer.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PublishError(f"cannot publish {path}: the emulator's upload answer has no http(s) url")
        return url


@dataclass(frozen=True)
class NoPublisher:
    """The fallback: explain why nothing can be published and what to configure."""

    reason: str

    async def publish(self, path: Path, media_type: str) -> str:
        raise PublishError(f"cannot publish {path}: {self.reason}")
