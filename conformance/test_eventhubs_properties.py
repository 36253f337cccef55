"""Event Hubs `$management` READ through Microsoft's Python client: hub properties, partition properties of an
empty partition (the real hub answers -1 / "-1" / 0001-01-01) and after sends, an unknown partition; and the
Event Hubs part of `kumo emulator --json`'s start record."""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path
from typing import Callable

import pytest
from azure.eventhub import EventData
from azure.eventhub.exceptions import AuthenticationError, ConnectError

from emulator import EmulatorProcess
from eventhubs_support import HUB_PARTITIONS, EventHubsNamespace, consumer, producer, receive

UTC = _dt.timezone.utc
PARTITION_IDS = [str(n) for n in range(HUB_PARTITIONS)]


def test_hub_properties(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        properties = client.get_eventhub_properties()
        assert client.get_partition_ids() == PARTITION_IDS
    assert set(properties) == {"eventhub_name", "created_at", "partition_ids"}
    assert properties["eventhub_name"] == event_hub
    assert properties["partition_ids"] == PARTITION_IDS
    created = properties["created_at"]
    assert isinstance(created, _dt.datetime) and created.tzinfo == UTC
    # The hub exists since the emulator started; a consumer client reads the very same properties.
    assert eventhubs_namespace.started_at - _dt.timedelta(seconds=1) <= created <= _dt.datetime.now(UTC)
    with consumer(connection, event_hub) as client:
        assert client.get_eventhub_properties() == properties


def test_hub_names_are_case_insensitive(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    # Azure compares entity names without regard to case and reports the name as it was created.
    with producer(eventhubs_namespace.connection_string, event_hub.upper()) as client:
        assert client.get_eventhub_properties()["eventhub_name"] == event_hub


def test_empty_partition_properties(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    with producer(eventhubs_namespace.connection_string, event_hub) as client:
        for partition in PARTITION_IDS:
            assert client.get_partition_properties(partition) == {
                "eventhub_name": event_hub,
                "id": partition,
                "beginning_sequence_number": -1,
                "last_enqueued_sequence_number": -1,
                "last_enqueued_offset": "-1",
                "last_enqueued_time_utc": _dt.datetime(1, 1, 1, tzinfo=UTC),
                "is_empty": True,
            }


def test_partition_properties_after_sends(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"event {n}") for n in range(3)], partition_id="1")
        client.send_event(EventData("the last one"), partition_id="1")
        properties = client.get_partition_properties("1")
        others = [client.get_partition_properties(p)["is_empty"] for p in ("0", "2", "3")]
    events = receive(consumer(connection, event_hub), 4, partition_id="1", starting_position="-1").events
    assert [e.sequence_number for e in events] == [0, 1, 2, 3]
    last = events[-1]
    assert properties == {
        "eventhub_name": event_hub,
        "id": "1",
        "beginning_sequence_number": 0,
        "last_enqueued_sequence_number": 3,
        "last_enqueued_offset": last.offset,
        "last_enqueued_time_utc": last.enqueued_time,
        "is_empty": False,
    }
    assert isinstance(last.offset, str)
    # Offsets are strings of increasing integers: the first event of a partition sits at "0".
    assert events[0].offset == "0"
    assert [int(e.offset) for e in events] == sorted(int(e.offset) for e in events)
    assert len({e.offset for e in events}) == 4
    assert others == [True, True, True]


def test_unknown_partition_is_refused(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    with producer(eventhubs_namespace.connection_string, event_hub) as client:
        with pytest.raises(ConnectError) as caught:
            client.get_partition_properties(str(HUB_PARTITIONS))
    # A 404 from $management: not an authentication problem.
    assert not isinstance(caught.value, AuthenticationError)
    assert "404" in str(caught.value)


def test_start_record_names_the_event_hubs_endpoint(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--json", "--event-hub", "orders:3", "--consumer-group", "orders:audit")
    deadline = time.monotonic() + 10
    line = ""
    while time.monotonic() < deadline and not line.endswith("\n"):
        line = Path(emulator.stdout_path).read_text()
        time.sleep(0.05)
    record = json.loads(line.splitlines()[0])
    assert record["amqpPort"] == emulator.amqp_port
    assert record["eventHubsConnectionString"] == emulator.eventhubs_connection_string()
    assert record["eventHubsConnectionString"] == (
        f"Endpoint=sb://127.0.0.1:{emulator.amqp_port};SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"
    )
    assert record["environment"]["AZURE_EVENTHUBS_CONNECTION_STRING"] == record["eventHubsConnectionString"]
    with producer(record["eventHubsConnectionString"], "orders") as client:
        assert client.get_partition_ids() == ["0", "1", "2"]
    # The named consumer group exists besides $Default.
    client = consumer(record["eventHubsConnectionString"], "orders", consumer_group="audit")
    with producer(record["eventHubsConnectionString"], "orders") as sender:
        sender.send_event(EventData(b"audited"), partition_id="2")
    received = receive(client, 1, partition_id="2", starting_position="-1", settle=0)
    assert received.bodies() == [b"audited"]
    assert received.errors == []
