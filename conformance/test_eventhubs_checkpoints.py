"""Checkpoints in Blob Storage: Microsoft's `BlobCheckpointStore` (azure-eventhub-checkpointstoreblob) run by an
`EventHubConsumerClient` against the emulator's Event Hubs and Blob service (one process). The layout it writes
is the one Kumo's Swift `BlobCheckpointStore` writes: empty block blobs named, all lower-cased,

    {fully qualified namespace}/{event hub}/{consumer group}/checkpoint/{partition}   metadata offset, sequencenumber
    {fully qualified namespace}/{event hub}/{consumer group}/ownership/{partition}    metadata ownerid

where the namespace of an emulator connection string is `127.0.0.1:PORT`. A checkpoint written by hand in that
layout (as Kumo writes it) makes the Python consumer resume right after it."""

from __future__ import annotations

import time
import uuid
from typing import Dict, Iterator

import pytest
from azure.eventhub import EventData
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
from azure.storage.blob import BlobServiceClient, ContainerClient

from eventhubs_support import CONSUMER_GROUP, EventHubsNamespace, Receiver, consumer, producer, stop_all
from support import CLIENT_OPTIONS, connection_string, unique_name


@pytest.fixture
def checkpoint_container(eventhubs_namespace: EventHubsNamespace) -> Iterator[ContainerClient]:
    """A fresh container in the Event Hubs emulator's own Blob service."""
    service = BlobServiceClient.from_connection_string(
        connection_string(eventhubs_namespace.emulator.blob_endpoint), **CLIENT_OPTIONS
    )
    container = service.create_container(unique_name("checkpoints"))
    try:
        yield container
    finally:
        container.delete_container()


def _store(namespace: EventHubsNamespace, container: ContainerClient) -> BlobCheckpointStore:
    return BlobCheckpointStore.from_connection_string(
        connection_string(namespace.emulator.blob_endpoint), container.container_name
    )


def _blobs(container: ContainerClient) -> Dict[str, Dict[str, str]]:
    return {b.name: dict(b.metadata or {}) for b in container.list_blobs(include=["metadata"])}


def test_python_store_writes_kumos_layout(
    eventhubs_namespace: EventHubsNamespace, event_hub: str, checkpoint_container: ContainerClient
) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"zero {n}") for n in range(3)], partition_id="0")
        client.send_batch([EventData(f"two {n}") for n in range(2)], partition_id="2")
    store = _store(eventhubs_namespace, checkpoint_container)
    prefix = f"{eventhubs_namespace.fully_qualified_namespace}/{event_hub}/{CONSUMER_GROUP}/".lower()
    ownership = [f"{prefix}ownership/{p}" for p in "0123"]

    receiver = Receiver(
        consumer(connection, event_hub, consumer_group=CONSUMER_GROUP, checkpoint_store=store),
        on_event_hook=lambda context, event: context.update_checkpoint(event),
        starting_position="-1", load_balancing_strategy="greedy", load_balancing_interval=1,
    ).start()
    try:
        assert receiver.wait_until(lambda r: len(r.events) == 5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not set(ownership) <= set(_blobs(checkpoint_container)):
            time.sleep(0.1)
        time.sleep(0.3)
        blobs = _blobs(checkpoint_container)
        listed_ownership = store.list_ownership(eventhubs_namespace.fully_qualified_namespace, event_hub, CONSUMER_GROUP)
    finally:
        stop_all([receiver])
    events = {p: [e for q, e in zip(receiver.received.partitions, receiver.received.events) if q == p] for p in "02"}
    last_0, last_2 = events["0"][-1], events["2"][-1]
    assert (last_0.sequence_number, last_2.sequence_number) == (2, 1)

    assert sorted(blobs) == sorted(ownership + [f"{prefix}checkpoint/0", f"{prefix}checkpoint/2"])
    assert blobs[f"{prefix}checkpoint/0"] == {"offset": last_0.offset, "sequencenumber": "2"}
    assert blobs[f"{prefix}checkpoint/2"] == {"offset": last_2.offset, "sequencenumber": "1"}
    owners = {blobs[name]["ownerid"] for name in ownership}
    assert len(owners) == 1
    (owner,) = owners
    assert str(uuid.UUID(owner)) == owner  # the processor's id
    assert {name: blobs[name] for name in ownership} == {name: {"ownerid": owner} for name in ownership}
    assert sorted((o["partition_id"], o["owner_id"]) for o in listed_ownership) == [(p, owner) for p in "0123"]
    # Every record is an empty block blob.
    for name in blobs:
        properties = checkpoint_container.get_blob_client(name).get_blob_properties()
        assert (properties.size, properties.blob_type.value) == (0, "BlockBlob")

    # A fresh store reads the checkpoints back.
    checkpoints = _store(eventhubs_namespace, checkpoint_container).list_checkpoints(
        eventhubs_namespace.fully_qualified_namespace, event_hub, CONSUMER_GROUP
    )
    assert sorted(checkpoints, key=lambda c: c["partition_id"]) == [
        {
            "fully_qualified_namespace": eventhubs_namespace.fully_qualified_namespace, "eventhub_name": event_hub,
            "consumer_group": CONSUMER_GROUP, "partition_id": "0", "offset": last_0.offset, "sequence_number": 2,
        },
        {
            "fully_qualified_namespace": eventhubs_namespace.fully_qualified_namespace, "eventhub_name": event_hub,
            "consumer_group": CONSUMER_GROUP, "partition_id": "2", "offset": last_2.offset, "sequence_number": 1,
        },
    ]


def test_python_consumer_resumes_after_a_checkpoint_written_as_kumo_writes_it(
    eventhubs_namespace: EventHubsNamespace, event_hub: str, checkpoint_container: ContainerClient
) -> None:
    connection = eventhubs_namespace.connection_string
    with producer(connection, event_hub) as client:
        client.send_batch([EventData(f"one {n}") for n in range(3)], partition_id="1")
        checkpointed = client.get_partition_properties("1")
        client.send_batch([EventData(f"one {n}") for n in range(3, 6)], partition_id="1")
        client.send_batch([EventData(f"three {n}") for n in range(2)], partition_id="3")
    assert checkpointed["last_enqueued_sequence_number"] == 2
    # Kumo's layout: an empty block blob, its name lower-cased, the position in its metadata.
    name = f"{eventhubs_namespace.fully_qualified_namespace}/{event_hub}/$Default/checkpoint/1".lower()
    checkpoint_container.get_blob_client(name).upload_blob(
        b"", metadata={"offset": checkpointed["last_enqueued_offset"], "sequencenumber": "2"}
    )
    receiver = Receiver(
        consumer(connection, event_hub, checkpoint_store=_store(eventhubs_namespace, checkpoint_container)),
        starting_position="-1", load_balancing_strategy="greedy", load_balancing_interval=1,
    ).start()
    try:
        receiver.wait_for(5, settle=0.5)
    finally:
        stop_all([receiver])
    received = receiver.received
    by_partition = {p: [e.sequence_number for q, e in zip(received.partitions, received.events) if q == p] for p in "0123"}
    # Partition 1 resumes after the checkpoint; partition 3, never checkpointed, starts at the beginning.
    assert by_partition == {"0": [], "1": [3, 4, 5], "2": [], "3": [0, 1]}
    assert [b for p, b in zip(received.partitions, received.bodies()) if p == "1"] == [b"one 3", b"one 4", b"one 5"]
    assert received.errors == []
