"""``omniflow init [DIR]``: scaffold a project that validates and runs on the emulator.

Besides the example storyboard and the configuration, it writes the two files
that put omniflow where a team already checks its work: a pre-commit config
whose local hooks are the ones this repository publishes (``.pre-commit-hooks.yaml``),
run by the project's own installed omniflow, and a GitHub Actions workflow that
installs omniflow from the one variable ``OMNIFLOW_PACKAGE``. Files that exist
are kept, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import click

from omniflow.cli._common import handles_errors
from omniflow.errors import UsageError

#: where init writes `omniflow schema`'s output; the example's modeline points at it relatively.
#: (The schema's $id, https://omniflow.dev/schemas/pipeline.schema.json, is an identifier only:
#: nothing serves it, so a modeline naming it would leave the editor without a schema.)
LOCAL_SCHEMA = "pipeline.schema.json"

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

PRE_COMMIT = """\
# pre-commit (https://pre-commit.com): `pip install pre-commit && pre-commit install`
# installs both hook types below. Written by `omniflow init`. The hooks are local:
# they run the `omniflow` this project already has installed (on the PATH where you
# run git), so they check with the very version that runs the pipelines. They are
# the hooks of omniflow's own .pre-commit-hooks.yaml, field for field.
default_install_hook_types: [pre-commit, pre-push]
repos:
  - repo: local
    hooks:
      # every commit: the pipeline files parse and check (no network, no API key)
      - id: omniflow-validate
        name: omniflow validate
        description: Check pipeline files (YAML, schemas, templates, graph) with `omniflow validate`.
        entry: omniflow validate
        language: system
        files: ^pipelines/.*\\.ya?ml$
        pass_filenames: true
        require_serial: false
      # every push: nothing in the pushed storyboards is left to generate, so the
      # team's cache and the committed locks cover them (exit 1 lists what would run)
      - id: omniflow-plan-check
        name: omniflow plan --check
        description: Fail when a pipeline has steps that its lock and the cache do not cover yet (`omniflow plan --check`).
        entry: sh -c 'status=0; for f in "$@"; do omniflow plan --check "$f" || status=1; done; exit $status' omniflow-plan-check
        language: system
        files: ^pipelines/.*\\.ya?ml$
        pass_filenames: true
        require_serial: true
        stages: [pre-push]
"""

WORKFLOW = """\
# Written by `omniflow init`. Pull requests that touch a pipeline are validated
# and planned (no API key needed: the plan is computed from the files). A run
# costs money, so it only happens when someone starts it by hand: Actions ->
# omniflow -> Run workflow, with the API key from the repository secret
# OMNIROUTERS_API_KEY (Settings -> Secrets and variables -> Actions). The key is
# handed to the one step that runs and never printed. With a shared cache
# ([remote] in omniflow.toml) add its credentials as secrets too; the run pushes
# what it made. A local input (a frame, an asset) needs [publish] for the real API.
name: omniflow

on:
  pull_request:
    paths:
      - "pipelines/**"
      - "omniflow.toml"
  workflow_dispatch:
    inputs:
      pipeline:
        description: Pipeline file to run
        required: true
        default: pipelines/example.yaml
      max_cost:
        description: Refuse the run before sending anything if the plan costs more (empty for no cap)
        required: false
        default: ""

permissions:
  contents: read

env:
  # Where your team gets omniflow; every job installs it from here. Set it to a
  # name and version on your package index ("omniflow[s3]==<version>"), a git
  # source ("omniflow[s3] @ git+<URL>@<tag>") or a wheel in the repository
  # ("./wheels/omniflow-<version>-py3-none-any.whl[s3]"). As written it fails on
  # PyPI, on purpose: the "omniflow" there is an unrelated project without a {version}.
  OMNIFLOW_PACKAGE: "{package}"

jobs:
  check:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    env:
      # plan with the keys and costs of the backend the team runs on
      OMNIFLOW_BACKEND: omnirouters
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install "$OMNIFLOW_PACKAGE"
      - name: Validate
        run: |
          shopt -s nullglob
          omniflow validate pipelines/*.yaml pipelines/*.yml
      - name: Plan (what a run would generate, and its cost)
        run: |
          shopt -s nullglob
          for f in pipelines/*.yaml pipelines/*.yml; do omniflow plan "$f"; done

  run:
    if: github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    # one paid run of a pipeline at a time; a second one waits instead of paying twice
    concurrency:
      group: omniflow-run-${{{{ inputs.pipeline }}}}
      cancel-in-progress: false
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install "$OMNIFLOW_PACKAGE"
      - name: Run
        env:
          OMNIROUTERS_API_KEY: ${{{{ secrets.OMNIROUTERS_API_KEY }}}}
          # inputs reach the shell as variables, never pasted into the script
          PIPELINE: ${{{{ inputs.pipeline }}}}
          MAX_COST: ${{{{ inputs.max_cost }}}}
        run: omniflow run "$PIPELINE" ${{MAX_COST:+--max-cost "$MAX_COST"}}
      - name: Keep the lock and the outputs
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: omniflow-run
          path: |
            pipelines/*.lock
            outputs/
          if-no-files-found: warn
"""

PRE_COMMIT_PATH = ".pre-commit-config.yaml"
WORKFLOW_PATH = ".github/workflows/omniflow.yml"

GITIGNORE_LINES = (".omniflow/", "outputs/")


def package() -> str:
    """The requirement the generated workflow installs until the team names its own source.

    The exact version of the omniflow that wrote it, with the s3 extra (a run pushes to
    the shared cache). Exact, so that an install from the wrong index fails: the unrelated
    PyPI project of the same name has no such version (today: 0.1 and 0.1.1 only).
    """
    return f"omniflow[s3]=={version('omniflow')}"


def integration_files() -> dict[str, str]:
    """The pre-commit config and the workflow, by path relative to the project."""
    return {
        PRE_COMMIT_PATH: PRE_COMMIT,
        WORKFLOW_PATH: WORKFLOW.format(package=package(), version=version("omniflow")),
    }


@dataclass(frozen=True)
class Scaffolded:
    """What ``scaffold`` did: files it wrote, and files it found and left as they were."""

    created: tuple[Path, ...]
    kept: tuple[Path, ...]


def scaffold(target: Path, *, local_schema: bool = False) -> Scaffolded:
    """Create the project files under ``target`` that do not exist yet.

    An existing file is the user's and is never overwritten, so ``init`` in an
    existing project only adds what is missing (e.g. the CI files after an
    upgrade). ``.gitignore`` gets its missing lines appended (never rewritten),
    since most projects already have one.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    from omniflow.language.editor_schema import text as schema_text

    del local_schema  # the schema is always written now; the flag is kept for older scripts
    files: dict[Path, str] = {
        target / "pipelines" / "example.yaml": EXAMPLE.format(schema=f"../{LOCAL_SCHEMA}"),
        target / "omniflow.toml": CONFIG,
        target / LOCAL_SCHEMA: schema_text(),
    }
    files.update({target / rel: text for rel, text in integration_files().items()})
    created: list[Path] = []
    kept: list[Path] = []
    (target / ".omniflow").mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="utf-8") as f:  # "x": never clobber, even in a race
                f.write(text)
        except FileExistsError:
            kept.append(path)
        else:
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
    return Scaffolded(tuple(created), tuple(kept))


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--local-schema", is_flag=True, hidden=True,
              help=f"Accepted for older scripts: {LOCAL_SCHEMA} is always written now.")
@handles_errors
def init(directory: str, local_schema: bool) -> None:
    """Scaffold a project: .omniflow/, pipelines/example.yaml, omniflow.toml, .gitignore,
    pipeline.schema.json (for editors), .pre-commit-config.yaml and .github/workflows/omniflow.yml.

    Never overwrites a file: existing ones are kept (and named); an existing
    .gitignore gets the missing lines appended.
    """
    target = Path(directory)
    done = scaffold(target, local_schema=local_schema)
    for path in done.created:
        click.echo(f"created {path}")
    for path in done.kept:
        click.echo(f"kept {path} (it exists; not overwritten)")
    click.echo(f"next: cd {target} && omniflow plan pipelines/example.yaml")
