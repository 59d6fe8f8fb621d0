"""``omniflow init [DIR]``: scaffold a project that validates and runs on the emulator."""

from __future__ import annotations

from pathlib import Path

import click

from omniflow.cli._common import handles_errors
from omniflow.errors import UsageError

#: what `omniflow schema` prints; its $id is the stable address editors can fetch
SCHEMA_URL = "https://omniflow.dev/schemas/pipeline.schema.json"
LOCAL_SCHEMA = "schemas/pipeline.schema.json"

EXAMPLE = """\
# yaml-language-server: $schema={schema}
#
# A two-shot storyboard: a keyframe image opens shot 1, the last frame of
# shot 1 opens shot 2, and the shots are joined. Try:
#   omniflow validate pipelines/example.yaml
#   omniflow plan pipelines/example.yaml
#   omniflow run pipelines/example.yaml      # on the embedded emulator by default
omniflow: 1
name: example
description: A lighthouse keeper in two chained shots

vars:
  hero: an old lighthouse keeper with a red scarf
  style: 35mm film, golden hour

defaults:
  video:
    model: Vidu-q3-turbo-720p
    seconds: 2
    input_region: Oversea

steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "{{{{ hero }}}} on a cliff at dusk, {{{{ style }}}}"
    aspect_ratio: "16:9"

  shot1:
    prompt: "{{{{ hero }}}} turns toward the sea, {{{{ style }}}}"
    images: ["{{{{ steps.keyframe.url }}}}"]

  shot1_end:
    kind: frame
    from: shot1
    at: last

  shot2:
    prompt: "The camera rises over the lighthouse as the lamp comes on, {{{{ style }}}}"
    images: ["{{{{ steps.shot1_end.url }}}}"]

  cut:
    kind: concat
    inputs: [shot1, shot2]
"""

CONFIG = """\
# omniflow project configuration. Secrets never go here: the API key comes
# from OMNIROUTERS_API_KEY, bucket credentials from the standard AWS
# environment and files. Uncomment what you need.

# [prices]                        # money per generated second, by model (plan shows cost)
# "Vidu-q3-turbo-720p" = 0.05
# "Kling-3.0-omni-1080p" = 0.10

# [limits]                        # tasks in flight per model (the global cap is -j)
# "Veo-3.1-1080p" = 4

# [run]
# poll_deadline = 7200            # seconds before a task is given up on

# [remote]                        # a cache shared with your team: omniflow push / pull
# url = "s3://my-bucket/omniflow"
# endpoint_url = "http://127.0.0.1:9000"   # only for S3-compatible stores (MinIO, R2, ...)

# [publish]                       # where local frames/assets go for remote steps on the real API
# url = "s3://my-bucket/published"
# expires = 86400                 # presigned URL lifetime, seconds (at most 7 days)
"""

GITIGNORE_LINES = (".omniflow/", "outputs/")


def scaffold(target: Path, *, local_schema: bool = False) -> list[Path]:
    """Create the project files under ``target``; returns them. Refuses to overwrite any file.

    ``.gitignore`` is the exception: an existing one gets the missing lines
    appended (never rewritten), since most projects already have one.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    schema_ref = f"../{LOCAL_SCHEMA}" if local_schema else SCHEMA_URL
    files: dict[Path, str] = {
        target / "pipelines" / "example.yaml": EXAMPLE.format(schema=schema_ref),
        target / "omniflow.toml": CONFIG,
    }
    if local_schema:
        from omniflow.core.catalog import schema_text

        files[target / LOCAL_SCHEMA] = schema_text("pipeline.schema.json")
    clash = [p for p in files if p.exists()]
    if clash:
        raise UsageError("refusing to overwrite " + ", ".join(str(p) for p in clash)
                         + " (omniflow init never replaces files; move them away or pick another folder)")
    created: list[Path] = []
    (target / ".omniflow").mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": never clobber, even in a race
            f.write(text)
        created.append(path)
    ignore = target / ".gitignore"
    existing = ignore.read_text(encoding="utf-8") if ignore.is_file() else None
    have = set((existing or "").split())
    missing = [line for line in GITIGNORE_LINES if line not in have]
    if missing:
        prefix = "" if not existing or existing.endswith("\n") else "\n"
        with open(ignore, "a", encoding="utf-8") as f:
            f.write(prefix + "# omniflow: local cache and materialized outputs\n" if existing is None
                    else prefix + "# omniflow\n")
            f.write("".join(line + "\n" for line in missing))
        if existing is None:
            created.append(ignore)
    return created


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--local-schema", is_flag=True,
              help=f"Copy the pipeline JSON Schema to {LOCAL_SCHEMA} and point the editor modeline at it "
                   "(default: the schema's URL).")
@handles_errors
def init(directory: str, local_schema: bool) -> None:
    """Scaffold a project: .omniflow/, pipelines/example.yaml, omniflow.toml, .gitignore.

    Never overwrites a file; an existing .gitignore gets the missing lines appended.
    """
    target = Path(directory)
    created = scaffold(target, local_schema=local_schema)
    for path in created:
        click.echo(f"created {path}")
    click.echo(f"next: cd {target} && omniflow plan pipelines/example.yaml")
