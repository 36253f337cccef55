"""`EventHubConsumerClient` against the emulator: every starting position (earliest, `@latest`, sequence number
and offset, inclusive or not, enqueued time), `receive_batch`, `track_last_enqueued_event_properties`,
consumer groups, and owner levels (epochs): a higher or equal level takes the partition and the displaced
reader ends with `amqp:link:stolen`; a lower level, or none, is refused while an owner holds the partition."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Dict, List

from azure.eventhub import CloseReason, EventData
from azure.eventhub.exceptions import ConnectionLostError

from eventhubs_support import (
    CONSUMER_GROUP, EventHubsNamespace, Receiver, body_bytes, consumer, producer, stop_all,
)

UTC = _dt.timezone.utc


def test_starting_positions(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"event {n}") for n in range(5)], partition_id="0")
        after_first = client.get_partition_properties("0")
        time.sleep(0.01)  # the second batch is enqueued at a later millisecond
        client.send_batch([EventData(f"event {n}") for n in range(5, 10)], partition_id="0")
        after_second = client.get_partition_properties("0")
    first_time, offset_4 = after_first["last_enqueued_time_utc"], after_first["last_enqueued_offset"]
    second_time, offset_9 = after_second["last_enqueued_time_utc"], after_second["last_enqueued_offset"]
    assert after_first["last_enqueued_sequence_number"] == 4 and after_second["last_enqueued_sequence_number"] == 9
    assert first_time < second_time

    positions: Dict[str, Dict[str, Any]] = {
        "earliest": {"starting_position": "-1"},
        "sequence 5 inclusive": {"starting_position": 5, "starting_position_inclusive": True},
        "sequence 5 exclusive": {"starting_position": 5, "starting_position_inclusive": False},
        "sequence 5 default": {"starting_position": 5},  # the SDK's default is exclusive
        "offset of 4 exclusive": {"starting_position": offset_4},
        "offset of 4 inclusive": {"starting_position": offset_4, "starting_position_inclusive": True},
        "first time exclusive": {"starting_position": first_time},
        "first time inclusive": {"starting_position": first_time, "starting_position_inclusive": True},
        "second time exclusive": {"starting_position": second_time},
        "last offset exclusive": {"starting_position": offset_9},
        "sequence 9 exclusive": {"starting_position": 9},
    }
    existing = {
        "earliest": list(range(10)),
        "sequence 5 inclusive": [5, 6, 7, 8, 9],
        "sequence 5 exclusive": [6, 7, 8, 9],
        "sequence 5 default": [6, 7, 8, 9],
        "offset of 4 exclusive": [5, 6, 7, 8, 9],
        "offset of 4 inclusive": [4, 5, 6, 7, 8, 9],
        "first time exclusive": [5, 6, 7, 8, 9],
        "first time inclusive": list(range(10)),
        "second time exclusive": [],
        "last offset exclusive": [],
        "sequence 9 exclusive": [],
    }
    receivers = {
        name: Receiver(consumer(connection, event_hub), partition_id="0", **options).start()
        for name, options in positions.items()
    }
    try:
        for name, receiver in receivers.items():
            receiver.wait_for(len(existing[name]), settle=0)
        # One more event: every reader gets it next, which also proves the readers that had nothing to read
        # were attached and filtering.
        with producer(connection, event_hub) as client:
            client.send_event(EventData("event 10"), partition_id="0")
        for name, receiver in receivers.items():
            receiver.wait_for(len(existing[name]) + 1, settle=0)
        time.sleep(0.5)
    finally:
        stop_all(list(receivers.values()))
    seen = {name: [e.sequence_number for e in r.received.events] for name, r in receivers.items()}
    assert seen == {name: numbers + [10] for name, numbers in existing.items()}
    bodies = receivers["earliest"].received.bodies()
    assert bodies == [f"event {n}".encode() for n in range(11)]
    assert all(not r.received.errors for r in receivers.values())


def test_latest_reads_only_events_sent_after_it_attached(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"old {n}") for n in range(3)], partition_id="1")
        with Receiver(consumer(connection, event_hub), partition_id="1", starting_position="@latest") as receiver:
            # The SDK does not say when its link is attached: send probes until the first one arrives.
            probes: List[bytes] = []
            deadline = time.monotonic() + 15
            while not receiver.received.events and time.monotonic() < deadline:
                probes.append(f"probe {len(probes)}".encode())
                client.send_event(EventData(probes[-1]), partition_id="1")
                receiver.wait_until(lambda r: bool(r.events), timeout=0.3)
            assert receiver.received.events, "the @latest reader received none of the probes"
            client.send_batch([EventData(f"new {n}") for n in range(3)], partition_id="1")
            receiver.wait_until(lambda r: r.bodies()[-1:] == [b"new 2"])
            time.sleep(0.3)
    bodies = receiver.received.bodies()
    first = probes.index(bodies[0])
    assert bodies == probes[first:] + [b"new 0", b"new 1", b"new 2"]
    assert [e.sequence_number for e in receiver.received.events] == list(range(3 + first, 3 + len(probes) + 3))


def test_receive_batch(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"event {n}") for n in range(11)], partition_id="2")
    # Eight events from sequence number 3 on, in batches of at most four: two full batches. (A batch is handed
    # over once it is full or max_wait_time has passed, so full batches do not depend on timing.)
    with Receiver(
        consumer(connection, event_hub), batch=True, partition_id="2", starting_position=3,
        starting_position_inclusive=True, max_batch_size=4, max_wait_time=3,
    ) as receiver:
        receiver.wait_for(8, settle=0.3)
    batches = receiver.received.batches
    assert [[e.sequence_number for e in batch] for batch in batches] == [[3, 4, 5, 6], [7, 8, 9, 10]]
    assert [body_bytes(e) for batch in batches for e in batch] == [f"event {n}".encode() for n in range(3, 11)]


def test_last_enqueued_event_properties(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"event {n}") for n in range(10)], partition_id="3")
        last = client.get_partition_properties("3")
        with Receiver(
            consumer(connection, event_hub), partition_id="3", starting_position=5, starting_position_inclusive=True,
            track_last_enqueued_event_properties=True,
        ) as receiver:
            receiver.wait_for(5, settle=0)
            client.send_event(EventData("event 10"), partition_id="3")
            receiver.wait_for(6, settle=0.2)
            newest = client.get_partition_properties("3")
    events = receiver.received.events
    assert [e.sequence_number for e in events] == [5, 6, 7, 8, 9, 10]
    snapshots = receiver.received.last_enqueued
    expected_before = {"sequence_number": 9, "offset": last["last_enqueued_offset"], "enqueued_time": last["last_enqueued_time_utc"]}
    expected_after = {"sequence_number": 10, "offset": newest["last_enqueued_offset"], "enqueued_time": newest["last_enqueued_time_utc"]}
    for snapshot, expected in zip(snapshots, [expected_before] * 5 + [expected_after]):
        assert snapshot is not None
        assert set(snapshot) == {"sequence_number", "offset", "enqueued_time", "retrieval_time"}
        assert {k: snapshot[k] for k in expected} == expected
        assert isinstance(snapshot["retrieval_time"], _dt.datetime)
        assert eventhubs_namespace.started_at <= snapshot["retrieval_time"] <= _dt.datetime.now(UTC)
    assert events[-1].offset == newest["last_enqueued_offset"]


def test_consumer_groups_read_independently(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(b"shared 0"), EventData(b"shared 1")], partition_id="0")
    default = Receiver(consumer(connection, event_hub), partition_id="0", starting_position="-1", owner_level=5).start()
    named = Receiver(
        consumer(connection, event_hub, consumer_group=CONSUMER_GROUP), partition_id="0", starting_position="-1",
        owner_level=1,
    ).start()
    unknown = Receiver(consumer(connection, event_hub, consumer_group="no-such-group"), partition_id="0", starting_position="-1").start()
    try:
        for receiver in (default, named):
            receiver.wait_for(2, settle=0)
        unknown.wait_until(lambda r: bool(r.errors))
        time.sleep(0.3)
    finally:
        stop_all([default, named, unknown])
    # Owner levels are per consumer group: both readers hold partition 0 of their own group.
    assert default.received.bodies() == named.received.bodies() == [b"shared 0", b"shared 1"]
    assert default.received.errors == named.received.errors == []
    assert unknown.received.events == []
    error = unknown.received.errors[0]
    # The hub refuses the reader's attach with amqp:not-found; the SDK reports a refused link as
    # ConnectionLostError and keeps the condition's name (after "amqp:") in `error`.
    assert isinstance(error, ConnectionLostError), repr(error)
    assert error.error == "not-found", repr(error)
    assert "Error condition: amqp:not-found" in str(error)


def _assert_link_stolen(errors: List[Exception]) -> None:
    assert errors, "expected the reader to be disconnected"
    for error in errors:
        # amqp:link:stolen; the SDK reports it as ConnectionLostError and closes the partition with OWNERSHIP_LOST.
        assert isinstance(error, ConnectionLostError), repr(error)
        assert error.error == "link:stolen", repr(error)
        assert "Error condition: amqp:link:stolen" in str(error)


def test_a_higher_owner_level_takes_the_partition(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_event(EventData(b"first"), partition_id="3")
        low = Receiver(consumer(connection, event_hub), partition_id="3", starting_position="-1", owner_level=0).start()
        high: Receiver | None = None
        lower = none = None
        try:
            assert low.wait_until(lambda r: len(r.events) == 1)
            high = Receiver(consumer(connection, event_hub), partition_id="3", starting_position="-1", owner_level=1).start()
            assert high.wait_until(lambda r: len(r.events) == 1)
            assert low.wait_until(lambda r: bool(r.errors) and bool(r.closes))
            # A lower level, or none, is refused while the owner holds the partition.
            lower = Receiver(consumer(connection, event_hub), partition_id="3", starting_position="-1", owner_level=0).start()
            none = Receiver(consumer(connection, event_hub), partition_id="3", starting_position="-1").start()
            assert lower.wait_until(lambda r: bool(r.errors))
            assert none.wait_until(lambda r: bool(r.errors))
            # The owner keeps reading.
            client.send_event(EventData(b"second"), partition_id="3")
            assert high.wait_until(lambda r: len(r.events) == 2)
            time.sleep(0.3)
        finally:
            stop_all([r for r in (low, high, lower, none) if r is not None])
    assert high.received.bodies() == [b"first", b"second"]
    assert high.received.errors == []
    assert low.received.bodies() == [b"first"]
    _assert_link_stolen(low.received.errors)
    assert low.received.closes[0] == ("3", CloseReason.OWNERSHIP_LOST)
    for refused in (lower, none):
        assert refused.received.events == []
        _assert_link_stolen(refused.received.errors)


def test_an_equal_owner_level_takes_the_partition(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    # Azure's rule for epochs: a new reader with a level greater than or equal to the owner's takes the partition.
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_event(EventData(b"first"), partition_id="2")
        old = Receiver(consumer(connection, event_hub), partition_id="2", starting_position="-1", owner_level=7).start()
        new: Receiver | None = None
        try:
            assert old.wait_until(lambda r: len(r.events) == 1)
            new = Receiver(consumer(connection, event_hub), partition_id="2", starting_position="-1", owner_level=7).start()
            assert new.wait_until(lambda r: len(r.events) == 1)
            old.wait_until(lambda r: bool(r.errors), timeout=3)
            client.send_event(EventData(b"second"), partition_id="2")
            assert new.wait_until(lambda r: len(r.events) == 2)
            time.sleep(0.3)
        finally:
            stop_all([r for r in (old, new) if r is not None])
    assert new.received.bodies() == [b"first", b"second"]
    assert new.received.errors == []
    assert old.received.bodies() == [b"first"], "the displaced reader still received events"
    _assert_link_stolen(old.received.errors)
