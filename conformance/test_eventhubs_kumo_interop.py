"""Kumo's own Event Hubs client (`kumo eventhubs send|receive|properties`) and Microsoft's Python client on one
emulator, both ways: what one sends, the other reads with identical body bytes, properties, content type,
sequence numbers, offsets and enqueued times."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import subprocess
import time
from typing import Any, Dict, List

from azure.eventhub import EventData

from emulator import kumo_binary
from eventhubs_support import (
    EventHubsNamespace, body_bytes, consumer, producer, raw_enqueued_ms, receive, receive_partitions, utc_from_ms,
)


def kumo(namespace: EventHubsNamespace, *arguments: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment["AZURE_EVENTHUBS_CONNECTION_STRING"] = namespace.connection_string
    result = subprocess.run(
        [str(kumo_binary()), "eventhubs", *arguments], input=stdin, capture_output=True, timeout=timeout,
        env=environment, text=True, encoding="utf-8",
    )
    assert result.returncode == 0, f"kumo eventhubs {' '.join(arguments)} failed ({result.returncode}):\n{result.stderr}"
    return result


def json_lines(text: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def iso(moment: _dt.datetime) -> str:
    """Event Hubs' own precision: ISO 8601 with milliseconds, in UTC."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_ms(milliseconds: int) -> str:
    return iso(utc_from_ms(milliseconds))


TEXTS = ["grüße aus Köln ✓", "日本語のテキスト", "emoji 🚀 and tab\there", "plain ascii"]


def test_events_kumo_sends_reach_the_python_consumer(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    sent = kumo(
        eventhubs_namespace, "send", "--hub", event_hub, "--partition", "1", "--property", "k=v",
        "--property", "origin=kumo cli", "--content-type", "text/plain", "--json", *TEXTS,
    )
    assert json_lines(sent.stdout) == [{"eventHubName": event_hub, "partitionID": "1", "sent": len(TEXTS)}]
    # Standard input: one event per line, no properties or content type.
    kumo(eventhubs_namespace, "send", "--hub", event_hub, "--partition", "1", stdin="line one ü\nline two\n")
    received = receive(
        consumer(eventhubs_namespace.connection_string, event_hub), len(TEXTS) + 2, partition_id="1",
        starting_position="-1",
    )
    events = received.events
    assert received.bodies() == [t.encode("utf-8") for t in TEXTS] + ["line one ü".encode("utf-8"), b"line two"]
    assert [e.sequence_number for e in events] == list(range(len(TEXTS) + 2))
    for event in events[: len(TEXTS)]:
        assert event.properties == {b"k": b"v", b"origin": b"kumo cli"}
        assert event.content_type == "text/plain"
    for event in events[len(TEXTS):]:
        assert event.properties == {}
        assert event.content_type is None


def test_kumo_sends_by_partition_key(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    kumo(eventhubs_namespace, "send", "--hub", event_hub, "--partition-key", "device-7", "a", "b")
    kumo(eventhubs_namespace, "send", "--hub", event_hub, "--partition-key", "device-7", "c")
    by_partition = receive_partitions(eventhubs_namespace.connection_string, event_hub, ["0", "1", "2", "3"], 3)
    holders = {p: events for p, events in by_partition.items() if events}
    assert len(holders) == 1
    (events,) = holders.values()
    assert [body_bytes(e) for e in events] == [b"a", b"b", b"c"]
    assert [e.partition_key for e in events] == [b"device-7"] * 3


def _python_events(namespace: EventHubsNamespace, hub: str, partition: str) -> List[EventData]:
    """Sends events with string properties, one send at a time (so their enqueued times differ), and reads them
    back with the Python consumer."""
    bodies = [t.encode("utf-8") for t in TEXTS] + [b"\x00\xff\xfe binary \x80", b""]
    with producer(namespace.connection_string, hub) as client:
        for n, body in enumerate(bodies):
            event = EventData(body)
            event.properties = {"source": "python", "index": str(n)}
            if n == 0:
                event.content_type = "application/json"
            client.send_event(event, partition_id=partition)
            time.sleep(0.003)
    received = receive(consumer(namespace.connection_string, hub), len(bodies), partition_id=partition, starting_position="-1")
    assert received.bodies() == bodies
    return received.events


def _record(event: EventData, partition: str, properties: Dict[str, Any]) -> Dict[str, Any]:
    body = body_bytes(event)
    record: Dict[str, Any] = {
        "partitionID": partition, "sequenceNumber": event.sequence_number, "offset": event.offset,
        "enqueuedTime": iso_ms(raw_enqueued_ms(event)), "properties": properties,
    }
    try:
        record["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        record["bodyBase64"] = base64.b64encode(body).decode("ascii")
    if event.content_type is not None:
        record["contentType"] = event.content_type
    return record


def test_events_python_sends_are_printed_by_kumo(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    events = _python_events(eventhubs_namespace, event_hub, "2")
    printed = json_lines(kumo(eventhubs_namespace, "receive", "--hub", event_hub, "--partition", "2", "--json", "--idle", "2").stdout)
    expected = [
        _record(e, "2", {"source": "python", "index": str(n)}) for n, e in enumerate(events)
    ]
    # Bodies, sequence numbers, offsets and properties first, so a failure names the field that differs.
    fields = ["partitionID", "sequenceNumber", "offset", "properties", "body", "bodyBase64", "contentType"]
    assert [{k: r.get(k) for k in fields} for r in printed] == [{k: r.get(k) for k in fields} for r in expected]
    # The body bytes, decoded back from what kumo printed.
    printed_bytes = [
        r["body"].encode("utf-8") if "body" in r else base64.b64decode(r["bodyBase64"]) for r in printed
    ]
    assert printed_bytes == [body_bytes(e) for e in events]
    # Enqueued times as the hub stamped them (x-opt-enqueued-time, milliseconds).
    assert [r["enqueuedTime"] for r in printed] == [r["enqueuedTime"] for r in expected]
    assert printed == expected


def test_kumo_receive_starts_where_asked(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    events = _python_events(eventhubs_namespace, event_hub, "3")

    def sequence_numbers(*arguments: str) -> List[int]:
        output = kumo(eventhubs_namespace, "receive", "--hub", event_hub, "--partition", "3", "--json", *arguments)
        return [r["sequenceNumber"] for r in json_lines(output.stdout)]

    # --idle ends a read once the partition is quiet; --count after that many events.
    assert sequence_numbers("--from", "seq:2", "--idle", "1") == [3, 4, 5]
    assert sequence_numbers("--from", "seq:2", "--inclusive", "--count", "4") == [2, 3, 4, 5]
    assert sequence_numbers("--from", f"offset:{events[3].offset}", "--count", "2") == [4, 5]
    assert sequence_numbers("--from", f"offset:{events[3].offset}", "--inclusive", "--count", "3") == [3, 4, 5]
    # A time with the hub's milliseconds: the events enqueued after it.
    assert sequence_numbers("--from", f"time:{iso_ms(raw_enqueued_ms(events[4]))}", "--count", "1") == [5]


def test_kumo_properties_match_the_python_client(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    events = _python_events(eventhubs_namespace, event_hub, "0")
    hub = json_lines(kumo(eventhubs_namespace, "properties", "--hub", event_hub, "--json").stdout)
    partition = json_lines(kumo(eventhubs_namespace, "properties", "--hub", event_hub, "--partition", "0", "--json").stdout)
    empty = json_lines(kumo(eventhubs_namespace, "properties", "--hub", event_hub, "--partition", "1", "--json").stdout)
    with producer(eventhubs_namespace.connection_string, event_hub) as client:
        created = client.get_eventhub_properties()["created_at"]
    last = events[-1]
    times = ["createdOn", "lastEnqueuedTime"]
    expected_hub = {"name": event_hub, "partitionIDs": ["0", "1", "2", "3"], "createdOn": iso(created)}
    expected_partition = {
        "eventHubName": event_hub, "partitionID": "0", "beginningSequenceNumber": 0, "isEmpty": False,
        "lastEnqueuedSequenceNumber": last.sequence_number, "lastEnqueuedOffset": last.offset,
        "lastEnqueuedTime": iso_ms(raw_enqueued_ms(last)),
    }
    # An empty partition: the hub answers -1, "-1" and 0001-01-01T00:00:00Z (.NET's DateTime.MinValue).
    expected_empty = {
        "eventHubName": event_hub, "partitionID": "1", "beginningSequenceNumber": -1, "isEmpty": True,
        "lastEnqueuedSequenceNumber": -1, "lastEnqueuedOffset": "-1", "lastEnqueuedTime": "0001-01-01T00:00:00.000Z",
    }
    # Everything but the times first, so a failure names what differs.
    def without_times(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in times} for r in records]

    assert without_times(hub + partition + empty) == without_times([expected_hub, expected_partition, expected_empty])
    assert empty == [expected_empty]
    assert partition == [expected_partition]
    assert hub == [expected_hub]


def test_kumo_prints_typed_properties_as_json_values(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    with producer(eventhubs_namespace.connection_string, event_hub) as client:
        event = EventData(b"typed")
        event.properties = {"count": 7, "ratio": 1.5, "flag": True, "name": "x"}
        client.send_event(event, partition_id="0")
    printed = json_lines(kumo(eventhubs_namespace, "receive", "--hub", event_hub, "--partition", "0", "--json", "--idle", "1.5").stdout)
    assert [r["properties"] for r in printed] == [{"count": 7, "ratio": 1.5, "flag": True, "name": "x"}]
