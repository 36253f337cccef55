"""Shared pieces of the Event Hubs conformance tests: clients for the emulator's hubs and receives that always
end (every receive runs in a thread with a deadline and is closed afterwards).

Microsoft's Python client (`azure-eventhub`, pure-Python AMQP) reaches the emulator through the connection
string it prints: `Endpoint=sb://127.0.0.1:PORT;...;UseDevelopmentEmulator=true` turns TLS off and keeps the
port. Received application properties come back with `bytes` keys and `bytes` string values: that is how the
SDK's pyamqp decoder hands them out, against Azure as well.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient

# The emulator's development key (public, like devstoreaccount1's key) and the namespace-wide key name.
KEY_NAME = "RootManageSharedAccessKey"
KEY = "SAS_KEY_VALUE"

# Clients fail fast on a server bug instead of retrying for seconds. A consumer's socket timeout is how long
# each of its polls waits for data (0.2 s by default), which is also the pause between events once a
# receive spans partitions; 0.05 s keeps the suite quick.
PRODUCER_OPTIONS: Dict[str, Any] = {"retry_total": 0}
CONSUMER_OPTIONS: Dict[str, Any] = {"retry_total": 0, "socket_timeout": 0.05}

# The longest any single receive in this suite may take before it is ended and reported.
RECEIVE_DEADLINE_SECONDS = 20.0


def producer(connection_string: str, hub: str, **options: Any) -> EventHubProducerClient:
    settings = dict(PRODUCER_OPTIONS)
    settings.update(options)
    return EventHubProducerClient.from_connection_string(connection_string, eventhub_name=hub, **settings)


def consumer(connection_string: str, hub: str, consumer_group: str = "$Default", **options: Any) -> EventHubConsumerClient:
    settings = dict(CONSUMER_OPTIONS)
    settings.update(options)
    return EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group=consumer_group, eventhub_name=hub, **settings
    )


def body_bytes(event: EventData) -> bytes:
    """The event's body exactly as sent: the concatenated data sections."""
    return b"".join(event.body)


def utc_from_ms(milliseconds: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(milliseconds=milliseconds)


def raw_enqueued_ms(event: EventData) -> int:
    """`x-opt-enqueued-time` as the hub sent it (milliseconds since the epoch), without the SDK's conversion."""
    return event.system_properties[b"x-opt-enqueued-time"]


@dataclass
class Received:
    """What one receive saw, in the order the callbacks ran."""

    events: List[EventData] = field(default_factory=list)
    partitions: List[str] = field(default_factory=list)
    batches: List[List[EventData]] = field(default_factory=list)
    errors: List[Exception] = field(default_factory=list)
    closes: List[Tuple[str, Any]] = field(default_factory=list)
    last_enqueued: List[Optional[Dict[str, Any]]] = field(default_factory=list)

    def bodies(self) -> List[bytes]:
        return [body_bytes(e) for e in self.events]

    def keyed(self) -> List[Tuple[str, int]]:
        return [(p, e.sequence_number) for p, e in zip(self.partitions, self.events)]


class Receiver:
    """Runs `EventHubConsumerClient.receive` (or `receive_batch`) in a thread; `wait_for` blocks until enough
    events arrived or the deadline passed; `stop` closes the client and joins the thread (bounded)."""

    def __init__(
        self, client: EventHubConsumerClient, *, batch: bool = False,
        on_event_hook: Optional[Callable[[Any, EventData], None]] = None, **receive_options: Any,
    ) -> None:
        self.client = client
        self.received = Received()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._hook = on_event_hook
        options: Dict[str, Any] = {"max_wait_time": 0.5}
        options.update(receive_options)
        options.setdefault("on_error", self._on_error)
        options.setdefault("on_partition_close", self._on_close)
        if batch:
            target = client.receive_batch
            options["on_event_batch"] = self._on_batch
        else:
            target = client.receive
            options["on_event"] = self._on_event
        self._thread = threading.Thread(target=target, kwargs=options, daemon=True)
        self._stopped = False

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def _record(self, context: Any, event: EventData) -> None:
        self.received.events.append(event)
        self.received.partitions.append(context.partition_id)
        if self._hook is not None:
            self._hook(context, event)

    def _on_event(self, context: Any, event: Optional[EventData]) -> None:
        if event is None:
            return
        with self._changed:
            self._record(context, event)
            self.received.last_enqueued.append(context.last_enqueued_event_properties)
            self._changed.notify_all()

    def _on_batch(self, context: Any, events: List[EventData]) -> None:
        if not events:
            return
        with self._changed:
            self.received.batches.append(list(events))
            for event in events:
                self._record(context, event)
            self._changed.notify_all()

    def _on_error(self, context: Any, error: Exception) -> None:
        with self._changed:
            self.received.errors.append(error)
            self._changed.notify_all()

    def _on_close(self, context: Any, reason: Any) -> None:
        with self._changed:
            self.received.closes.append((context.partition_id, reason))
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[Received], bool], timeout: float = RECEIVE_DEADLINE_SECONDS) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.2))
            return True

    def wait_for(self, count: int, timeout: float = RECEIVE_DEADLINE_SECONDS, settle: float = 0.5) -> Received:
        """Waits for `count` events, then `settle` seconds more so extra (duplicate) events show up too."""
        self.wait_until(lambda r: len(r.events) >= count, timeout)
        if settle > 0:
            time.sleep(settle)
        return self.received

    def stop(self) -> Received:
        if not self._stopped:
            self._stopped = True
            self.client.close()
            self._thread.join(15)
        assert not self._thread.is_alive(), "the consumer's receive did not end within 15 s of close()"
        return self.received

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def stop_all(receivers: List[Receiver]) -> None:
    """Stops receivers side by side: closing a client and ending its receive takes about a second each."""
    stoppers = [threading.Thread(target=r.stop, daemon=True) for r in receivers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(20)
    for receiver in receivers:
        receiver.stop()  # already stopped: only checks that its thread ended


def receive(
    client: EventHubConsumerClient, count: int, *, timeout: float = RECEIVE_DEADLINE_SECONDS, settle: float = 0.5,
    **receive_options: Any,
) -> Received:
    """Receives until `count` events arrived (plus `settle` seconds) or `timeout` passed, then closes the client."""
    with Receiver(client, **receive_options) as receiver:
        receiver.wait_for(count, timeout=timeout, settle=settle)
    return receiver.received


def receive_partitions(
    connection_string: str, hub: str, partitions: List[str], count: int, *, timeout: float = RECEIVE_DEADLINE_SECONDS,
    settle: float = 0.5, consumer_group: str = "$Default", **receive_options: Any,
) -> Dict[str, List[EventData]]:
    """Reads the partitions side by side (one client each) until `count` events arrived in total (plus `settle`
    seconds) or `timeout` passed; returns each partition's events in the order received."""
    options: Dict[str, Any] = {"starting_position": "-1"}
    options.update(receive_options)
    receivers = {
        partition: Receiver(consumer(connection_string, hub, consumer_group), partition_id=partition, **options).start()
        for partition in partitions
    }
    try:
        deadline = time.monotonic() + timeout
        while sum(len(r.received.events) for r in receivers.values()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        if settle > 0:
            time.sleep(settle)
    finally:
        stop_all(list(receivers.values()))
    return {partition: list(r.received.events) for partition, r in receivers.items()}


# The session's Event Hubs emulator declares this many hubs up front (hubs cannot be created at run time); each
# test takes one nobody else has used, so partitions start empty. Mixed-case names show where Azure lower-cases.
HUB_POOL_SIZE = 40
HUB_PARTITIONS = 4
CONSUMER_GROUP = "Kumo-Group"


def hub_pool_names() -> List[str]:
    return [f"Hub{n:02d}" for n in range(1, HUB_POOL_SIZE + 1)]


def hub_pool_arguments() -> List[str]:
    arguments: List[str] = []
    for name in hub_pool_names():
        arguments += ["--event-hub", f"{name}:{HUB_PARTITIONS}", "--consumer-group", f"{name}:{CONSUMER_GROUP}"]
    return arguments


class EventHubsNamespace:
    """The session's Event Hubs emulator: its connection strings and the pool of fresh hubs."""

    def __init__(self, emulator: Any, started_at: _dt.datetime) -> None:
        self.emulator = emulator
        self.started_at = started_at
        self._unused = hub_pool_names()
        self._lock = threading.Lock()

    @property
    def connection_string(self) -> str:
        return self.emulator.eventhubs_connection_string()

    @property
    def fully_qualified_namespace(self) -> str:
        """What the Python SDK calls the namespace of an emulator connection string: host and port."""
        return f"127.0.0.1:{self.emulator.amqp_port}"

    def take_hub(self) -> str:
        with self._lock:
            if not self._unused:
                raise RuntimeError(f"all {HUB_POOL_SIZE} event hubs of the session emulator are taken; raise HUB_POOL_SIZE")
            return self._unused.pop(0)
