"""Team scale: a shared remote cache, bucket publishing and sharded sweeps (design §6).

    remote = remote_for(config)            # RemoteCache | None (from [remote] in omniflow.toml)
    have = remote.has_many(keys)           # which keys the team already made
    remote.fetch(key, cache)               # pull one instead of regenerating it
    remote.push(cache, keys)               # share what this machine made
    publisher = make_publisher(config)     # S3Publisher | None (from [publish])
    i, n = parse_shard("2/4"); targets = select_shard(pipeline, i, n)

Importing this package is cheap: boto3 is imported only when a bucket is
actually used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omniflow.remote.shard import assign_shards, parse_shard, select_shard, shard_targets

if TYPE_CHECKING:
    from omniflow.config import Config
    from omniflow.remote.publish import S3Publisher
    from omniflow.remote.s3 import RemoteCache


def remote_for(config: Config) -> RemoteCache | None:
    """The remote cache ``[remote] url`` configures, or None when there is none."""
    if not config.remote_url:
        return None
    from omniflow.remote.s3 import RemoteCache

    return RemoteCache(config.remote_url, config.remote_endpoint)


def require_remote(config: Config) -> RemoteCache:
    """Like :func:`remote_for`, but a clear UsageError when nothing is configured."""
    remote = remote_for(config)
    if remote is None:
        from omniflow.errors import UsageError

        where = f" in {config.source}" if config.source else " (no omniflow.toml found)"
        raise UsageError(
            f"no remote cache configured{where}: add\n  [remote]\n  url = \"s3://bucket/prefix\"\n"
            "to omniflow.toml (and endpoint_url for S3-compatible stores)"
        )
    return remote


def make_publisher(config: Config) -> S3Publisher | None:
    """The bucket publisher ``[publish] url`` configures, or None when there is none.

    The endpoint is the remote's ``endpoint_url`` (one S3-compatible store per project).
    """
    if not config.publish_url:
        return None
    from omniflow.remote.publish import S3Publisher

    return S3Publisher(config.publish_url, config.remote_endpoint, expires=config.publish_expires)


def __getattr__(name: str) -> Any:
    # the heavy names on demand, so `import omniflow.remote` never imports boto3
    if name in ("RemoteCache", "PushReport", "PullReport", "HEAD_LIMIT"):
        from omniflow.remote import s3

        return getattr(s3, name)
    if name in ("RemoteError", "RemoteCorruptError"):  # defined with every public error
        from omniflow import errors

        return getattr(errors, name)
    if name in ("parse_s3_url", "S3Location"):
        from omniflow.remote import _s3

        return getattr(_s3, name)
    if name == "S3Publisher":
        from omniflow.remote.publish import S3Publisher

        return S3Publisher
    if name in ("prefetch", "FetchReport"):
        from omniflow.remote import sync

        return getattr(sync, name)
    raise AttributeError(name)


__all__ = [
    "FetchReport",
    "assign_shards",
    "PullReport",
    "PushReport",
    "RemoteCache",
    "RemoteCorruptError",
    "RemoteError",
    "S3Publisher",
    "make_publisher",
    "parse_shard",
    "prefetch",
    "remote_for",
    "require_remote",
    "select_shard",
    "shard_targets",
]
