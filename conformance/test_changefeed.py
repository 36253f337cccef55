"""`kumo changefeed run` publishing a store's changes to the emulator's Event Hubs, read back with Microsoft's
azure-eventhub consumer, with the checkpoint in the emulator's Blob service read back with azure-storage-blob."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List

from azure.storage.blob import BlobServiceClient

from emulator import kumo_binary
from eventhubs_support import EventHubsNamespace, body_bytes, receive_partitions
from support import connection_string

PARTITIONS = ["0", "1", "2", "3"]
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def kumo(namespace: EventHubsNamespace, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment["AZURE_EVENTHUBS_CONNECTION_STRING"] = namespace.connection_string
    environment["AZURE_STORAGE_CONNECTION_STRING"] = connection_string(namespace.emulator.blob_endpoint)
    return subprocess.run(
        [str(kumo_binary()), *arguments], capture_output=True, timeout=timeout, env=environment, text=True,
        encoding="utf-8",
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"kumo failed ({result.returncode}):\n{result.stderr}"
    return result


def changes(namespace: EventHubsNamespace, hub: str, count: int) -> Dict[str, List[Dict[str, Any]]]:
    received = receive_partitions(namespace.connection_string, hub, PARTITIONS, count)
    out: Dict[str, List[Dict[str, Any]]] = {}
    for partition, events in received.items():
        out[partition] = []
        for event in events:
            assert event.content_type == CONTENT_TYPE
            out[partition].append(json.loads(body_bytes(event)))
    return out


def test_a_store_s_changes_reach_the_python_consumer_as_cloudevents(
    eventhubs_namespace: EventHubsNamespace, event_hub: str, tmp_path: Path
) -> None:
    db = str(tmp_path / "db")
    for index in range(12):
        ok(kumo(eventhubs_namespace, "kv", "put", "--db", db, f"user:{index:02d}", f"value {index}"))
    ok(kumo(eventhubs_namespace, "kv", "put", "--db", db, "--hex", "ff00", "0102"))
    ok(kumo(eventhubs_namespace, "kv", "delete", "--db", db, "user:00"))
    ok(kumo(eventhubs_namespace, "kv", "delete", "--db", db, "user:05", "--to", "user:08"))

    service = BlobServiceClient.from_connection_string(connection_string(eventhubs_namespace.emulator.blob_endpoint))
    container = f"feeds-{event_hub.lower()}"
    service.create_container(container)
    run = ok(kumo(
        eventhubs_namespace, "changefeed", "run", "--db", db, "--hub", event_hub, "--partition-key", "separator::",
        "--checkpoint", f"azure://{container}/kv/checkpoint.json", "--until-caught-up", "--json",
    ))
    final = json.loads(run.stdout.strip().splitlines()[-1])
    assert final["checkpoint"] == 15 and final["stopped"] is True

    # The checkpoint blob, as azure-storage-blob reads it.
    checkpoint = json.loads(service.get_blob_client(container, "kv/checkpoint.json").download_blob().readall())
    assert checkpoint["sequenceNumber"] == 15
    assert checkpoint["eventHub"].endswith("/" + event_hub)
    assert checkpoint["holder"].endswith(":" + db)

    # 14 single-partition changes and one range deletion in every partition.
    by_partition = changes(eventhubs_namespace, event_hub, 14 + len(PARTITIONS))
    events = [event for partition in by_partition.values() for event in partition]
    assert sorted({int(event["kumoseq"]) for event in events}) == list(range(1, 16))
    store_id = events[0]["source"].removeprefix("kumo://stores/")
    for event in events:
        # CloudEvents 1.0: the required attributes; extension names lower-case letters and digits.
        assert event["specversion"] == "1.0" and event["source"] == f"kumo://stores/{store_id}"
        assert event["id"] == f"{store_id}:{event['kumobatchseq']}:{int(event['kumoseq']) - int(event['kumobatchseq'])}"
        assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in event)
        assert event["time"].endswith("Z")
    puts = {base64.b64decode(e["kumokey"]): e for e in events if e["type"] == "kumo.kv.put"}
    assert base64.b64decode(puts[b"user:03"]["data_base64"]) == b"value 3"
    assert puts[b"user:03"]["subject"] == "user:03" and puts[b"user:03"]["kumocf"] == "default"
    assert puts[b"\xff\x00"]["subject"] == "%FF%00"
    deletes = [e for e in events if e["type"] == "kumo.kv.delete"]
    assert len(deletes) == 1 and "data_base64" not in deletes[0]
    ranges = [(p, e) for p, partition in by_partition.items() for e in partition if e["type"] == "kumo.kv.deleterange"]
    assert sorted(p for p, _ in ranges) == PARTITIONS
    assert base64.b64decode(ranges[0][1]["kumoendkey"]) == b"user:08"
    # The partition key is the part before ':', so every user:* change shares one partition, in order.
    user_partitions = {p for p, partition in by_partition.items() for e in partition
                       if e["type"] != "kumo.kv.deleterange" and base64.b64decode(e["kumokey"]).startswith(b"user:")}
    assert len(user_partitions) == 1
    sequence = [int(e["kumoseq"]) for e in by_partition[user_partitions.pop()] if e["type"] != "kumo.kv.deleterange"]
    assert sequence == sorted(sequence)

    # A second run resumes from the blob checkpoint: only the new change is published.
    ok(kumo(eventhubs_namespace, "kv", "put", "--db", db, "user:99", "late"))
    again = ok(kumo(
        eventhubs_namespace, "changefeed", "run", "--db", db, "--hub", event_hub,
        "--checkpoint", f"azure://{container}/kv/checkpoint.json", "--until-caught-up", "--json",
    ))
    assert json.loads(again.stdout.strip().splitlines()[-1])["eventsPublished"] == 1
    status = json.loads(ok(kumo(
        eventhubs_namespace, "changefeed", "status", "--db", db, "--checkpoint", f"azure://{container}/kv/checkpoint.json",
        "--json",
    )).stdout)
    assert status["checkpoint"] == 16 and status["lagSequences"] == 0


def test_an_unknown_hub_stops_the_feed_with_a_clear_error(eventhubs_namespace: EventHubsNamespace, tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    ok(kumo(eventhubs_namespace, "kv", "put", "--db", db, "k", "v"))
    result = kumo(eventhubs_namespace, "changefeed", "run", "--db", db, "--hub", "no-such-hub", "--until-caught-up")
    assert result.returncode == 5, result.stderr
    assert "no-such-hub" in result.stderr and "refused" in result.stderr
    assert "SAS_KEY_VALUE" not in result.stderr
