"""Publishing local inputs to a bucket: content-addressed upload, presigned GET URL with the configured lifetime."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from omniflow.config import load_config
from omniflow.errors import UsageError
from omniflow.remote import S3Publisher, make_publisher
from omniflow.store import read_lock
from tests.remote.conftest import Emulator, Project

HERO = Path(__file__).resolve().parents[2] / "pipelines" / "assets" / "hero.png"

ASSETS = """
omniflow: 1
name: assets
steps:
  wake:
    model: Vidu-q3-turbo-720p
    seconds: 2
    prompt: The lamp flickers on
    images: [assets/hero.png]
"""


def test_publish_uploads_by_sha256_and_returns_a_working_presigned_url(s3_endpoint: str, bucket: str) -> None:
    publisher = S3Publisher(f"s3://{bucket}/pub", s3_endpoint, expires=600)
    url = asyncio.run(publisher.publish(HERO, "image/png"))
    sha = hashlib.sha256(HERO.read_bytes()).hexdigest()
    parts = urlsplit(url)
    assert parts.path == f"/{bucket}/pub/{sha}.png"
    assert parse_qs(parts.query)["X-Amz-Expires"] == ["600"]
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.content == HERO.read_bytes()
    # without the signature the (private) bucket refuses
    assert httpx.get(url.split("?", 1)[0]).status_code == 403


def test_publishing_the_same_bytes_again_uploads_nothing(s3_endpoint: str, bucket: str, s3: Any) -> None:
    publisher = S3Publisher(f"s3://{bucket}/pub", s3_endpoint)
    asyncio.run(publisher.publish(HERO, "image/png"))
    sha = hashlib.sha256(HERO.read_bytes()).hexdigest()
    # mark the stored copy: a re-upload would replace the marker
    s3.put_object(Bucket=bucket, Key=f"pub/{sha}.png", Body=b"marker")
    url = asyncio.run(publisher.publish(HERO, "image/png"))
    assert httpx.get(url).content == b"marker"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_a_run_sends_presigned_bucket_urls_for_local_files(tmp_path: Path, s3_endpoint: str, bucket: str,
                                                           emulator: Emulator) -> None:
    project = Project(tmp_path / "p", f'[remote]\nendpoint_url = "{s3_endpoint}"\n'
                                      f'[publish]\nurl = "s3://{bucket}/pub"\nexpires = 3600\n')
    project.write("assets.yaml", ASSETS)
    (project.root / "pipelines" / "assets").mkdir()
    shutil.copy(HERO, project.root / "pipelines" / "assets" / "hero.png")
    publisher = make_publisher(load_config(project.root))
    assert isinstance(publisher, S3Publisher) and publisher.expires == 3600
    result = project.run("assets.yaml", emulator, publisher=publisher)
    assert result.exit_code == 0
    assert "POST /_emulator/uploads" not in emulator.stats()["routes"]
    lock = read_lock(project.root / "pipelines" / "assets.lock")
    assert lock is not None
    recorded = lock.step("", "wake").request["images"][0]  # type: ignore[union-attr]
    # the lock keeps where the file went, never the presigned token (a bearer secret)
    assert recorded.startswith(f"{s3_endpoint}/{bucket}/pub/") and "?" not in recorded
    assert httpx.get(recorded).status_code == 403  # unsigned: the bucket is private
    # what the API received was the presigned URL, and it serves the asset
    bodies = [t.body for t in emulator.app.state.emulator.tasks.values()]
    sent = next(b["images"][0] for b in bodies if b.get("images"))
    assert sent.startswith(recorded + "?") and "X-Amz-Expires=3600" in sent
    assert httpx.get(sent).content == HERO.read_bytes()


def test_missing_file_is_a_publish_error(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    from omniflow.backends.publish import PublishError

    with pytest.raises(PublishError, match="cannot publish"):
        asyncio.run(S3Publisher(f"s3://{bucket}/pub", s3_endpoint).publish(tmp_path / "nope.png", "image/png"))


@pytest.mark.parametrize("expires", [0, 8 * 24 * 3600])
def test_lifetime_outside_what_s3_allows_is_refused(expires: int) -> None:
    with pytest.raises(UsageError, match="7 days"):
        S3Publisher("s3://b/p", expires=expires)
