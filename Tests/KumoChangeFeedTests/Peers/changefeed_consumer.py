"""Reads every event of every partition of a hub with Microsoft's azure-eventhub SDK and prints one JSON line per
event: the partition, the hub's sequence number and the CloudEvent's Kumo attributes. Stops once each partition's
last enqueued event (as the hub reported it at the start) has been read.

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
    lock = threading.Lock()
    done = threading.Event()
    if not remaining:
        done.set()

    def on_event(context, event):
        if event is None:
            return
        partition = context.partition_id
        body = json.loads(b"".join(event.body))
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
            print(json.dumps(line, sort_keys=True), flush=True)
            if event.sequence_number >= targets[partition]:
                remaining.discard(partition)
                if not remaining:
                    done.set()

    worker = threading.Thread(
        target=lambda: client.receive(on_event=on_event, starting_position="-1", max_wait_time=1), daemon=True
    )
    worker.start()
    if not done.wait(timeout=300):
        print(json.dumps({"error": "timed out", "remaining": sorted(remaining)}), flush=True)
        client.close()
        sys.exit(1)
    client.close()


if __name__ == "__main__":
    main()
