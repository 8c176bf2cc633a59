"""`dynamodb:TABLE/KEY` against moto's server over real HTTP: the checkpoint round trip, the single-writer lease
(with a fake clock for expiry), error messages, and the real `cdc-streamer position` command."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from cdc_streamer.checkpoint import Checkpoint, open_store
from cdc_streamer.checkpoint_dynamodb import DynamoDBCheckpointStore
from cdc_streamer.errors import ConfigError, RuntimeFailure, SourceUnusable
from cdc_streamer.position import BinlogPosition

from .support import run_cli

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z
FIRST = Checkpoint(BinlogPosition("binlog.000007", 1234), "0-1-99", 4242)
SECOND = Checkpoint(BinlogPosition("binlog.000008", 4), None, None)


class Clock:
    """Wall clock and monotonic clock in one, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Dynamo:
    def __init__(self, endpoint: str, table: str) -> None:
        self.endpoint = endpoint
        self.table = table
        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        self.clock = Clock()

    def store(self, key: str = "orders", **options: Any) -> DynamoDBCheckpointStore:
        options.setdefault("client", self.client)  # one client: building one takes a while
        options.setdefault("clock", self.clock)
        options.setdefault("monotonic", self.clock)
        return DynamoDBCheckpointStore(self.table, key, **options)

    def item(self, key: str = "orders") -> dict[str, Any]:
        response = self.client.get_item(TableName=self.table, Key={"pipeline": {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] = response.get("Item", {})
        return item

    def expires(self, key: str = "orders") -> int:
        return int(self.item(key)["lease_expires_at"]["N"])


def create_table(client: Any, name: str, key: str = "pipeline") -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def dynamo(aws: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Dynamo]:
    """A fresh table named after the test; stores find moto through AWS_ENDPOINT_URL_DYNAMODB, as in production."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws)
    name = "cp-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:200]
    dynamo = Dynamo(aws, name)
    create_table(dynamo.client, name)
    yield dynamo
    dynamo.client.delete_table(TableName=name)


class FlakyClient:
    """The real client, except that UpdateItem fails as a dropped network does while `down` is set."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.down = False

    def get_item(self, **request: Any) -> Any:
        return self.client.get_item(**request)

    def update_item(self, **request: Any) -> Any:
        if self.down:
            raise EndpointConnectionError(endpoint_url="http://dynamodb.invalid")
        return self.client.update_item(**request)


# -- the checkpoint ----------------------------------------------------------------------------------------------


def test_nothing_stored_loads_as_none(dynamo: Dynamo) -> None:
    assert dynamo.store().load() is None


def test_saved_checkpoints_load_back_with_and_without_gtid(dynamo: Dynamo) -> None:
    store = dynamo.store()
    store.save(FIRST)
    assert store.load() == FIRST
    assert dynamo.store().load() == FIRST
    store.save(SECOND)
    assert dynamo.store().load() == SECOND
    item = dynamo.item()
    assert item["position"] == {"S": "binlog.000008:4"}
    assert item["offset"] == {"N": "4"}
    assert item["saved_at"] == {"S": "2027-01-15T08:00:00+00:00"}
    assert "gtid" not in item
    assert "server_id" not in item


def test_open_store_finds_the_table_through_the_endpoint_variable(dynamo: Dynamo) -> None:
    open_store(f"dynamodb:{dynamo.table}/orders").save(FIRST)
    assert open_store(f"dynamodb:{dynamo.table}/orders").load() == FIRST
    assert open_store(f"dynamodb:{dynamo.table}").load() is None  # key `default`


def test_keys_in_one_table_are_independent(dynamo: Dynamo) -> None:
    orders, payments = dynamo.store("orders"), dynamo.store("payments")
    orders.acquire()
    orders.save(FIRST)
    assert payments.load() is None
    payments.acquire()  # another pipeline's lease is no obstacle
    payments.save(SECOND)
    assert (orders.load(), payments.load()) == (FIRST, SECOND)


def test_missing_table_is_a_config_error_saying_how_to_create_it(dynamo: Dynamo) -> None:
    store = DynamoDBCheckpointStore("no-such-table", "orders")
    for call in (store.load, store.acquire):
        with pytest.raises(ConfigError) as caught:
            call()
        assert caught.value.message.startswith("DynamoDB table no-such-table not found in region us-east-1 at http")
        assert caught.value.message.endswith("(create it, partition key `pipeline` (S))")


def test_table_with_another_key_schema_is_a_config_error(dynamo: Dynamo) -> None:
    create_table(dynamo.client, dynamo.table + "-id", key="id")
    with pytest.raises(ConfigError, match="needs partition key `pipeline` \\(S\\)"):
        DynamoDBCheckpointStore(dynamo.table + "-id").load()


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"file": {"S": "binlog.000001"}, "offset": {"S": "12"}}, "attribute offset is not of type N"),
        ({"offset": {"N": "12"}}, "no attribute file"),
        ({"file": {"S": "binlog.000001"}, "offset": {"N": "-1"}}, "bad position"),
        ({"position": {"S": "binlog-without-offset"}}, "expected FILE:POS"),
        (
            {"file": {"S": "binlog.000001"}, "offset": {"N": "12"}, "gtid": {"N": "5"}},
            "attribute gtid is not of type S",
        ),
    ],
)
def test_malformed_item_is_a_config_error_naming_table_and_key(
    dynamo: Dynamo, attributes: dict[str, Any], problem: str
) -> None:
    dynamo.client.put_item(TableName=dynamo.table, Item={"pipeline": {"S": "orders"}, **attributes})
    with pytest.raises(ConfigError) as caught:
        dynamo.store().load()
    message = caught.value.message
    assert message.startswith(f"checkpoint dynamodb:{dynamo.table}/orders in region us-east-1")
    assert problem in message
    assert message.endswith("fix or delete the item")


def test_a_hand_written_position_attribute_is_enough(dynamo: Dynamo) -> None:
    dynamo.client.put_item(
        TableName=dynamo.table, Item={"pipeline": {"S": "orders"}, "position": {"S": "binlog.000003:99"}}
    )
    assert dynamo.store().load() == Checkpoint(BinlogPosition("binlog.000003", 99))


# -- the lease ---------------------------------------------------------------------------------------------------


def test_a_lease_alone_is_no_checkpoint(dynamo: Dynamo) -> None:
    store = dynamo.store()
    store.acquire()
    assert dynamo.item()["owner"] == {"S": store.owner}
    assert dynamo.expires() == START + 30
    assert store.load() is None


def test_save_keeps_the_lease_and_extends_it(dynamo: Dynamo) -> None:
    store = dynamo.store()
    store.acquire()
    dynamo.clock.now += 5
    store.save(FIRST)
    assert dynamo.item()["owner"] == {"S": store.owner}
    assert dynamo.expires() == START + 35
    assert store.load() == FIRST


def test_acquiring_again_is_harmless(dynamo: Dynamo) -> None:
    store = dynamo.store()
    store.acquire()
    dynamo.clock.now += 1
    store.acquire()
    assert dynamo.expires() == START + 31


def test_a_second_streamer_is_refused_naming_the_holder(dynamo: Dynamo) -> None:
    first, second = dynamo.store(), dynamo.store()
    first.acquire()
    first.save(FIRST)
    dynamo.clock.now += 10
    with pytest.raises(SourceUnusable) as caught:
        second.acquire()
    assert caught.value.exit_code == 3
    assert caught.value.message == (
        f"another streamer (owner {first.owner}) holds the lease on dynamodb:{dynamo.table}/orders until "
        "2027-01-15T08:00:30Z (20 s from now); stop it, or wait for its lease to expire (30 s after it stopped)"
    )
    assert dynamo.item()["owner"] == {"S": first.owner}
    assert second.load() == FIRST  # reading needs no lease


def test_the_holder_renews_so_a_running_streamer_keeps_its_lease(dynamo: Dynamo) -> None:
    first, second = dynamo.store(), dynamo.store()
    first.acquire()
    for _ in range(6):  # a minute, renewing every 10 s
        dynamo.clock.now += 10
        first.renew()
        with pytest.raises(SourceUnusable):
            second.acquire()
    assert dynamo.expires() == START + 60 + 30
    first.save(FIRST)


def test_an_expired_lease_passes_on_and_the_old_holder_can_never_write_again(dynamo: Dynamo) -> None:
    first, second = dynamo.store(), dynamo.store()
    first.acquire()
    first.save(FIRST)
    dynamo.clock.now += 31  # first stalled: no renewal
    second.acquire()
    second.save(SECOND)

    lost = f"lost the lease on dynamodb:{dynamo.table}/orders to {second.owner}; stopping so two streamers never write"
    with pytest.raises(RuntimeFailure) as caught:
        first.save(Checkpoint(BinlogPosition("binlog.000009", 4)))
    assert caught.value.message == lost
    with pytest.raises(RuntimeFailure, match="lost the lease"):
        first.renew()
    dynamo.clock.now += 100  # even after second's lease expired, first stays out
    with pytest.raises(RuntimeFailure, match="lost the lease"):
        first.save(Checkpoint(BinlogPosition("binlog.000009", 4)))
    first.release()  # does not drop second's lease
    assert dynamo.item()["owner"] == {"S": second.owner}
    assert second.load() == SECOND


def test_renew_notices_a_lost_lease(dynamo: Dynamo) -> None:
    first, second = dynamo.store(), dynamo.store()
    first.acquire()
    dynamo.clock.now += 31
    second.acquire()
    with pytest.raises(RuntimeFailure, match=f"lost the lease on .* to {second.owner}"):
        first.renew()


def test_release_lets_the_next_streamer_start_at_once(dynamo: Dynamo) -> None:
    first, second = dynamo.store(), dynamo.store()
    first.acquire()
    first.save(FIRST)
    first.release()
    item = dynamo.item()
    assert "owner" not in item
    assert "lease_expires_at" not in item
    second.acquire()
    assert second.load() == FIRST
    first.release()  # twice: nothing left to do


def test_renew_writes_at_most_once_per_third_of_the_lease(dynamo: Dynamo) -> None:
    store = dynamo.store()
    calls: list[str] = []
    store.client.meta.events.register("before-call.dynamodb.UpdateItem", lambda **kwargs: calls.append("update"))
    store.acquire()
    for _ in range(9):  # every second for 9 s: too early
        dynamo.clock.now += 1
        store.renew()
    assert len(calls) == 1
    assert dynamo.expires() == START + 30
    dynamo.clock.now += 1
    store.renew()
    assert len(calls) == 2
    assert dynamo.expires() == START + 40
    dynamo.clock.now += 5
    store.save(FIRST)  # a save extends the lease too, so the next renewal waits from here
    dynamo.clock.now += 9
    store.renew()
    assert len(calls) == 3
    dynamo.clock.now += 1
    store.renew()
    assert len(calls) == 4
    assert dynamo.expires() == START + 25 + 30


def test_renew_rides_out_a_network_failure_while_enough_lease_is_left(
    dynamo: Dynamo, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyClient(dynamo.client)
    store = dynamo.store(client=flaky)
    store.acquire()
    flaky.down = True
    dynamo.clock.now += 10
    with caplog.at_level(logging.WARNING, logger="cdc_streamer.checkpoint_dynamodb"):
        store.renew()  # 20 s left: a warning
        dynamo.clock.now += 5
        store.renew()  # 15 s left: tried again, still a warning
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "cdc_streamer.checkpoint_dynamodb" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 2
    assert all(w.startswith(f"cannot renew the lease on {store.name} (cannot reach DynamoDB") for w in warnings)
    flaky.down = False
    store.renew()
    assert dynamo.expires() == START + 15 + 30

    flaky.down = True
    dynamo.clock.now += 26  # 4 s left: the next attempt could come too late
    with pytest.raises(RuntimeFailure) as caught:
        store.renew()
    assert caught.value.message.startswith(f"cannot renew the lease on {store.name}, which expires at ")
    assert "stopping so two streamers never write" in caught.value.message


def test_release_never_raises_on_a_network_failure(dynamo: Dynamo, caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyClient(dynamo.client)
    store = dynamo.store(client=flaky)
    store.acquire()
    flaky.down = True
    with caplog.at_level(logging.WARNING, logger="cdc_streamer.checkpoint_dynamodb"):
        store.release()
    assert "cannot release the lease" in caplog.text
    assert "it expires by itself at 2027-01-15T08:00:30Z" in caplog.text


def test_a_one_off_write_waits_for_a_live_lease(dynamo: Dynamo) -> None:
    """`save` without `acquire` (an operator setting the position) never overwrites a running streamer's."""
    streamer, operator = dynamo.store(), dynamo.store()
    streamer.acquire()
    streamer.save(FIRST)
    with pytest.raises(SourceUnusable, match=f"owner {streamer.owner}.*stop it, then write the checkpoint"):
        operator.save(SECOND)
    assert operator.load() == FIRST
    dynamo.clock.now += 31
    operator.save(SECOND)  # the streamer is gone
    assert operator.load() == SECOND
    assert dynamo.item()["owner"] == {"S": streamer.owner}  # the write takes no lease


# -- the real command --------------------------------------------------------------------------------------------


def test_position_command_reads_the_dynamodb_checkpoint(dynamo: Dynamo) -> None:
    env = {"AWS_ENDPOINT_URL_DYNAMODB": dynamo.endpoint, "AWS_ACCESS_KEY_ID": "testing"}
    env |= {"AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    spec = f"dynamodb:{dynamo.table}/orders"

    missing = run_cli("position", "--position-store", spec, env=env)
    assert missing.returncode == 1, missing.stderr
    assert missing.stderr.strip() == f"cdc-streamer: no checkpoint stored in {spec}"

    dynamo.store().save(FIRST)
    shown = run_cli("position", "--position-store", spec, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "binlog.000007:1234 gtid=0-1-99"

    from_env = run_cli("position", env={**env, "CDC_POSITION_STORE": spec})
    assert from_env.stdout.strip() == "binlog.000007:1234 gtid=0-1-99"

    no_table = run_cli("position", "--position-store", "dynamodb:no-such-table/orders", env=env)
    assert no_table.returncode == 2
    assert no_table.stderr.splitlines() == [
        f"cdc-streamer: DynamoDB table no-such-table not found in region us-east-1 at {dynamo.endpoint} "
        "(create it, partition key `pipeline` (S))"
    ]

    bad = run_cli("position", "--position-store", "dynamodb:", env=env)
    assert bad.returncode == 2
    assert "expected file:PATH, dynamodb:TABLE[/KEY] or none" in bad.stderr
