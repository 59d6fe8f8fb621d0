"""Local input files (``images: [assets/hero.png]``): kept inside the project, capped, sniffed, hashed.

Whatever a step references is uploaded to a third party, so a file is
checked before its key is made, in this order, each failure one message:

1. it lies inside the project folder (``Pipeline.root``) once every symlink
   is followed, unless ``[inputs] allow_outside = true``: an absolute path,
   a ``../`` or a symlink that leads out is refused before the file is even
   opened;
2. it is a regular file (a folder, device or pipe is refused: ``/dev/zero``
   would be read forever, a FIFO would block);
3. its size, from ``fstat`` of the open file, is within the cap for what the
   field takes (``[inputs] max_image_bytes`` ...), so an oversized file is
   refused without reading a byte;
4. its first bytes are what the field takes (an image field gets PNG, JPEG
   or WebP bytes, whatever the name says), by :mod:`omniflow.media.sniff`;
5. it is hashed in 1 MiB reads, stopping at the cap should it grow meanwhile.

The key still holds only ``omniflow:file:<sha256>``: an asset inside the
project keeps the key it had before these checks existed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from omniflow.config import InputsConfig
from omniflow.media.sniff import AUDIO_TYPES, SNIFF_BYTES, describe_head, sniff_media_type

CHUNK = 1024 * 1024  # bytes per read while hashing: memory stays flat whatever the file's size

# media types each kind of field accepts (an audio bed may also be a clip's soundtrack)
ACCEPTS: Mapping[str, frozenset[str]] = {
    "image": frozenset({"image/png", "image/jpeg", "image/webp"}),
    "video": frozenset({"video/mp4"}),
    "audio": AUDIO_TYPES | {"video/mp4"},
}
_NAMES = {"image": "PNG, JPEG or WebP", "video": "MP4", "audio": "MP3, M4A, AAC, WAV, Ogg, FLAC or MP4"}
_NOUNS = {"image": "an image", "video": "a video", "audio": "a sound file"}
_CAP_KEYS = {"image": "max_image_bytes", "video": "max_video_bytes", "audio": "max_audio_bytes"}


@dataclass(frozen=True)
class Asset:
    """A local file that passed every check."""

    path: Path  # resolved: what is read and published
    sha256: str
    media_type: str
    size: int


@dataclass
class Assets:
    """Checks the local files of one load; each (file, media) is read once, however often referenced."""

    base_dir: Path  # relative references are relative to the pipeline's folder
    root: Path  # the project folder (Pipeline.root)
    rules: InputsConfig = field(default_factory=InputsConfig)
    # absolute path as written -> the file it resolved to, for the load memo (a retargeted symlink)
    refs: dict[str, str] = field(default_factory=dict)
    _done: dict[tuple[Path, str], Asset | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()  # once: every reference is compared with it

    def check(self, written: str, wants: str, field_name: str) -> Asset | str:
        """The checked file ``written`` names, or the message saying why it is refused."""
        if "\0" in written:  # a template can make one; the OS cannot take it
            return f"{written!r} is not a file name: it contains a NUL character"
        path = Path(written) if os.path.isabs(written) else self.base_dir / written
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # a loop (RuntimeError before 3.13), a lone surrogate
            return f"{written!r} cannot be resolved ({exc})"
        if not self.rules.allow_outside and not resolved.is_relative_to(self.root):
            return self._outside(written, resolved, self.root)
        got = self._done.get((resolved, wants))
        if got is None:
            got = self._done[(resolved, wants)] = self._read(written, path, resolved, wants, field_name)
        if isinstance(got, Asset):
            self.refs[str(path.absolute())] = str(resolved)
        return got

    def _outside(self, written: str, resolved: Path, root: Path) -> str:
        if os.path.isabs(written):
            why = "an absolute path"
        elif not self.base_dir.resolve().is_relative_to(root):
            why = "the pipeline itself is outside it"
        elif not Path(os.path.normpath(self.base_dir.resolve() / written)).is_relative_to(root):
            why = "'..' leads out of it"
        else:
            why = f"a symlink leads out of it, to {resolved}"
        where = str(root) if (root / ".omniflow").is_dir() else f"{root} (the working directory: no .omniflow folder above the pipeline)"
        fix = ("run omniflow from the project's folder or give the project a .omniflow folder (omniflow init)"
               if why.startswith("the pipeline") else "move the file into the project")
        return (f"{written!r} is outside the project folder {where}: {why}. Whatever a step references is "
                f"uploaded to a third party; {fix}, or set [inputs] allow_outside = true in omniflow.toml")

    def _read(self, written: str, path: Path, resolved: Path, wants: str, field_name: str) -> Asset | str:
        cap = self.rules.max_bytes(wants)
        try:
            # O_NONBLOCK: a FIFO put in a file's place must not block the open; a regular file ignores it
            fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return f"{written!r} is neither an http(s) URL nor an existing file (looked for {path})"
        except (OSError, ValueError) as exc:
            return f"{written!r} cannot be read: {getattr(exc, 'strerror', None) or exc}"
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            if stat.S_ISDIR(st.st_mode):
                return f"{written!r} is a folder, not a file"
            return f"{written!r} is not a regular file (a device, pipe or socket cannot be an input)"
        with os.fdopen(fd, "rb", buffering=0) as f:
            if st.st_size > cap:
                return (f"{written!r} is {st.st_size:,} bytes, over the {cap:,}-byte limit for {_article(wants)} "
                        f"input ([inputs] {_CAP_KEYS[wants]} in omniflow.toml)")
            head = f.read(SNIFF_BYTES)
            media_type = sniff_media_type(head)
            if media_type not in ACCEPTS[wants]:
                return (f"{written!r} is not {_NOUNS[wants]}: {_looks_like(head, media_type)}; "
                        f"{field_name} takes {_NAMES[wants]} files")
            digest, size = hashlib.sha256(head), len(head)
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := f.readinto(buf):
                size += n
                if size > cap:  # it grew while being read
                    return (f"{written!r} grew past the {cap:,}-byte limit for {_article(wants)} input while "
                            f"being read ([inputs] {_CAP_KEYS[wants]} in omniflow.toml)")
                digest.update(view[:n])
        return Asset(resolved, digest.hexdigest(), media_type, size)


def _article(wants: str) -> str:
    return ("an " if wants[0] in "aeiou" else "a ") + wants


def _looks_like(head: bytes, media_type: str | None) -> str:
    """What the refused bytes are, for the message: ``audio/mpeg``, ``text``, ``empty`` ..."""
    if media_type is not None:
        return f"its bytes are {media_type}"
    shown = describe_head(head)
    if shown == "empty":
        return "the file is empty"
    if shown in ("JSON", "HTML/XML"):
        return f"its bytes look like {shown}"
    if _is_text(head):
        return "its bytes look like text"
    return "its first bytes are " + head[:8].hex(" ")


def _is_text(head: bytes) -> bool:
    """UTF-8 without control characters (the head may end inside a character)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":
            return False
        text = head[: exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def open_regular(path: str) -> BinaryIO | None:
    """``path`` opened for reading if it is a regular file, else None (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")
