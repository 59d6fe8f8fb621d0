"""Publishing local files (frames, assets) to a bucket for remote steps (design §7).

``S3Publisher`` implements the backends' ``Publisher`` protocol: the file goes
to ``<publish url>/<sha256><ext>`` (content-addressed, so a file published
twice is uploaded once) and the answer is a presigned GET URL that lives
``expires`` seconds. The extension is kept because some providers judge an
input by the extension of its URL. The bucket can stay private: only the
presigned URL grants access, and only for the configured lifetime.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from omniflow.remote._s3 import check_bucket, guarded, guarded_or_none, make_client, parse_s3_url
from omniflow.store.cache import ext_for, hash_file

#: S3 refuses presigned URLs that live longer than 7 days (SigV4).
MAX_EXPIRES = 7 * 24 * 3600


class S3Publisher:
    """Uploads a local file under its sha256 (skipped if present); returns a presigned URL."""

    def __init__(self, url: str, endpoint_url: str | None = None, *, expires: int = 86400):
        from omniflow.errors import UsageError

        self.location = parse_s3_url(url, what="publish url")
        self.endpoint_url = endpoint_url or None
        if not 1 <= int(expires) <= MAX_EXPIRES:
            raise UsageError(f"publish expires {expires}: must be between 1 and {MAX_EXPIRES} seconds (7 days)")
        self.expires = int(expires)
        self._client: Any = None

    def __repr__(self) -> str:
        return f"S3Publisher({str(self.location)!r}, expires={self.expires})"

    def _get_client(self) -> Any:
        if self._client is None:
            client = make_client(self.endpoint_url)
            check_bucket(client, self.location, self.endpoint_url)
            self._client = client
        return self._client

    async def publish(self, path: Path, media_type: str) -> str:
        """An https (or the endpoint's scheme) URL serving ``path`` for ``expires`` seconds."""
        return await asyncio.to_thread(self.publish_sync, Path(path), media_type)

    def publish_sync(self, path: Path, media_type: str) -> str:
        from omniflow.errors import PublishError

        try:
            sha, _ = hash_file(path)
        except OSError as exc:
            raise PublishError(f"cannot publish {path}: {exc.strerror or exc}") from None
        name = self.location.key(sha + ext_for(media_type))
        client = self._get_client()
        bucket = self.location.bucket

        # same bytes already published (content-addressed): nothing to upload
        if guarded_or_none(lambda: client.head_object(Bucket=bucket, Key=name), self.location,
                           self.endpoint_url) is None:
            guarded(lambda: client.upload_file(str(path), bucket, name, ExtraArgs={"ContentType": media_type}),
                    self.location, self.endpoint_url)
        return guarded(
            lambda: client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": name}, ExpiresIn=self.expires
            ),
            self.location,
            self.endpoint_url,
        )
