"""Volume and fault injection: 2,000 events sent every way (partition, partition key, hub) are all stored and
received exactly once, in order per partition; with `--fault-rate 0.3` the hub rejects sends with
`com.microsoft:server-busy` before storing them, so sends retried after the rejection land exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, List

import pytest
from azure.eventhub import EventData
from azure.eventhub.exceptions import EventDataSendError

from emulator import EmulatorProcess
from eventhubs_support import EventHubsNamespace, body_bytes, producer, receive_partitions

PARTITION_IDS = ["0", "1", "2", "3"]


def test_two_thousand_events_are_received_exactly_once(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    connection = eventhubs_namespace.connection_string
    sent: List[bytes] = []

    def bodies(count: int) -> List[bytes]:
        new = [f"volume {len(sent) + n:04d} ".encode() + bytes([len(sent) % 251]) * 40 for n in range(count)]
        sent.extend(new)
        return new

    with producer(connection, event_hub) as client:
        for partition in PARTITION_IDS:  # 800 to named partitions
            for _ in range(2):
                client.send_batch([EventData(b) for b in bodies(100)], partition_id=partition)
        for key in range(30):  # 600 by partition key
            client.send_batch([EventData(b) for b in bodies(20)], partition_key=f"key-{key}")
        for _ in range(12):  # 600 to the hub
            client.send_batch([EventData(b) for b in bodies(50)])
        last_sequence = {p: client.get_partition_properties(p)["last_enqueued_sequence_number"] for p in PARTITION_IDS}
    assert len(sent) == len(set(sent)) == 2000

    by_partition = receive_partitions(connection, event_hub, PARTITION_IDS, 2000, timeout=60, settle=1.0)
    received = [body_bytes(e) for events in by_partition.values() for e in events]
    duplicates = [body for body, count in Counter(received).items() if count > 1]
    assert duplicates == []
    assert len(received) == 2000
    assert set(received) == set(sent)
    for partition, events in by_partition.items():
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert last_sequence[partition] == len(events) - 1
        # Offsets grow with every event.
        offsets = [int(e.offset) for e in events]
        assert offsets == sorted(set(offsets))
    # Events sent to one partition keep their order there.
    for partition in PARTITION_IDS:
        stream = [body_bytes(e) for e in by_partition[partition]]
        first = sent[PARTITION_IDS.index(partition) * 200:(PARTITION_IDS.index(partition) + 1) * 200]
        assert stream[:200] == first


def test_sends_land_exactly_once_through_server_busy_faults(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--fault-rate", "0.3", "--event-hub", "faulty:2")
    connection = emulator.eventhubs_connection_string()
    sent: Dict[str, List[bytes]] = {"0": [], "1": []}
    rejections: List[EventDataSendError] = []

    def send(operation: Callable[[], None]) -> None:
        # azure-eventhub 5.15.1 (pyamqp) does not retry a send the hub rejects with com.microsoft:server-busy:
        # its AMQP layer is built with retry_total=0 and a rejected delivery surfaces at once as
        # EventDataSendError. Against a throttled hub an application retries itself, as here.
        for _ in range(20):
            try:
                operation()
                return
            except EventDataSendError as error:
                rejections.append(error)
        raise AssertionError("20 sends in a row were rejected at a 30% fault rate")

    with producer(connection, "faulty") as client:
        for n in range(60):
            partition = str(n % 2)
            batch = [f"batch {n} event {k}".encode() for k in range(5)]
            send(lambda: client.send_batch([EventData(b) for b in batch], partition_id=partition))
            sent[partition].extend(batch)
        for n in range(20):
            partition = str(n % 2)
            body = f"single {n}".encode()
            send(lambda: client.send_event(EventData(body), partition_id=partition))
            sent[partition].append(body)
    assert rejections, "no send was rejected: the faults did not happen"
    for error in rejections:
        # The hub's throttling answer: the delivery rejected with com.microsoft:server-busy.
        assert error.error == "server-busy", repr(error)
        assert "Error condition: com.microsoft:server-busy" in str(error)

    by_partition = receive_partitions(connection, "faulty", ["0", "1"], 320, timeout=30, settle=1.0)
    for partition in ("0", "1"):
        events = by_partition[partition]
        # Rejected sends stored nothing: every event exactly once, in the order sent.
        assert [body_bytes(e) for e in events] == sent[partition]
        assert [e.sequence_number for e in events] == list(range(160))


def test_fault_operations_name_event_hubs_sends(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    # `--fault-operations` limits the faults to the named operations: Event Hubs sends are `eventhubs-send`.
    blob_only = dedicated_emulator("--fault-rate", "1", "--fault-operations", "get-blob", "--event-hub", "calm:1")
    with producer(blob_only.eventhubs_connection_string(), "calm") as client:
        client.send_event(EventData(b"not faulted"), partition_id="0")
        assert client.get_partition_properties("0")["last_enqueued_sequence_number"] == 0
    sends = dedicated_emulator("--fault-rate", "1", "--fault-operations", "eventhubs-send", "--event-hub", "busy:1")
    with producer(sends.eventhubs_connection_string(), "busy") as client:
        for _ in range(3):
            with pytest.raises(EventDataSendError) as caught:
                client.send_event(EventData(b"always rejected"), partition_id="0")
            assert caught.value.error == "server-busy", repr(caught.value)
        # $management is not a send: it still answers.
        assert client.get_partition_properties("0")["is_empty"] is True
