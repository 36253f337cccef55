"""Microsoft's Python SDK (azure-eventhub, its default pure-Python AMQP transport) doing what
kumo-eventhubs-bench does, for scripts/bench-eventhubs: send, receive and latency, printing one JSON object.

Usage: python_peer.py send|receive|latency [--hub H] [--partition P] [--count N] [--size S] [--prefetch N]
       [--rate R] [--seconds S]; the connection string comes from AZURE_EVENTHUBS_CONNECTION_STRING.
"""

import argparse
import json
import os
import resource
import threading
import time

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["send", "receive", "latency"])
    parser.add_argument("--hub", default="bench")
    parser.add_argument("--partition", default="0")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--prefetch", type=int, default=300)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    connection_string = os.environ["AZURE_EVENTHUBS_CONNECTION_STRING"]

    if args.mode == "send":
        producer = EventHubProducerClient.from_connection_string(connection_string, eventhub_name=args.hub)
        body = b"k" * args.size
        batch = producer.create_batch(partition_id=args.partition)
        start = time.perf_counter()
        sent = 0
        while sent < args.count:
            try:
                batch.add(EventData(body))
                sent += 1
            except ValueError:
                producer.send_batch(batch)
                batch = producer.create_batch(partition_id=args.partition)
        producer.send_batch(batch)
        elapsed = time.perf_counter() - start
        producer.close()
        print(json.dumps({"mode": "send", "client": "python", "events": args.count, "size": args.size, "seconds": elapsed,
                          "eventsPerSecond": args.count / elapsed, "peakRSSKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    elif args.mode == "receive":
        consumer = EventHubConsumerClient.from_connection_string(connection_string, "$Default", eventhub_name=args.hub)
        state = {"count": 0, "start": None, "end": None}

        def on_event_batch(context, events):
            for _ in events:
                if state["start"] is None:
                    state["start"] = time.perf_counter()
                state["count"] += 1
                if state["count"] == args.count:
                    state["end"] = time.perf_counter()
                    threading.Thread(target=consumer.close).start()
                    return

        consumer.receive_batch(on_event_batch=on_event_batch, partition_id=args.partition, starting_position="-1",
                               prefetch=args.prefetch, max_batch_size=args.prefetch)
        elapsed = state["end"] - state["start"]
        print(json.dumps({"mode": "receive", "client": "python", "events": state["count"], "prefetch": args.prefetch,
                          "seconds": elapsed, "eventsPerSecond": (state["count"] - 1) / elapsed,
                          "peakRSSKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    else:
        producer = EventHubProducerClient.from_connection_string(connection_string, eventhub_name=args.hub)
        consumer = EventHubConsumerClient.from_connection_string(connection_string, "$Default", eventhub_name=args.hub)
        total = int(args.rate * args.seconds)
        latencies = []
        done = threading.Event()

        def on_event(context, event):
            if event is None:
                return
            sent = event.properties.get(b"sent") or event.properties.get("sent")
            if sent is None:
                return
            latencies.append((time.time() - float(sent)) * 1000)
            if len(latencies) == total:
                done.set()

        reader = threading.Thread(target=lambda: consumer.receive(on_event=on_event, partition_id=args.partition, starting_position="@latest"))
        reader.start()
        time.sleep(2)
        producer.create_batch(partition_id=args.partition)
        start = time.perf_counter()
        for index in range(total):
            due = start + index / args.rate
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            batch = producer.create_batch(partition_id=args.partition)
            event = EventData(b"l" * args.size)
            event.properties = {"sent": time.time()}
            batch.add(event)
            producer.send_batch(batch)
        done.wait(60)
        consumer.close()
        reader.join(10)
        producer.close()
        latencies.sort()

        def percentile(p):
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

        print(json.dumps({"mode": "latency", "client": "python", "events": len(latencies), "rate": args.rate,
                          "p50ms": percentile(0.5), "p99ms": percentile(0.99)}))


if __name__ == "__main__":
    main()
