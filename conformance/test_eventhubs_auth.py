"""Event Hubs authorization through CBS put-token: a wrong key, an unknown hub, expired tokens and tokens for
another hub are refused as the SDK reports Azure's CBS errors (`AuthenticationError`); SAS tokens in a
connection string, `AzureSasCredential` and `AzureNamedKeyCredential` are accepted.

SAS tokens are made with Azure's documented algorithm (HMAC-SHA256 over the URL-encoded resource URI, a
newline and the expiry) and compared with the one the SDK's own helper makes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.exceptions import AuthenticationError, ConnectError

from eventhubs_support import KEY, KEY_NAME, EventHubsNamespace, Receiver, consumer, producer, receive


def sas_token(resource: str, key_name: str, key: str, expiry: int) -> str:
    encoded = urllib.parse.quote_plus(resource)
    digest = hmac.new(key.encode("utf-8"), f"{encoded}\n{expiry}".encode("utf-8"), hashlib.sha256).digest()
    signature = urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))
    return f"SharedAccessSignature sr={encoded}&sig={signature}&se={expiry}&skn={key_name}"


def _credential_producer(namespace: EventHubsNamespace, hub: str, credential) -> EventHubProducerClient:
    # Without a connection string the emulator's plain AMQP port needs use_tls=False, as the SDK does for
    # UseDevelopmentEmulator=true.
    return EventHubProducerClient(
        fully_qualified_namespace=namespace.fully_qualified_namespace, eventhub_name=hub, credential=credential,
        use_tls=False, retry_total=0,
    )


def _credential_consumer(namespace: EventHubsNamespace, hub: str, credential) -> EventHubConsumerClient:
    return EventHubConsumerClient(
        fully_qualified_namespace=namespace.fully_qualified_namespace, eventhub_name=hub, consumer_group="$Default",
        credential=credential, use_tls=False, retry_total=0, socket_timeout=0.05,
    )


def test_wrong_key_is_refused(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    wrong = eventhubs_namespace.emulator.eventhubs_connection_string(key="not-the-key")
    with producer(wrong, event_hub) as client:
        with pytest.raises(AuthenticationError):
            client.get_eventhub_properties()
        with pytest.raises(AuthenticationError):
            client.send_batch([EventData(b"refused")], partition_id="0")
    unknown_key_name = eventhubs_namespace.emulator.eventhubs_connection_string(key_name="NoSuchRule")
    with producer(unknown_key_name, event_hub) as client:
        with pytest.raises(AuthenticationError):
            client.send_event(EventData(b"refused"), partition_id="0")
    with Receiver(consumer(wrong, event_hub), partition_id="0", starting_position="-1") as receiver:
        assert receiver.wait_until(lambda r: bool(r.errors))
    assert isinstance(receiver.received.errors[0], AuthenticationError), repr(receiver.received.errors[0])
    with producer(eventhubs_namespace.connection_string, event_hub) as client:
        assert client.get_partition_properties("0")["is_empty"] is True


def test_unknown_hub_is_refused(eventhubs_namespace: EventHubsNamespace) -> None:
    # The hub answers put-token for an unknown entity with 404 amqp:not-found in the CBS reply; like every CBS
    # error with a condition, the SDK raises AuthenticationError (a ConnectError).
    with producer(eventhubs_namespace.connection_string, "no-such-hub") as client:
        with pytest.raises(AuthenticationError) as caught:
            client.get_eventhub_properties()
        assert isinstance(caught.value, ConnectError)
        with pytest.raises(ConnectError):
            client.send_batch([EventData(b"nowhere")])
    with Receiver(consumer(eventhubs_namespace.connection_string, "no-such-hub"), partition_id="0") as receiver:
        assert receiver.wait_until(lambda r: bool(r.errors))
    assert isinstance(receiver.received.errors[0], AuthenticationError), repr(receiver.received.errors[0])


def test_sas_token_helper_matches_the_sdk(eventhubs_namespace: EventHubsNamespace) -> None:
    from azure.eventhub._pyamqp.utils import generate_sas_token  # the helper the SDK signs keys with

    resource = f"sb://{eventhubs_namespace.fully_qualified_namespace}/hub"
    expiry = int(time.time()) + 600
    assert sas_token(resource, KEY_NAME, KEY, expiry) == generate_sas_token(resource, KEY_NAME, KEY, expiry)


def test_sas_connection_string(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    namespace = eventhubs_namespace.fully_qualified_namespace
    token = sas_token(f"sb://{namespace}/{event_hub}", KEY_NAME, KEY, int(time.time()) + 600)
    connection = f"Endpoint=sb://{namespace};SharedAccessSignature={token};UseDevelopmentEmulator=true"
    with producer(connection, event_hub) as client:
        assert client.get_partition_ids() == ["0", "1", "2", "3"]
        client.send_event(EventData(b"signed"), partition_id="1")
    # The hub's token covers its consumer groups too.
    received = receive(consumer(connection, event_hub), 1, partition_id="1", starting_position="-1", settle=0)
    assert received.bodies() == [b"signed"]
    assert received.errors == []


def test_sas_and_named_key_credentials(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    namespace = eventhubs_namespace.fully_qualified_namespace
    expiry = int(time.time()) + 600
    hub_token = sas_token(f"sb://{namespace}/{event_hub}", KEY_NAME, KEY, expiry)
    namespace_token = sas_token(f"sb://{namespace}/", KEY_NAME, KEY, expiry)
    for body, credential in [
        (b"hub token", AzureSasCredential(hub_token)),
        (b"namespace token", AzureSasCredential(namespace_token)),
        (b"named key", AzureNamedKeyCredential(KEY_NAME, KEY)),
    ]:
        with _credential_producer(eventhubs_namespace, event_hub, credential) as client:
            client.send_event(EventData(body), partition_id="2")
    received = receive(
        _credential_consumer(eventhubs_namespace, event_hub, AzureNamedKeyCredential(KEY_NAME, KEY)), 3,
        partition_id="2", starting_position="-1", settle=0,
    )
    assert received.bodies() == [b"hub token", b"namespace token", b"named key"]


def test_expired_and_foreign_tokens_are_refused(eventhubs_namespace: EventHubsNamespace, event_hub: str) -> None:
    namespace = eventhubs_namespace.fully_qualified_namespace
    now = int(time.time())
    refused = {
        "expired": sas_token(f"sb://{namespace}/{event_hub}", KEY_NAME, KEY, now - 60),
        "another hub": sas_token(f"sb://{namespace}/{event_hub}-other", KEY_NAME, KEY, now + 600),
        "wrong key": sas_token(f"sb://{namespace}/{event_hub}", KEY_NAME, "not-the-key", now + 600),
    }
    for name, token in refused.items():
        with _credential_producer(eventhubs_namespace, event_hub, AzureSasCredential(token)) as client:
            with pytest.raises(AuthenticationError):
                client.send_event(EventData(name.encode()), partition_id="3")
    with producer(eventhubs_namespace.connection_string, event_hub) as client:
        assert client.get_partition_properties("3")["is_empty"] is True
