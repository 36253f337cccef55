"""Reads every event of every partition of a hub with Microsoft's azure-eventhub SDK and prints one JSON line per
event: the partition, the hub's sequence number and the CloudEvent's Kumo attributes. Stops once each partition's
last enqueued event (as the hub reported it at the start) has been read.

Each partition has its own client and thread: one client receiving all partitions serves them in turn from one
thread, and once a partition runs dry it waits on it between every event of the others.

Usage: changefeed_consumer.py CONNECTION_STRING HUB
"""

import json
import sys
import threading

from azure.eventhub import EventHubConsumerClient


def main() -> None:
    connection_string, hub = sys.argv[1], sys.argv[2]
    client = EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group="$Default", eventhub_name=hub
    )
    targets = {}
    for partition in client.get_partition_ids():
        properties = client.get_partition_properties(partition)
        if not properties["is_empty"]:
            targets[partition] = properties["last_enqueued_sequence_number"]
    remaining = set(targets)
    last_seen = {}
    lock = threading.Lock()
    done = threading.Event()
    if not remaining:
        done.set()

    def on_event(context, event):
        if event is None:
            return
        partition = context.partition_id
        raw = b"".join(event.body)
        try:
            body = json.loads(raw)
        except ValueError as error:
            # Reported, not raised: an exception here makes the SDK re-read the partition from the start forever.
            with lock:
                print(json.dumps({"error": f"not JSON: {error}", "partition": partition,
                                  "hubSequenceNumber": event.sequence_number, "size": len(raw),
                                  "start": raw[:80].decode("latin-1")}), flush=True)
                done.set()
            return
        line = {
            "partition": partition,
            "hubSequenceNumber": event.sequence_number,
            "contentType": event.content_type,
            "id": body["id"],
            "type": body["type"],
            "seq": int(body["kumoseq"]),
            "batchseq": int(body["kumobatchseq"]),
            "key": body["kumokey"],
            "data": body.get("data_base64"),
        }
        with lock:
            last_seen[partition] = event.sequence_number
            print(json.dumps(line, sort_keys=True), flush=True)
            if event.sequence_number >= targets[partition]:
                remaining.discard(partition)
                if not remaining:
                    done.set()

    readers = []
    for partition in targets:
        reader = EventHubConsumerClient.from_connection_string(
            connection_string, consumer_group="$Default", eventhub_name=hub
        )
        readers.append(reader)
        threading.Thread(
            target=lambda reader=reader, partition=partition: reader.receive(
                on_event=on_event, partition_id=partition, starting_position="-1", max_wait_time=1
            ),
            daemon=True,
        ).start()
    finished = done.wait(timeout=120)
    for reader in readers:
        reader.close()
    client.close()
    if not finished:
        print(json.dumps({"error": "timed out", "remaining": sorted(remaining), "targets": targets, "lastSeen": last_seen}), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
