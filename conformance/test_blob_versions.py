"""Blob versioning (an account setting in Azure; `kumo emulator --versioning` here): every write keeps the
previous state as a version, version ids in responses and listings, reads and deletes by `versionid`."""

from __future__ import annotations

import re
from typing import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, RetentionPolicy

from emulator import EmulatorProcess
from support import CLIENT_OPTIONS, assert_http_error, connection_string, unique_name

# Azure's version ids are the write time in ISO 8601 with seven fractional digits.
VERSION_ID = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")


@pytest.fixture
def versioned_service(dedicated_emulator: Callable[..., EmulatorProcess]) -> BlobServiceClient:
    emulator = dedicated_emulator("--versioning")
    return BlobServiceClient.from_connection_string(connection_string(emulator.blob_endpoint), **CLIENT_OPTIONS)


def test_each_write_creates_a_version(versioned_service: BlobServiceClient) -> None:
    container = versioned_service.create_container(unique_name("ver"))
    blob = container.get_blob_client("doc.txt")
    v1 = blob.upload_blob(b"one", overwrite=True)["version_id"]
    v2 = blob.upload_blob(b"two", overwrite=True)["version_id"]
    v3 = blob.set_blob_metadata({"state": "three"})["version_id"]
    for version in (v1, v2, v3):
        assert VERSION_ID.match(version), version
    assert v1 < v2 < v3

    props = blob.get_blob_properties()
    assert props.version_id == v3
    assert props.is_current_version is True
    assert blob.download_blob(version_id=v1).readall() == b"one"
    old = blob.get_blob_properties(version_id=v1)
    assert old.version_id == v1
    assert old.is_current_version is False
    assert old.size == 3
    assert blob.get_blob_properties(version_id=v2).metadata == {}
    assert blob.download_blob().readall() == b"two"


def test_set_properties_does_not_create_a_version(versioned_service: BlobServiceClient) -> None:
    container = versioned_service.create_container(unique_name("ver"))
    blob = container.get_blob_client("doc.txt")
    version = blob.upload_blob(b"one")["version_id"]
    blob.set_http_headers()
    assert blob.get_blob_properties().version_id == version
    assert [b.version_id for b in container.list_blobs(include=["versions"])] == [version]


def test_list_with_versions(versioned_service: BlobServiceClient) -> None:
    container = versioned_service.create_container(unique_name("ver"))
    a = container.get_blob_client("a")
    versions = [a.upload_blob(data, overwrite=True)["version_id"] for data in (b"1", b"22", b"333")]
    container.get_blob_client("b").upload_blob(b"b")

    plain = list(container.list_blobs())
    assert [b.name for b in plain] == ["a", "b"]
    assert plain[0].version_id == versions[-1] and plain[0].is_current_version

    listed = [(b.name, b.version_id, bool(b.is_current_version), b.size) for b in container.list_blobs(include=["versions"])]
    assert listed[:3] == [("a", versions[0], False, 1), ("a", versions[1], False, 2), ("a", versions[2], True, 3)]
    assert listed[3][0] == "b" and listed[3][2] is True


def test_deleting_the_blob_keeps_its_versions(versioned_service: BlobServiceClient) -> None:
    container = versioned_service.create_container(unique_name("ver"))
    blob = container.get_blob_client("doc.txt")
    v1 = blob.upload_blob(b"one")["version_id"]
    v2 = blob.upload_blob(b"two", overwrite=True)["version_id"]
    blob.delete_blob()
    assert not blob.exists()
    with pytest.raises(HttpResponseError) as caught:
        blob.download_blob()
    assert_http_error(caught.value, 404, "BlobNotFound")
    assert [b.name for b in container.list_blobs()] == []
    listed = [(b.version_id, bool(b.is_current_version)) for b in container.list_blobs(include=["versions"])]
    assert listed == [(v1, False), (v2, False)]
    assert blob.download_blob(version_id=v2).readall() == b"two"

    # Writing again makes a new current version beside the old ones.
    v3 = blob.upload_blob(b"three")["version_id"]
    assert [b.version_id for b in container.list_blobs(include=["versions"])] == [v1, v2, v3]


def test_delete_a_version(versioned_service: BlobServiceClient) -> None:
    container = versioned_service.create_container(unique_name("ver"))
    blob = container.get_blob_client("doc.txt")
    v1 = blob.upload_blob(b"one")["version_id"]
    v2 = blob.upload_blob(b"two", overwrite=True)["version_id"]
    blob.delete_blob(version_id=v1)
    assert [b.version_id for b in container.list_blobs(include=["versions"])] == [v2]
    assert blob.download_blob().readall() == b"two"
    with pytest.raises(HttpResponseError) as caught:
        blob.download_blob(version_id=v1)
    assert_http_error(caught.value, 404, "BlobNotFound")
    with pytest.raises(HttpResponseError) as caught:
        blob.delete_blob(version_id=v1)
    assert_http_error(caught.value, 404, "BlobNotFound")


def test_block_list_commits_create_versions(versioned_service: BlobServiceClient) -> None:
    container = versioned_service.create_container(unique_name("ver"))
    blob = container.get_blob_client("blocks")
    blob.stage_block("YQ==", b"a" * 10)
    first = blob.commit_block_list(["YQ=="])["version_id"]
    blob.stage_block("Yg==", b"b" * 5)
    second = blob.commit_block_list(["YQ==", "Yg=="])["version_id"]
    assert first < second
    # The old version still reads the shared block's data.
    assert blob.download_blob(version_id=first).readall() == b"a" * 10
    assert blob.download_blob().readall() == b"a" * 10 + b"b" * 5
    blob.delete_blob(version_id=first)
    assert blob.download_blob().readall() == b"a" * 10 + b"b" * 5


def test_unversioned_account_sends_no_version_id(container) -> None:
    blob = container.get_blob_client(unique_name("plain"))
    result = blob.upload_blob(b"x")
    assert result.get("version_id") is None
    assert blob.get_blob_properties().version_id is None


def test_with_soft_delete_deleted_versions_are_kept_and_undeleted(versioned_service: BlobServiceClient) -> None:
    versioned_service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=2))
    container = versioned_service.create_container(unique_name("ver"))
    blob = container.get_blob_client("doc.txt")
    v1 = blob.upload_blob(b"one")["version_id"]
    v2 = blob.upload_blob(b"two", overwrite=True)["version_id"]
    seen = {}
    blob.delete_blob(
        version_id=v1,
        raw_response_hook=lambda r: seen.update(permanent=r.http_response.headers.get("x-ms-delete-type-permanent")),
    )
    assert seen["permanent"] == "false"
    assert [b.version_id for b in container.list_blobs(include=["versions"])] == [v2]
    with pytest.raises(HttpResponseError) as caught:
        blob.download_blob(version_id=v1)
    assert_http_error(caught.value, 404, "BlobNotFound")
    listed = [(b.version_id, bool(b.deleted), b.remaining_retention_days) for b in container.list_blobs(include=["versions", "deleted"])]
    assert listed == [(v1, True, 2), (v2, False, None)]

    # Undelete Blob restores the soft-deleted versions.
    blob.undelete_blob()
    assert [b.version_id for b in container.list_blobs(include=["versions"])] == [v1, v2]
    assert blob.download_blob(version_id=v1).readall() == b"one"
    assert blob.download_blob().readall() == b"two"
