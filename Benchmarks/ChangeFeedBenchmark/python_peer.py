"""Microsoft's Python SDK (azure-eventhub) sending the change feed's events, for scripts/bench-changefeed: the same
CloudEvents bodies the feed publishes, to the same partitions, in the same order per partition, in batches as large
as the hub accepts. Reading the file is not timed. Prints one JSON object.

Usage: python_peer.py --events FILE --hub H; the connection string comes from AZURE_EVENTHUBS_CONNECTION_STRING.
"""

import argparse
import base64
import json
import os
import resource
import time

from azure.eventhub import EventData, EventHubProducerClient

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", required=True)
    parser.add_argument("--hub", required=True)
    args = parser.parse_args()
    by_partition = {}
    with open(args.events) as source:
        for line in source:
            partition, body = line.rstrip("\n").split("\t")
            by_partition.setdefault(partition, []).append(base64.b64decode(body))
    total = sum(len(bodies) for bodies in by_partition.values())
    producer = EventHubProducerClient.from_connection_string(os.environ["AZURE_EVENTHUBS_CONNECTION_STRING"], eventhub_name=args.hub)
    # Connect and attach outside the timed part.
    for partition in by_partition:
        producer.create_batch(partition_id=partition)
    start = time.perf_counter()
    start_cpu = time.process_time()
    for partition, bodies in by_partition.items():
        batch = producer.create_batch(partition_id=partition)
        for body in bodies:
            event = EventData(body)
            event.content_type = CONTENT_TYPE
            try:
                batch.add(event)
            except ValueError:
                producer.send_batch(batch)
                batch = producer.create_batch(partition_id=partition)
                batch.add(event)
        producer.send_batch(batch)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    producer.close()
    print(json.dumps({"mode": "throughput", "client": "python", "events": total, "seconds": elapsed,
                      "eventsPerSecond": total / elapsed, "cpuSeconds": cpu,
                      "peakRSSKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
