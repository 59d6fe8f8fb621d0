"""The S3 plumbing the remote cache and the publisher share: URLs, clients, errors.

boto3 is imported only here and only when a client is made, so ``omniflow
--help`` and every command that never talks to a bucket stay fast. Credentials
come from boto3's standard chain (environment, ``~/.aws`` files, SSO, instance
roles); omniflow never reads, stores or prints them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from omniflow.errors import RemoteError, UsageError

T = TypeVar("T")




@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix`` split in two; ``prefix`` has no leading or trailing slash."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_s3_url(url: str, *, what: str = "remote url") -> S3Location:
    """``s3://bucket/some/prefix`` -> S3Location; a clear UsageError for anything else."""
    text = (url or "").strip()
    if not text.startswith("s3://"):
        raise UsageError(f"{what} {url!r}: expected s3://bucket/prefix")
    bucket, _, prefix = text[len("s3://") :].partition("/")
    if not bucket or "/" in bucket:
        raise UsageError(f"{what} {url!r}: no bucket name (expected s3://bucket/prefix)")
    return S3Location(bucket, prefix.strip("/"))


def make_client(endpoint_url: str | None, *, max_attempts: int = 3, pool: int = 32) -> Any:
    """A thread-safe boto3 S3 client (one per RemoteCache / publisher, shared by its threads)."""
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError as exc:  # pragma: no cover - boto3 is a dependency
        raise RemoteError("the remote cache needs boto3 (pip install boto3)") from exc

    options: dict[str, Any] = {
        "retries": {"max_attempts": max_attempts, "mode": "standard"},
        "max_pool_connections": pool,
        "connect_timeout": 5,
        "read_timeout": 60,
        # SigV4 everywhere: required by most regions, and presigned URLs then
        # carry X-Amz-Expires (at most 7 days) instead of legacy SigV2 epochs.
        "signature_version": "s3v4",
    }
    if endpoint_url:
        # S3-compatible stores (MinIO, moto, R2...) at an address: never invent
        # bucket.<host> names that would need DNS.
        options["s3"] = {"addressing_style": "path"}
    session = boto3.session.Session()
    region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
    return session.client("s3", endpoint_url=endpoint_url or None, region_name=region,
                          config=BotoConfig(**options))


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ("404", "NoSuchKey", ...), else ""."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound")


def explain(exc: BaseException, where: S3Location, endpoint_url: str | None) -> RemoteError:
    """One line a person can act on, for any botocore failure."""
    from botocore import exceptions as bx

    place = f"{where}" + (f" at {endpoint_url}" if endpoint_url else "")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return RemoteError(
            f"no AWS credentials for {place}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE) in the environment; omniflow never stores them"
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        return RemoteError(f"cannot reach the remote {place}: {exc}")
    if isinstance(exc, bx.ReadTimeoutError):
        return RemoteError(f"the remote {place} did not answer in time")
    code = error_code(exc)
    if code in ("NoSuchBucket",):
        return RemoteError(f"bucket {where.bucket!r} does not exist ({place}); create it or fix [remote] url")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return RemoteError(f"access to {place} denied ({code}): check the AWS credentials and bucket policy")
    if isinstance(exc, bx.BotoCoreError | bx.ClientError):
        return RemoteError(f"remote {place}: {code or type(exc).__name__}: {exc}")
    return RemoteError(f"remote {place}: {exc}")


def guarded(call: Callable[[], T], where: S3Location, endpoint_url: str | None) -> T:
    """Run one boto3 call; any botocore failure becomes a one-line RemoteError."""
    from botocore import exceptions as bx

    try:
        return call()
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise explain(exc, where, endpoint_url) from None


def guarded_or_none(call: Callable[[], T], where: S3Location, endpoint_url: str | None) -> T | None:
    """Like :func:`guarded`, but None when S3 answers that the object is not there."""
    from botocore import exceptions as bx

    try:
        return call()
    except bx.ClientError as exc:
        if is_not_found(exc):
            return None
        raise explain(exc, where, endpoint_url) from None
    except bx.BotoCoreError as exc:
        raise explain(exc, where, endpoint_url) from None


def check_bucket(client: Any, where: S3Location, endpoint_url: str | None) -> None:
    """Fail early and clearly when the bucket is missing or unreachable.

    Without this a HEAD on an object of a missing bucket is a bare 404, which
    would read as "not in the remote" and silently regenerate everything.
    """
    from botocore import exceptions as bx

    try:
        client.head_bucket(Bucket=where.bucket)
    except bx.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise RemoteError(
                f"bucket {where.bucket!r} does not exist"
                + (f" at {endpoint_url}" if endpoint_url else "")
                + "; create it or fix the url in omniflow.toml"
            ) from None
        raise explain(exc, where, endpoint_url) from None
    except bx.BotoCoreError as exc:
        raise explain(exc, where, endpoint_url) from None
