"""Blob soft delete: Set/Get Blob Service Properties with a DeleteRetentionPolicy, listing deleted blobs
with include=deleted, Undelete Blob, and x-ms-delete-snapshots on blobs without snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, Metrics, RetentionPolicy

from emulator import EmulatorProcess
from support import CLIENT_OPTIONS, assert_http_error, assert_recent, connection_string, unique_name


@pytest.fixture
def own_service(dedicated_emulator: Callable[..., EmulatorProcess]) -> BlobServiceClient:
    """An emulator of the test's own, since the retention policy is account-wide."""
    emulator = dedicated_emulator()
    return BlobServiceClient.from_connection_string(connection_string(emulator.blob_endpoint), **CLIENT_OPTIONS)


def test_service_properties_round_trip(own_service: BlobServiceClient) -> None:
    initial = own_service.get_service_properties()
    assert initial["delete_retention_policy"].enabled is False

    own_service.set_service_properties(
        delete_retention_policy=RetentionPolicy(enabled=True, days=7),
        hour_metrics=Metrics(enabled=True, include_apis=True, retention_policy=RetentionPolicy(enabled=True, days=5)),
    )
    props = own_service.get_service_properties()
    assert props["delete_retention_policy"].enabled is True
    assert props["delete_retention_policy"].days == 7
    assert props["hour_metrics"].enabled is True
    assert props["hour_metrics"].include_apis is True
    assert props["hour_metrics"].retention_policy.days == 5
    # Sections left out of a Set request keep their values.
    own_service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=False))
    props = own_service.get_service_properties()
    assert props["delete_retention_policy"].enabled is False
    assert props["hour_metrics"].enabled is True


@pytest.mark.parametrize("days", [0, 366])
def test_retention_days_out_of_range_is_rejected(own_service: BlobServiceClient, days: int) -> None:
    with pytest.raises(HttpResponseError) as caught:
        own_service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=days))
    assert_http_error(caught.value, 400, "InvalidXmlNodeValue")
    assert own_service.get_service_properties()["delete_retention_policy"].enabled is False


def test_deleted_blob_is_listed_and_undeleted(own_service: BlobServiceClient) -> None:
    own_service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=3))
    container = own_service.create_container(unique_name("sd"))
    blob = container.get_blob_client("keep-me")
    blob.upload_blob(b"precious", metadata={"k": "v"})
    container.get_blob_client("live").upload_blob(b"live")

    blob.delete_blob()
    assert not blob.exists()
    assert [b.name for b in container.list_blobs()] == ["live"]
    listed = {b.name: b for b in container.list_blobs(include=["deleted", "metadata"])}
    assert set(listed) == {"keep-me", "live"}
    deleted = listed["keep-me"]
    assert deleted.deleted is True
    assert_recent(deleted.deleted_time)
    assert deleted.remaining_retention_days == 3
    assert deleted.metadata == {"k": "v"}
    assert not listed["live"].deleted

    blob.undelete_blob()
    assert blob.download_blob().readall() == b"precious"
    assert blob.get_blob_properties().metadata == {"k": "v"}
    assert [b.name for b in container.list_blobs(include=["deleted"])] == ["keep-me", "live"]
    # Undelete of a blob that is not deleted succeeds and changes nothing.
    blob.undelete_blob()
    assert blob.download_blob().readall() == b"precious"


def test_delete_reports_whether_permanent(own_service: BlobServiceClient) -> None:
    container = own_service.create_container(unique_name("sd"))
    blob = container.get_blob_client("b")
    seen = {}

    def capture(response):
        seen["permanent"] = response.http_response.headers.get("x-ms-delete-type-permanent")

    blob.upload_blob(b"x")
    blob.delete_blob(raw_response_hook=capture)
    assert seen["permanent"] == "true"
    with pytest.raises(HttpResponseError) as caught:
        blob.undelete_blob()
    assert_http_error(caught.value, 404, "BlobNotFound")

    own_service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=1))
    blob.upload_blob(b"x")
    blob.delete_blob(raw_response_hook=capture)
    assert seen["permanent"] == "false"


def test_without_retention_deleted_blobs_are_gone(own_service: BlobServiceClient) -> None:
    container = own_service.create_container(unique_name("sd"))
    blob = container.get_blob_client("b")
    blob.upload_blob(b"x")
    blob.delete_blob()
    assert list(container.list_blobs(include=["deleted"])) == []


def test_delete_snapshots_on_blob_without_snapshots(own_service: BlobServiceClient) -> None:
    container = own_service.create_container(unique_name("sd"))
    blob = container.get_blob_client("b")
    blob.upload_blob(b"x")
    # "only" deletes the snapshots, of which there are none: the blob stays.
    blob.delete_blob(delete_snapshots="only")
    assert blob.download_blob().readall() == b"x"
    # "include" deletes the blob with its (no) snapshots.
    blob.delete_blob(delete_snapshots="include")
    assert not blob.exists()
    with pytest.raises(HttpResponseError) as caught:
        blob.delete_blob(delete_snapshots="include")
    assert_http_error(caught.value, 404, "BlobNotFound")


def test_invalid_delete_snapshots_value_is_rejected(own_service: BlobServiceClient) -> None:
    container = own_service.create_container(unique_name("sd"))
    blob = container.get_blob_client("b")
    blob.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as caught:
        blob.delete_blob(headers={"x-ms-delete-snapshots": "everything"})
    assert_http_error(caught.value, 400, "InvalidHeaderValue")
    assert blob.exists()
