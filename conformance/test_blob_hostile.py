"""Hostile requests through Microsoft's SDK: names that would reach the emulator's internal keys, stale
Shared Key dates, and SAS create permission on existing blobs."""

from __future__ import annotations

from typing import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient, RetentionPolicy

from emulator import EmulatorProcess
from support import CLIENT_OPTIONS, assert_http_error, connection_string, unique_name


@pytest.fixture
def own_service(dedicated_emulator: Callable[..., EmulatorProcess]) -> BlobServiceClient:
    """An emulator of the test's own, since the retention policy is account-wide."""
    emulator = dedicated_emulator()
    return BlobServiceClient.from_connection_string(connection_string(emulator.blob_endpoint), **CLIENT_OPTIONS)


def test_name_with_nul_cannot_replace_a_soft_deleted_blob(own_service: BlobServiceClient) -> None:
    own_service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=3))
    container = own_service.create_container(unique_name("names"))
    victim = container.get_blob_client("victim")
    victim.upload_blob(b"original")
    victim.delete_blob()
    with pytest.raises(HttpResponseError) as caught:
        container.get_blob_client("victim\x00d").upload_blob(b"forged")
    assert_http_error(caught.value, 400, "InvalidResourceName")
    victim.undelete_blob()
    assert victim.download_blob().readall() == b"original"


@pytest.mark.parametrize("name", ["x" * 1025, "tab\there", "bell\x07", "c1\u0085control"])
def test_names_azure_refuses_are_refused(container: ContainerClient, name: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        container.get_blob_client(name).upload_blob(b"data")
    assert_http_error(caught.value, 400, "InvalidResourceName")


def test_longest_name_is_accepted(container: ContainerClient) -> None:
    name = "n" * 1024
    container.get_blob_client(name).upload_blob(b"data")
    assert [blob.name for blob in container.list_blobs()] == [name]
