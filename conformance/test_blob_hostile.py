"""Hostile requests through Microsoft's SDK: names that would reach the emulator's internal keys, stale
Shared Key dates, and SAS create permission on existing blobs."""

from __future__ import annotations

import datetime as dt
import time
from email.utils import formatdate
from typing import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobClient,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    RetentionPolicy,
    generate_container_sas,
)

from emulator import EmulatorProcess
from support import ACCOUNT_KEY, ACCOUNT_NAME, CLIENT_OPTIONS, assert_http_error, connection_string, unique_name


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


@pytest.mark.parametrize("minutes, refused", [(-16, True), (-14, False), (16, True), (-3 * 365 * 24 * 60, True)])
def test_shared_key_dates_outside_fifteen_minutes_are_refused(
    emulator_connection_string: str, container: ContainerClient, minutes: int, refused: bool
) -> None:
    stamp = formatdate(time.time() + minutes * 60, usegmt=True)

    def date_the_request(request) -> None:  # runs before the SDK signs, so the stale date is signed
        request.http_request.headers["x-ms-date"] = stamp

    service = BlobServiceClient.from_connection_string(
        emulator_connection_string, raw_request_hook=date_the_request, **CLIENT_OPTIONS
    )
    blob = service.get_blob_client(container.container_name, "dated")
    if not refused:
        blob.upload_blob(b"data", overwrite=True)
        return
    with pytest.raises(HttpResponseError) as caught:
        blob.upload_blob(b"data", overwrite=True)
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    assert "Request date header" in str(caught.value)


def test_sas_create_permission_cannot_overwrite(blob_endpoint: str, container: ContainerClient) -> None:
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    sas = generate_container_sas(
        ACCOUNT_NAME, container.container_name, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(create=True), expiry=expiry,
    )
    url = f"{blob_endpoint}/{container.container_name}/created-once?{sas}"
    blob = BlobClient.from_blob_url(url, **CLIENT_OPTIONS)
    blob.upload_blob(b"first")
    with pytest.raises(HttpResponseError) as caught:
        blob.upload_blob(b"second", overwrite=True)
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")
    # Staging blocks is a create; committing them over the existing blob is an overwrite.
    blob.stage_block("QUE=", b"third")
    with pytest.raises(HttpResponseError) as caught:
        blob.commit_block_list(["QUE="])
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")
    assert container.get_blob_client("created-once").download_blob().readall() == b"first"

    writer = generate_container_sas(
        ACCOUNT_NAME, container.container_name, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(create=True, write=True), expiry=expiry,
    )
    BlobClient.from_blob_url(f"{blob_endpoint}/{container.container_name}/created-once?{writer}", **CLIENT_OPTIONS).upload_blob(
        b"fourth", overwrite=True
    )
    assert container.get_blob_client("created-once").download_blob().readall() == b"fourth"
