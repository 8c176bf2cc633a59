"""Claim-check pointer events (docs/kinesis.md, "Oversize events") -> the whole event they point at.

A pointer event is an event without `data`/`old`/`query`/`sql`/`columns`, plus `"claim_check": {"uri": "s3://b/k",
"bytes": N}`; the streamer wrote the whole event's JSON (N bytes) to that object. `resolve` fetches it through an
injectable `fetch(uri) -> bytes` (default: `s3_fetch`, a boto3 S3 client created on first use and kept for the
life of the Lambda container) and checks it: a failed fetch, a size other than N, a body that is not an event, or
an event other than the one the pointer names is a `ClaimCheckFailed` (an `InvalidEvent`) with the reason.

The Lambda role needs `s3:GetObject` on the claim-check prefix only: a pointer can name any URI, so the role is
what keeps the transform from reading anything else. Local delivery (`cdc-lake deliver --endpoint-url/--region`)
points `s3_fetch` at its own S3 endpoint with `use_endpoint`; the Lambda never calls it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .flatten import InvalidEvent, parse_event, show

Fetch = Callable[[str], bytes]

_CLIENT_OPTIONS: dict[str, str] = {}  # boto3.client("s3", ...) options of `s3_fetch`; empty: the defaults

# Fields that identify an event; the fetched event must agree with its pointer on each.
IDENTITY = ("database", "table", "type", "position", "xoffset")


class ClaimCheckFailed(InvalidEvent):
    """The pointer's object could not be fetched, or is not the event the pointer names."""


def is_pointer(event: dict[str, Any]) -> bool:
    return "claim_check" in event


def resolve(event: dict[str, Any], fetch: Fetch) -> dict[str, Any]:
    """The whole event a pointer event stands for (parsed like any event)."""
    uri, size = _claim(event)
    try:
        body = fetch(uri)
    except Exception as error:  # noqa: BLE001 - any fetch failure fails this record only, with its reason
        raise ClaimCheckFailed(
            f"claim-check fetch of {uri} failed: {type(error).__name__}: {_one_line(error)}"
        ) from None
    if not isinstance(body, bytes | bytearray):
        raise ClaimCheckFailed(f"claim-check fetch of {uri} returned {type(body).__name__}, not bytes")
    if len(body) != size:
        raise ClaimCheckFailed(f"claim-check object {uri} is {len(body)} bytes, the pointer says {size}")
    try:
        whole = parse_event(bytes(body))
    except InvalidEvent as error:
        raise ClaimCheckFailed(f"claim-check object {uri}: {error.reason}") from None
    if is_pointer(whole):
        raise ClaimCheckFailed(f"claim-check object {uri} is itself a pointer event")
    for field in IDENTITY:
        if whole.get(field) != event.get(field):
            raise ClaimCheckFailed(
                f"claim-check object {uri} holds another event: {field} is {show(whole.get(field))}, "
                f"the pointer says {show(event.get(field))}"
            )
    return whole


def s3_fetch(uri: str) -> bytes:
    """GetObject through a boto3 client created on first use (boto3 is in the Lambda runtime)."""
    bucket, key = split_s3_uri(uri)
    body: bytes = _s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); anything else is a `ClaimCheckFailed`."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ClaimCheckFailed(f"claim_check.uri must be s3://bucket/key, got {show(uri)}")
    return bucket, key


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:500]


def use_endpoint(endpoint_url: str | None = None, region: str | None = None) -> None:
    """Make `s3_fetch` use this S3 endpoint and region (None: boto3's defaults, AWS_ENDPOINT_URL included)."""
    _CLIENT_OPTIONS.clear()
    if endpoint_url:
        _CLIENT_OPTIONS["endpoint_url"] = endpoint_url
    if region:
        _CLIENT_OPTIONS["region_name"] = region
    _s3_client.cache_clear()


@functools.cache
def _s3_client() -> Any:
    import boto3

    return boto3.client("s3", **_CLIENT_OPTIONS)


def _claim(event: dict[str, Any]) -> tuple[str, int]:
    claim = event.get("claim_check")
    if type(claim) is not dict:
        raise ClaimCheckFailed("field 'claim_check' must be an object with 'uri' and 'bytes'")
    uri = claim.get("uri")
    size = claim.get("bytes")
    if type(uri) is not str:
        raise ClaimCheckFailed("field 'claim_check.uri' must be a string such as s3://bucket/key")
    split_s3_uri(uri)
    if type(size) is not int or size < 0:
        raise ClaimCheckFailed(f"field 'claim_check.bytes' must be a non-negative integer, got {show(size)}")
    return uri, size
