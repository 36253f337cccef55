#!/usr/bin/env python3
"""Prints the Event Hubs SAS test vectors pinned in Tests/AzureMessagingEventHubsTests/SharedAccessSignatureTests.swift.

Each token is made by Microsoft's own implementation, `generate_sas_token` from azure-eventhub
(`azure/eventhub/_pyamqp/utils.py`, the function its EventHubSharedKeyCredential calls), so the Swift signer is
checked against an independent implementation rather than against itself. Needs `pip install azure-eventhub`:

    python3 -m venv /tmp/ehvenv && /tmp/ehvenv/bin/pip install azure-eventhub
    /tmp/ehvenv/bin/python scripts/conformance-eventhubs-vectors.py

Resources are passed already lower-cased: Kumo lower-cases the resource URI before signing (as .NET's
Azure.Messaging.EventHubs does when it builds the audience); Python signs whatever it is given.
"""

from importlib.metadata import version

from azure.eventhub._pyamqp.utils import generate_sas_token

VECTORS = [
    # (resource URI, key name, key, expiry in Unix seconds)
    ("sb://kumo-test.servicebus.windows.net/orders", "RootManageSharedAccessKey", "kumo-test-key-5", 1767225600),
    ("sb://localhost/eh1", "RootManageSharedAccessKey", "SAS_KEY_VALUE", 4102444800),
    ("sb://kumo-test.servicebus.windows.net/", "send-only_policy.1", "cl\u00e9-\u00fcn\u00efcode=+/", 1700000000),
]

if __name__ == "__main__":
    print(f"# azure-eventhub {version('azure-eventhub')}")
    for resource, key_name, key, expiry in VECTORS:
        print(f"{resource!r} {key_name!r} {key!r} {expiry}")
        print(f"  {generate_sas_token(resource, key_name, key, expiry)}")
