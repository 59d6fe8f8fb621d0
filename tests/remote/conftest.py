"""A real S3 API on 127.0.0.1 (moto in server mode) and project folders on a fake clock.

The moto server is started once per session; each test gets dummy AWS
credentials in its environment (never the real ones: the credential files
and instance metadata are switched off) and a fresh bucket.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from omniflow.cli import cli
from omniflow.run import RunResult
from tests import support
from tests.support import CHAIN, Emulator

__all__ = ["CHAIN", "SWEEP", "Emulator", "Project", "omniflow"]

# 3 styles x 2 lengths x 2 moods = 12 variants. The keyframe depends on the
# style only, so each keyframe key is shared by 4 variants (likely across shards).
SWEEP = """
omniflow: 1
name: sweep
matrix:
  style: [film, anime, clay]
  seconds: [2, 4]
  mood: [calm, storm]
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "a lighthouse, {{ style }}"
  shot:
    model: Vidu-q3-turbo-720p
    seconds: "{{ seconds }}"
    prompt: "waves, {{ mood }}, {{ style }}"
    images: ["{{ steps.keyframe.url }}"]
"""


class Project(support.Project):
    """A project folder: pipelines/, omniflow.toml naming the remote, its own .omniflow/."""

    def run(self, name: str, emulator: Emulator, **kw: Any) -> RunResult:
        # Runs push to a configured remote by themselves; these tests push
        # explicitly (`omniflow push`) unless they ask for it.
        kw.setdefault("push", False)
        return self.run_on(emulator, name, **kw)

    def copy_to(self, dest: Path) -> Project:
        """A clone as git would give it: pipelines, locks and config, not .omniflow/."""
        shutil.copytree(self.root / "pipelines", dest / "pipelines")
        config = self.root / "omniflow.toml"
        return Project(dest, config.read_text(encoding="utf-8") if config.exists() else "")


def omniflow(cwd: Path, *args: str) -> Result:
    """The command line, run in ``cwd`` as a person would."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Dummy credentials only; no credential files, no instance metadata, no proxies."""
    nowhere = tmp_path_factory.mktemp("aws") / "absent"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("OMNIROUTERS_API_KEY", raising=False)
    monkeypatch.delenv("OMNIFLOW_BACKEND", raising=False)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A raw boto3 client on the moto server, for setting up and tampering."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                        config=__import__("botocore.config").config.Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"omniflow-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def remote_config(s3_endpoint: str, bucket: str) -> str:
    return f'[remote]\nurl = "s3://{bucket}/team"\nendpoint_url = "{s3_endpoint}"\n'


@pytest.fixture
def emulator() -> Emulator:
    return Emulator()


@pytest.fixture
def project(tmp_path: Path, remote_config: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path / "a", remote_config)
