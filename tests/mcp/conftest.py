"""An MCP client session on `python -m omniflow mcp`, spawned by the SDK's own stdio client.

The server runs in a project folder against a served emulator (a real
process on 127.0.0.1), so what it creates is counted by the emulator's stats.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client

PIPELINE = """\
omniflow: 1
name: teaser
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  still:
    kind: image
    model: Nano-Banana2
    prompt: a lighthouse at dusk
  shot:
    prompt: the lamp comes on
    images: ["{{ steps.still.url }}"]
  last: {kind: frame, from: shot, at: last}
"""

PRICES = """\
[prices]
"Vidu-q3-turbo-720p" = 0.05
"Nano-Banana2" = 0.04
"""


def project(root: Path, *, config: str = PRICES, pipeline: str = PIPELINE) -> Path:
    (root / ".omniflow").mkdir(parents=True, exist_ok=True)
    (root / "omniflow.toml").write_text(config, encoding="utf-8")
    (root / "teaser.yaml").write_text(pipeline, encoding="utf-8")
    return root


def server_env(url: str, **extra: str) -> dict[str, str]:
    """What the server process gets: the emulator backend, explicitly; nothing of the test's OMNI* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIROUTERS_", "OMNIFLOW_"))}
    env.update({"OMNIFLOW_BACKEND": "emulator", "OMNIFLOW_EMULATOR_URL": url}, **extra)
    return env


@asynccontextmanager
async def connect(root: Path, env: dict[str, str], log: Path, *, project: Path | None = None) -> AsyncIterator[ClientSession]:
    """An initialized client session on a server started in ``root`` (``--project`` when given); stderr to ``log``."""
    args = ["-m", "omniflow", "mcp"] + (["--project", str(project)] if project is not None else [])
    params = StdioServerParameters(command=sys.executable, args=args, cwd=str(root), env=env)
    with log.open("a", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def data(result: Any) -> dict[str, Any]:
    """A successful tool result's structured content (the text block holds the same JSON)."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error(result: Any) -> str:
    """A tool error's one-line message."""
    assert result.is_error, result
    return result.content[0].text
