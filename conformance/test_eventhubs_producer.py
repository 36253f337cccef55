"""`EventHubProducerClient` against the emulator: batches to a partition, by partition key and to the hub,
`send_event`, every settable part of an event surviving the trip to a consumer, large events, and events over
the link's 1 MiB max-message-size refused the way the SDK reports it."""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List

import pytest
from azure.eventhub import EventData
from azure.eventhub.exceptions import EventDataSendError

from eventhubs_support import (
    HUB_PARTITIONS, EventHubsNamespace, body_bytes, consumer, producer, receive, receive_partitions,
)

MiB = 1024 * 1024
PARTITION_IDS = [str(n) for n in range(HUB_PARTITIONS)]


def _receive_all(connection: str, hub: str, count: int) -> Dict[str, List[EventData]]:
    """Every event of the hub, by partition, in order."""
    return receive_partitions(connection, hub, PARTITION_IDS, count)


def test_send_batch_to_a_partition(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    bodies = [f"partition three, event {n}".encode() for n in range(5)]
    with producer(connection, event_hub) as client:
        batch = client.create_batch(partition_id="3")
        assert batch.max_size_in_bytes == MiB  # the hub's max-message-size on the partition's link
        for body in bodies:
            batch.add(EventData(body))
        assert len(batch) == 5
        client.send_batch(batch)
        # A list is sent as one batch too.
        client.send_batch([EventData(b"from a list")], partition_id="3")
        assert client.get_partition_properties("3")["last_enqueued_sequence_number"] == 5
        assert [client.get_partition_properties(p)["is_empty"] for p in "012"] == [True, True, True]
    received = receive(consumer(connection, event_hub), 6, partition_id="3", starting_position="-1")
    assert received.bodies() == bodies + [b"from a list"]
    assert [e.sequence_number for e in received.events] == [0, 1, 2, 3, 4, 5]
    assert [e.partition_key for e in received.events] == [None] * 6


def test_send_batch_by_partition_key(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    keys = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    sent: Dict[str, List[bytes]] = defaultdict(list)
    with producer(connection, event_hub) as client:
        for round_ in range(3):
            for key in keys:
                batch = client.create_batch(partition_key=key)
                for n in range(2):
                    body = f"{key} {round_}.{n}".encode()
                    batch.add(EventData(body))
                    sent[key].append(body)
                client.send_batch(batch)
        client.send_event(EventData(b"alpha single"), partition_key="alpha")
        sent["alpha"].append(b"alpha single")
    by_partition = _receive_all(connection, event_hub, 37)
    partition_of: Dict[str, set] = defaultdict(set)
    in_order: Dict[str, List[bytes]] = defaultdict(list)
    for partition, events in by_partition.items():
        assert [e.sequence_number for e in events] == list(range(len(events)))
        for event in events:
            # pyamqp hands out x-opt-partition-key as bytes.
            partition_of[event.partition_key.decode()].add(partition)
            in_order[event.partition_key.decode()].append(body_bytes(event))
    # Every key stays on one partition, and its events keep the order they were sent in.
    assert {key: len(partitions) for key, partitions in partition_of.items()} == {key: 1 for key in keys}
    assert dict(in_order) == dict(sent)


def test_send_batch_to_the_hub(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    batches = [[f"hub batch {b} event {n}".encode() for n in range(3)] for b in range(8)]
    with producer(connection, event_hub) as client:
        for bodies in batches:
            batch = client.create_batch()
            assert batch.max_size_in_bytes == MiB
            for body in bodies:
                batch.add(EventData(body))
            client.send_batch(batch)
        client.send_event(EventData(b"a single event to the hub"))
    by_partition = _receive_all(connection, event_hub, 25)
    assert sum(len(events) for events in by_partition.values()) == 25
    streams = {partition: [body_bytes(e) for e in events] for partition, events in by_partition.items()}
    # The service picks a partition for each batch; a batch's events land together, in order, on one partition.
    for bodies in batches:
        holders = [p for p, stream in streams.items() if bodies[0] in stream]
        assert len(holders) == 1, f"{bodies[0]!r} was received {len(holders)} times"
        stream = streams[holders[0]]
        start = stream.index(bodies[0])
        assert stream[start:start + 3] == bodies
    assert sum(stream.count(b"a single event to the hub") for stream in streams.values()) == 1
    for events in by_partition.values():
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert [e.partition_key for e in events] == [None] * len(events)


def test_send_event(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_event(EventData(b"one"), partition_id="0")
        client.send_event(EventData("two"), partition_id="0")
        client.send_event(EventData(b"keyed"), partition_key="the key")
        client.send_event(EventData(b"anywhere"))
    by_partition = _receive_all(connection, event_hub, 4)
    streams = {p: [(body_bytes(e), e.sequence_number, e.partition_key) for e in events] for p, events in by_partition.items()}
    assert streams["0"][:2] == [(b"one", 0, None), (b"two", 1, None)]
    everything = sorted(item for stream in streams.values() for item in stream)
    assert [(body, key) for body, _, key in everything] == [
        (b"anywhere", None), (b"keyed", b"the key"), (b"one", None), (b"two", None),
    ]
    for stream in streams.values():
        assert [sequence for _, sequence, _ in stream] == list(range(len(stream)))


def test_event_properties_round_trip(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    body = "grüße, ✓ \u0000 and binary-safe".encode("utf-8") + bytes(range(256))
    event = EventData(body)
    event.properties = {"text": "value", "number": 42, "ratio": 0.25, "flag": True, "negative": -7}
    event.content_type = "application/x-kumo"
    event.correlation_id = "correlation-1"
    event.message_id = "message-1"
    with producer(connection, event_hub) as client:
        client.send_event(event, partition_id="2")
        client.send_batch([EventData(b"plain")], partition_id="2")
    received = receive(consumer(connection, event_hub), 2, partition_id="2", starting_position="-1")
    first, second = received.events
    assert body_bytes(first) == body
    # pyamqp hands out application properties with bytes keys and bytes string values.
    assert first.properties == {
        b"text": b"value", b"number": 42, b"ratio": 0.25, b"flag": True, b"negative": -7,
    }
    assert first.content_type == "application/x-kumo"
    assert first.correlation_id == "correlation-1"
    assert first.message_id == "message-1"
    assert (first.sequence_number, first.offset, first.partition_key) == (0, "0", None)
    assert body_bytes(second) == b"plain"
    assert second.properties == {}
    assert (second.content_type, second.correlation_id, second.message_id) == (None, None, None)
    # The hub's annotations, exactly those: sequence number (long), offset (string), enqueued time.
    assert set(first.system_properties) == {
        b"message-id", b"correlation-id", b"content-type", b"x-opt-sequence-number", b"x-opt-offset",
        b"x-opt-enqueued-time",
    }
    assert set(second.system_properties) == {b"x-opt-sequence-number", b"x-opt-offset", b"x-opt-enqueued-time"}
    assert second.system_properties[b"x-opt-offset"] == second.offset.encode()


def test_large_events(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    large = bytes((n * 7 + 3) % 256 for n in range(900 * 1024))
    with producer(connection, event_hub) as client:
        client.send_event(EventData(large), partition_id="1")
        batch = client.create_batch(partition_id="1")
        batch.add(EventData(large[:500 * 1024]))
        batch.add(EventData(large[500 * 1024:]))
        client.send_batch(batch)
    received = receive(consumer(connection, event_hub), 3, partition_id="1", starting_position="-1")
    assert [len(b) for b in received.bodies()] == [900 * 1024, 500 * 1024, 400 * 1024]
    assert received.bodies() == [large, large[:500 * 1024], large[500 * 1024:]]


def test_event_over_one_mebibyte_is_refused(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    too_large = EventData(b"A" * (MiB + 1))
    with producer(connection, event_hub) as client:
        # A batch knows the link's limit and refuses the event before anything is sent.
        batch = client.create_batch(partition_id="0")
        with pytest.raises(ValueError, match="EventDataBatch has reached its size limit: 1048576"):
            batch.add(too_large)
        # A single event goes out as it is; the hub rejects it with amqp:link:message-size-exceeded and the SDK
        # reports EventDataSendError.
        with pytest.raises(EventDataSendError) as caught:
            client.send_event(too_large, partition_id="0")
        assert caught.value.error == "link:message-size-exceeded", repr(caught.value)
        # Nothing was stored, and the producer still works.
        assert client.get_partition_properties("0")["is_empty"] is True
        client.send_event(EventData(b"small"), partition_id="0")
        assert client.get_partition_properties("0")["last_enqueued_sequence_number"] == 0
