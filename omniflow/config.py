"""Project configuration: ``omniflow.toml`` or ``[tool.omniflow]`` in pyproject.toml.

Read from the project root (see :func:`omniflow.store.find_root`). Example::

    # omniflow.toml
    [prices]                       # by model: per generated second (video), per image (image)
    "Kling-3.0-omni-1080p" = 0.10
    "Veo-3.1-1080p" = 0.40

    [limits]                       # tasks in flight per model (the global cap is -j)
    "Veo-3.1-1080p" = 4

    [run]
    poll_deadline = 7200           # seconds before a task is given up on
    max_download_bytes = 2147483648

    [remote]
    url = "s3://bucket/prefix"     # shared cache (omniflow push / pull)
    endpoint_url = "http://127.0.0.1:5000"   # optional, for S3-compatible stores

    [publish]
    url = "s3://bucket/published"  # where local inputs go for remote steps
    expires = 86400                # presigned URL lifetime, seconds

    [inputs]                       # local files steps reference (they are uploaded to a third party)
    allow_outside = false          # true: files outside the project folder may be used
    max_image_bytes = 52428800     # size caps, checked before a byte is hashed
    max_video_bytes = 2147483648
    max_audio_bytes = 536870912

    [mcp]                          # `omniflow mcp`, the server coding agents drive
    max_cost = 5.0                 # cap on the cost of runs it starts, per project and UTC day

Secrets never live here: API keys come from the environment, bucket
credentials from the standard AWS environment and files.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omniflow.errors import UsageError

_SECRET_HINTS = ("api_key", "apikey", "secret", "token", "password", "aws_secret_access_key")


@dataclass(frozen=True)
class InputsConfig:
    """``[inputs]``: which local files a step may reference, and how big each may be.

    Whatever a step references is uploaded to a third party, so a file outside
    the project folder (an absolute path, ``../``, a symlink leading out) is
    refused unless ``allow_outside``. The caps are per media a field takes: the
    API reference documents no byte limit for reference images (only counts and
    formats), so 50 MiB is far above any photo and far below what hurts to read;
    videos get the download cap's 2 GiB.
    """

    allow_outside: bool = False
    max_image_bytes: int = 50 * 1024**2
    max_video_bytes: int = 2 * 1024**3
    max_audio_bytes: int = 512 * 1024**2

    def max_bytes(self, media: str) -> int:
        """The cap for a field taking ``media`` ("image", "video" or "audio")."""
        return {"image": self.max_image_bytes, "video": self.max_video_bytes}.get(media, self.max_audio_bytes)


_INPUT_KEYS = ("allow_outside", "max_image_bytes", "max_video_bytes", "max_audio_bytes")


@dataclass(frozen=True)
class McpConfig:
    """``[mcp]``: what the MCP server (omniflow.mcp) lets an agent spend.

    ``max_cost`` caps the summed estimated cost of every run the server starts
    in this project on one UTC day, the asked-for run included, whatever the
    agent passes; None leaves only the approval of a saved plan's digest.
    """

    max_cost: float | None = None


_MCP_KEYS = ("max_cost",)


@dataclass(frozen=True)
class Config:
    prices: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    poll_deadline: float = 6 * 3600.0
    download_deadline: float = 3600.0  # seconds for a whole download, every try included
    retry_attempts: int = 8  # tries per request in total (creates only on proof no task was made)
    max_download_bytes: int = 2 * 1024**3
    remote_url: str | None = None
    remote_endpoint: str | None = None
    publish_url: str | None = None
    publish_expires: int = 86400
    inputs: InputsConfig = field(default_factory=InputsConfig)
    mcp: McpConfig = field(default_factory=McpConfig)
    source: Path | None = None

    def price(self, model: str | None) -> float | None:
        """The table's number for ``model``; what a request costs is omniflow.planning.cost's to say."""
        return self.prices.get(model) if model else None


def load_config(root: Path) -> Config:
    """The configuration of the project at ``root`` (defaults when there is none)."""
    path = root / "omniflow.toml"
    data: Mapping[str, Any] = {}
    if path.is_file():
        data = _read_toml(path)
    else:
        pyproject = root / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject).get("tool", {}).get("omniflow", {})
            path = pyproject
        else:
            return Config()
    _refuse_secrets(data, path)
    try:
        run = data.get("run", {})
        remote = data.get("remote", {})
        publish = data.get("publish", {})
        return Config(
            prices=_prices(data.get("prices", {}), path),
            limits={str(k): int(v) for k, v in data.get("limits", {}).items()},
            poll_deadline=float(run.get("poll_deadline", Config.poll_deadline)),
            download_deadline=float(run.get("download_deadline", Config.download_deadline)),
            retry_attempts=max(1, int(run.get("retry_attempts", Config.retry_attempts))),
            max_download_bytes=int(run.get("max_download_bytes", Config.max_download_bytes)),
            remote_url=remote.get("url"),
            remote_endpoint=remote.get("endpoint_url"),
            publish_url=publish.get("url"),
            publish_expires=int(publish.get("expires", Config.publish_expires)),
            inputs=_inputs(data.get("inputs", {}), path),
            mcp=_mcp(data.get("mcp", {}), path),
            source=path,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: invalid omniflow configuration: {exc}") from None


def _prices(table: Any, path: Path) -> dict[str, float]:
    """model -> price (per second for video models, per image for image ones; omniflow.planning.cost)."""
    out = {}
    for model, value in dict(table).items():
        price = float(value)
        if not price >= 0 or price == float("inf"):
            raise UsageError(f"{path}: prices.{model}: a price must be a number >= 0, not {value!r}")
        out[str(model)] = price
    return out


def _strict_table(table: Any, section: str, known: tuple[str, ...] | list[str], path: Path) -> None:
    """A table whose every key is known: a typo would silently keep a default (a cap, a refusal)."""
    if not isinstance(table, Mapping):
        raise UsageError(f"{path}: {section} must be a table ([{section}])")
    for key in table:
        if key not in known:
            near = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (keys: {', '.join(known)})"
            raise UsageError(f"{path}: {section}.{key}: unknown setting{hint}")


def _inputs(table: Any, path: Path) -> InputsConfig:
    """``[inputs]``, strictly: a typo here would silently keep the default (and a refusal)."""
    _strict_table(table, "inputs", _INPUT_KEYS, path)
    allow = table.get("allow_outside", False)
    if not isinstance(allow, bool):
        raise UsageError(f"{path}: inputs.allow_outside must be true or false, not {allow!r}")
    caps = {}
    for key in _INPUT_KEYS[1:]:
        value = table.get(key, getattr(InputsConfig, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{path}: inputs.{key} must be a whole number of bytes >= 1, not {value!r}")
        caps[key] = value
    return InputsConfig(allow_outside=allow, **caps)


def _mcp(table: Any, path: Path) -> McpConfig:
    """``[mcp]``, strictly: a misspelt cap would silently be no cap at all."""
    _strict_table(table, "mcp", _MCP_KEYS, path)
    value = table.get("max_cost")
    if value is None:
        return McpConfig()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise UsageError(f"{path}: mcp.max_cost must be a number >= 0, not {value!r}")
    return McpConfig(max_cost=float(value))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _refuse_secrets(data: Mapping[str, Any], path: Path) -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if any(h in str(k).lower() for h in _SECRET_HINTS):
                    raise UsageError(
                        f"{path}: {where}{k}: secrets do not belong in configuration files; "
                        "set OMNIROUTERS_API_KEY / AWS credentials in the environment"
                    )
                walk(v, f"{where}{k}.")

    walk(data, "")
