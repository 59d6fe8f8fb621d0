"""How a HEAD answer is judged (pure: no bucket), and hashing with a limit."""

from __future__ import annotations

import hashlib

import pytest

from omniflow.remote.integrity import (
    BAD,
    DOUBT,
    GOOD,
    SINGLE_PUT_LIMIT,
    Digests,
    hash_chunks,
    judge_bytes,
    judge_head,
    sha256_b64,
    stamp,
)

DATA = b"frames" * 1000
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()
OTHER = hashlib.sha256(b"other").hexdigest()


def head(**kw: object) -> dict[str, object]:
    return {"ContentLength": len(DATA), "ETag": f'"{MD5}"', "Metadata": {}, **kw}


@pytest.mark.parametrize(("answer", "state", "words"), [
    (head(ContentLength=len(DATA) - 1), BAD, "5999 bytes, its entry records 6000"),
    (head(ChecksumSHA256=sha256_b64(SHA)), GOOD, ""),
    (head(ChecksumSHA256=sha256_b64(OTHER)), BAD, "SHA-256 checksum"),
    # the store's checksum decides even against a stamp that claims otherwise
    (head(ChecksumSHA256=sha256_b64(OTHER), Metadata={"sha256": SHA, "md5": MD5}), BAD, "checksum"),
    (head(ChecksumSHA256=sha256_b64(SHA) + "-3"), DOUBT, ""),  # a checksum of parts: no proof
    (head(Metadata={"sha256": SHA, "md5": MD5}), GOOD, ""),
    (head(Metadata={"SHA256": SHA, "Md5": MD5}), GOOD, ""),  # metadata names are case-insensitive
    (head(Metadata={"sha256": OTHER, "md5": MD5}), BAD, "recorded sha256"),
    (head(Metadata={"sha256": SHA, "md5": "0" * 32}), DOUBT, ""),  # rewritten since, or an SSE ETag
    (head(Metadata={"sha256": SHA}), DOUBT, ""),
    (head(), DOUBT, "no checksum"),
    (head(ChecksumCRC32="ksWq1g=="), DOUBT, ""),  # boto3's default checksum: not the name's digest
])
def test_judge_head(answer: dict[str, object], state: str, words: str) -> None:
    verdict = judge_head(answer, SHA, len(DATA))
    assert verdict.state == state
    assert words in verdict.reason


def test_a_multipart_object_past_the_single_put_limit_is_trusted_on_size_and_recorded_sha() -> None:
    big = SINGLE_PUT_LIMIT + 1
    answer = {"ContentLength": big, "ETag": '"abc-700"', "Metadata": {"sha256": SHA}}
    assert judge_head(answer, SHA, big).state == GOOD
    assert judge_head({**answer, "Metadata": {}}, SHA, big).state == DOUBT


def test_hash_chunks_stops_past_the_limit() -> None:
    chunks = [DATA[:4000], DATA[4000:], b"more"]
    assert hash_chunks(chunks[:2]) == Digests(SHA, MD5, len(DATA))
    assert hash_chunks(chunks, limit=len(DATA)).size == len(DATA) + 1
    assert judge_bytes(hash_chunks(chunks, limit=len(DATA)), SHA, len(DATA)).reason == (
        "it holds more than the 6000 bytes its entry records")
    assert judge_bytes(hash_chunks(chunks[:1]), SHA, len(DATA)).state == BAD
    assert judge_bytes(hash_chunks(chunks[:2]), SHA, len(DATA)).state == GOOD
    assert stamp(hash_chunks(chunks[:2])) == {"sha256": SHA, "md5": MD5}
