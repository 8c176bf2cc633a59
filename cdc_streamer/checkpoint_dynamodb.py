"""`--position-store dynamodb:TABLE[/KEY]`: the checkpoint in one DynamoDB item, guarded by a single-writer lease.

The table (the CDK app makes it) has partition key `pipeline` (S) and no sort key; KEY names the pipeline
(default `default`), so one table holds the checkpoints of many streamers. The item:

    pipeline          S  KEY
    file, offset      S, N  the checkpoint; `position` (S) repeats it as "file:offset" for people reading the table
    gtid, server_id   S, N  absent when unknown
    saved_at          S  ISO 8601 UTC, by the writer's clock
    owner             S  the lease holder, "host:pid:random"; absent while nobody holds the lease
    lease_expires_at  N  epoch seconds; the lease is free after it

Every lease step is one conditional write, so two streamers can never both believe they hold the lease:

    acquire  take it if the item or its owner is missing, the owner is us, or the lease expired;
             otherwise SourceUnusable (exit 3) naming the holder and when its lease expires
    renew    extend it, at most every lease_seconds / 3 (calls in between do nothing), only while it is ours;
             someone else's -> RuntimeFailure (exit 1): stop before writing anything more
    save     write the checkpoint and extend the lease, only while it is ours (lost -> RuntimeFailure); called
             without `acquire` (a one-off write) it writes only while nobody holds a live lease (else SourceUnusable)
    release  drop it if still ours; never raises, so a clean stop cannot fail on its way out

Timing, with the default 30 s lease: the holder extends it every 10 s, so a crashed streamer blocks its successor
for at most 30 s, and clocks that disagree by less than 20 s cannot let a successor in while the holder renews.
A renewal that fails for a transient reason (after botocore's own retries) is a warning while more than one
renewal interval of lease is left, and is tried again on the next call; after that the streamer stops
(RuntimeFailure), because it can no longer prove it holds the lease. A failed `save` always stops it: the stored
checkpoint stays at the previous transaction, so a restart re-sends instead of losing.

Errors are one line: a missing table, denied access or a wrong key schema is a ConfigError (exit 2); an
unreachable endpoint, or throttling that outlasted the retries, a RuntimeFailure (exit 1).
Region: AWS_REGION, else AWS_DEFAULT_REGION or the profile's, else us-east-1. Endpoint: botocore itself reads
AWS_ENDPOINT_URL_DYNAMODB, then AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from .checkpoint import Checkpoint
from .errors import CdcError, ConfigError, RuntimeFailure, SourceUnusable
from .position import BinlogPosition

log = logging.getLogger(__name__)

DEFAULT_KEY = "default"
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_REGION = "us-east-1"
FLAG = "--position-store (CDC_POSITION_STORE)"
# Every write is conditional on the owner, so botocore may safely resend one whose answer was lost.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 5})

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_DENIED = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)
_CHECKPOINT_ATTRIBUTES = frozenset({"file", "offset", "position"})

Item = dict[str, dict[str, Any]]


def parse_spec(argument: str) -> tuple[str, str]:
    """What follows `dynamodb:`, `TABLE` or `TABLE/KEY`, as (table, key)."""
    table, slash, key = argument.partition("/")
    if not _TABLE_NAME.match(table):
        raise ConfigError(
            f"{FLAG}: expected dynamodb:TABLE[/KEY] where TABLE is a DynamoDB table name "
            f"(3-255 letters, digits, _ . -), got {'dynamodb:' + argument!r}"
        )
    if slash and not key.strip():
        raise ConfigError(f"{FLAG}: the KEY after / is empty in {'dynamodb:' + argument!r}; give one or drop the /")
    return table, key if slash else DEFAULT_KEY


def owner_id() -> str:
    """Unique per process: host and pid for people, a random suffix so a reused pid is still someone else."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def resolve_region() -> str:
    try:
        return os.environ.get("AWS_REGION") or boto3.session.Session().region_name or DEFAULT_REGION
    except BotoCoreError as error:
        raise ConfigError(f"{FLAG}: cannot read the AWS configuration: {error}") from None


def open_client(region: str) -> Any:
    try:
        return boto3.session.Session().client("dynamodb", region_name=region, config=CLIENT_CONFIG)
    except (BotoCoreError, ValueError) as error:
        raise ConfigError(
            f"{FLAG}: cannot set up a DynamoDB client for region {region}: {error} "
            "(check AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, AWS_PROFILE)"
        ) from None


class _ConditionFailed(Exception):
    """A conditional write was refused; `item` is the item as it was (None when absent)."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("condition failed")
        self.item = item


class DynamoDBCheckpointStore:
    def __init__(
        self,
        table: str,
        key: str = DEFAULT_KEY,
        *,
        client: Any = None,
        region: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        owner: str | None = None,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        self.table = table
        self.key = key
        self.name = f"dynamodb:{table}/{key}"
        self.region = region or resolve_region()
        self.client = client if client is not None else open_client(self.region)
        self.lease_seconds = lease_seconds
        self.owner = owner or owner_id()
        self._clock = clock
        self._monotonic = monotonic
        self._held = False
        self._lost_message: str | None = None  # once lost, never write again (until a new acquire)
        self._expires_at = 0.0  # the expiry we last wrote (epoch seconds)
        self._written_at = -math.inf  # when we last wrote it (monotonic seconds)

    @classmethod
    def from_spec(cls, argument: str, **options: Any) -> DynamoDBCheckpointStore:
        table, key = parse_spec(argument)
        return cls(table, key, **options)

    @property
    def renew_interval(self) -> float:
        return self.lease_seconds / 3

    @property
    def held(self) -> bool:
        return self._held

    def __repr__(self) -> str:
        return f"DynamoDBCheckpointStore({self.name!r}, region={self.region!r}, owner={self.owner!r})"

    # -- CheckpointStore -------------------------------------------------------------------------------------------

    def load(self) -> Checkpoint | None:
        item = self._get()
        if item is None or not item.keys() & _CHECKPOINT_ATTRIBUTES:
            return None  # nothing yet, or only a lease
        return self._parse(item)

    def save(self, checkpoint: Checkpoint) -> None:
        self._check_not_lost()
        now = self._clock()
        values: Item = {
            ":file": {"S": checkpoint.position.file},
            ":offset": {"N": str(checkpoint.position.offset)},
            ":position": {"S": str(checkpoint.position)},
            ":saved_at": {"S": _iso(now)},
            ":me": {"S": self.owner},
        }
        sets = ["#file = :file", "#offset = :offset", "#position = :position", "#saved_at = :saved_at"]
        removes = []
        optional = {"gtid": checkpoint.gtid, "server_id": checkpoint.server_id}
        for name, value in optional.items():
            if value is None:
                removes.append(f"#{name}")
            else:
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = {"S": value} if isinstance(value, str) else {"N": str(value)}
        held = self._held
        until = self._until(now)
        if held:
            sets.append("#lease_expires_at = :until")
            values[":until"] = {"N": str(until)}
            condition = "#owner = :me"
        else:
            values[":now"] = {"N": str(math.floor(now))}
            condition = "attribute_not_exists(#owner) OR #lease_expires_at < :now OR #owner = :me"
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        started = self._monotonic()
        try:
            self._update(update, condition, values)
        except _ConditionFailed as failed:
            if held:
                raise self._lose(failed.item) from None
            raise SourceUnusable(self._taken(failed.item, now, "then write the checkpoint")) from None
        if held:
            self._granted(until, started)

    def acquire(self) -> None:
        now = self._clock()
        until = self._until(now)
        started = self._monotonic()
        try:
            self._update(
                "SET #owner = :me, #lease_expires_at = :until",
                "attribute_not_exists(#pipeline) OR attribute_not_exists(#owner) OR #owner = :me "
                "OR #lease_expires_at < :now",
                {":me": {"S": self.owner}, ":until": {"N": str(until)}, ":now": {"N": str(math.floor(now))}},
            )
        except _ConditionFailed as failed:
            raise SourceUnusable(
                self._taken(
                    failed.item, now, f"or wait for its lease to expire ({self.lease_seconds:g} s after it stopped)"
                )
            ) from None
        self._granted(until, started)
        log.info("holding the lease on %s as %s until %s", self.name, self.owner, _utc(until))

    def renew(self) -> None:
        self._check_not_lost()
        started = self._monotonic()
        if not self._held or started - self._written_at < self.renew_interval:
            return
        now = self._clock()
        until = self._until(now)
        try:
            self._update(
                "SET #lease_expires_at = :until",
                "#owner = :me",
                {
                    ":me": {"S": self.owner},
                    ":until": {"N": str(until)},
                },
            )
        except _ConditionFailed as failed:
            raise self._lose(failed.item) from None
        except RuntimeFailure as error:
            left = self._expires_at - self._clock()
            if left > self.renew_interval:
                log.warning(
                    "cannot renew the lease on %s (%s); it holds for %.0f s more, trying again on the next flush",
                    self.name,
                    error.message,
                    left,
                )
                return
            raise RuntimeFailure(
                f"cannot renew the lease on {self.name}, which expires at {_utc(self._expires_at)}: "
                f"{error.message}; stopping so two streamers never write"
            ) from None
        self._granted(until, started)

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            self._update("REMOVE #owner, #lease_expires_at", "#owner = :me", {":me": {"S": self.owner}})
        except _ConditionFailed as failed:
            log.warning("the lease on %s was no longer ours when releasing it: %s", self.name, self._lose(failed.item))
        except CdcError as error:
            log.warning(
                "cannot release the lease on %s (%s); it expires by itself at %s",
                self.name,
                error.message,
                _utc(self._expires_at),
            )
        else:
            log.info("released the lease on %s", self.name)

    # -- DynamoDB calls --------------------------------------------------------------------------------------------

    def _get(self) -> Item | None:
        response = self._call("GetItem", self.client.get_item, Key=self._key(), ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def _update(self, update: str, condition: str, values: Item) -> None:
        """One conditional UpdateItem; placeholder names are `#attribute`, declared from the expressions."""
        expressions = f"{update} {condition}"
        self._call(
            "UpdateItem",
            self.client.update_item,
            Key=self._key(),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={name: name[1:] for name in re.findall(r"#\w+", expressions)},
            ExpressionAttributeValues={name: values[name] for name in re.findall(r":\w+", expressions)},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _call(self, action: str, method: Callable[..., Any], **request: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(TableName=self.table, **request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                item = error.response.get("Item")
                raise _ConditionFailed(item if item is not None else self._get()) from None
            raise self._client_error(action, code, error) from None
        except NoCredentialsError:
            raise ConfigError(
                f"no AWS credentials found for {self.name}: set AWS_PROFILE, "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role"
            ) from None
        except BotoCoreError as error:
            raise RuntimeFailure(
                f"cannot reach DynamoDB ({action} on table {self.table} in {self._where()}): {_one_line(error)}"
            ) from None
        return response

    def _client_error(self, action: str, code: str, error: ClientError) -> CdcError:
        where = self._where()
        if code == "ResourceNotFoundException":
            return ConfigError(
                f"DynamoDB table {self.table} not found in {where} (create it, partition key `pipeline` (S))"
            )
        if code in _DENIED:
            return ConfigError(
                f"DynamoDB denied dynamodb:{action} on table {self.table} in {where} ({code}): "
                "grant it to the streamer's role, or check the credentials"
            )
        if code == "ValidationException":
            message = error.response.get("Error", {}).get("Message", "")
            return ConfigError(
                f"DynamoDB rejected {action} on table {self.table} in {where}: {_one_line(message)} "
                "(the table needs partition key `pipeline` (S) and no sort key)"
            )
        return RuntimeFailure(f"DynamoDB {action} on table {self.table} in {where} failed: {_one_line(error)}")

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _key(self) -> Item:
        return {"pipeline": {"S": self.key}}

    def _where(self) -> str:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
        return f"region {self.region}" + (f" at {endpoint}" if endpoint else "")

    def _until(self, now: float) -> int:
        return math.ceil(now + self.lease_seconds)

    def _granted(self, until: int, started: float) -> None:
        self._held = True
        self._lost_message = None
        self._expires_at = until
        self._written_at = started

    def _parse(self, item: Item) -> Checkpoint:
        try:
            if "file" in item or "offset" in item:
                position = BinlogPosition(_attribute(item, "file", "S"), int(_attribute(item, "offset", "N")))
                if not position.file or position.offset < 0:
                    raise ValueError(f"bad position {position}")
            else:
                position = BinlogPosition.parse(_attribute(item, "position", "S"))
            gtid = _optional(item, "gtid", "S")
            server_id = _optional(item, "server_id", "N")
            return Checkpoint(position, gtid, int(server_id) if server_id is not None else None)
        except CdcError as error:
            problem = error.message
        except (KeyError, ValueError) as error:
            problem = str(error).strip("'\"")
        raise ConfigError(
            f"checkpoint {self.name} in {self._where()} is unreadable ({problem}); fix or delete the item"
        )

    def _lose(self, item: Item | None) -> RuntimeFailure:
        owner = _holder(item)[0]
        by = f"to {owner}" if owner else "(released or deleted by someone else)"
        self._held = False
        self._lost_message = f"lost the lease on {self.name} {by}; stopping so two streamers never write"
        return RuntimeFailure(self._lost_message)

    def _check_not_lost(self) -> None:
        if self._lost_message is not None:
            raise RuntimeFailure(self._lost_message)

    def _taken(self, item: Item | None, now: float, advice: str) -> str:
        owner, expires = _holder(item)
        if owner is None or expires is None:
            return f"another streamer changed the lease on {self.name} at the same time; try again"
        return (
            f"another streamer (owner {owner}) holds the lease on {self.name} until {_utc(expires)} "
            f"({max(expires - now, 0):.0f} s from now); stop it, {advice}"
        )


def _attribute(item: Item, name: str, kind: str) -> str:
    if name not in item:
        raise KeyError(f"no attribute {name}")
    value = item[name].get(kind)
    if not isinstance(value, str):
        raise ValueError(f"attribute {name} is not of type {kind}")
    return value


def _optional(item: Item, name: str, kind: str) -> str | None:
    if name not in item or item[name].get("NULL"):
        return None
    return _attribute(item, name, kind)


def _holder(item: Item | None) -> tuple[str | None, float | None]:
    item = item or {}
    owner = item.get("owner", {}).get("S")
    expires = item.get("lease_expires_at", {}).get("N")
    return owner, float(expires) if expires is not None else None


def _utc(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


def _one_line(error: object) -> str:
    return " ".join(str(error).split())
