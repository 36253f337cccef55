"""Persistence: everything the emulator accepted is still there after it is stopped (SIGTERM) and started
again on the same data directory: containers, blobs, committed and uncommitted blocks, metadata and
properties, leases, service properties, soft-deleted blobs and versions."""

from __future__ import annotations

from typing import Callable

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobServiceClient, ContentSettings, RetentionPolicy
import pytest

from emulator import EmulatorProcess
from support import CLIENT_OPTIONS, assert_http_error, connection_string


def _service(emulator: EmulatorProcess) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(connection_string(emulator.blob_endpoint), **CLIENT_OPTIONS)


def test_state_survives_a_restart(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator()
    service = _service(emulator)
    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=4))
    docs = service.create_container("docs", metadata={"team": "storage"})
    leased_container = service.create_container("leased")
    container_lease = leased_container.acquire_lease(lease_duration=-1)

    small = docs.get_blob_client("small.txt")
    small_etag = small.upload_blob(
        b"small blob", metadata={"kind": "note"}, content_settings=ContentSettings(content_type="text/plain")
    )["etag"]
    blocks = docs.get_blob_client("blocks.bin")
    blocks.stage_block("MDE=", b"first-")
    blocks.stage_block("MDI=", b"second")
    blocks.commit_block_list([BlobBlock("MDE="), BlobBlock("MDI=")])
    staging = docs.get_blob_client("staging.bin")
    staging.stage_block("MDM=", b"not yet committed")
    locked = docs.get_blob_client("locked.txt")
    locked.upload_blob(b"locked")
    blob_lease = locked.acquire_lease(lease_duration=-1)
    trash = docs.get_blob_client("trash.txt")
    trash.upload_blob(b"deleted but kept")
    trash.delete_blob()

    emulator.restart()
    service = _service(emulator)
    docs = service.get_container_client("docs")

    assert {c.name for c in service.list_containers()} == {"docs", "leased"}
    assert docs.get_container_properties().metadata == {"team": "storage"}
    assert service.get_service_properties()["delete_retention_policy"].days == 4

    props = docs.get_blob_client("small.txt").get_blob_properties()
    assert (props.etag, props.metadata, props.content_settings.content_type) == (small_etag, {"kind": "note"}, "text/plain")
    assert docs.get_blob_client("small.txt").download_blob().readall() == b"small blob"
    blocks = docs.get_blob_client("blocks.bin")
    assert blocks.download_blob().readall() == b"first-second"
    committed, _ = blocks.get_block_list("committed")
    assert [b.id for b in committed] == ["MDE=", "MDI="]
    _, uncommitted = docs.get_blob_client("staging.bin").get_block_list("uncommitted")
    assert [(b.id, b.size) for b in uncommitted] == [("MDM=", len(b"not yet committed"))]

    locked = docs.get_blob_client("locked.txt")
    assert (locked.get_blob_properties().lease.state, locked.get_blob_properties().lease.duration) == ("leased", "infinite")
    with pytest.raises(HttpResponseError) as caught:
        locked.upload_blob(b"no lease", overwrite=True)
    assert_http_error(caught.value, 412, "LeaseIdMissing")
    locked.upload_blob(b"with lease", overwrite=True, lease=blob_lease.id)
    leased = service.get_container_client("leased")
    assert leased.get_container_properties().lease.state == "leased"
    with pytest.raises(HttpResponseError) as caught:
        leased.delete_container()
    assert_http_error(caught.value, 412, "LeaseIdMissing")
    leased.delete_container(lease=container_lease.id)

    deleted = [b for b in docs.list_blobs(include=["deleted"]) if b.deleted]
    assert [(b.name, b.remaining_retention_days) for b in deleted] == [("trash.txt", 4)]
    docs.get_blob_client("trash.txt").undelete_blob()
    assert docs.get_blob_client("trash.txt").download_blob().readall() == b"deleted but kept"

    # Staged blocks are still committable after the restart.
    staging = docs.get_blob_client("staging.bin")
    staging.commit_block_list(["MDM="])
    assert staging.download_blob().readall() == b"not yet committed"


def test_versions_survive_a_restart(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--versioning")
    container = _service(emulator).create_container("versions")
    blob = container.get_blob_client("doc")
    ids = [blob.upload_blob(data, overwrite=True)["version_id"] for data in (b"v1", b"v2", b"v3")]
    blob.delete_blob()

    emulator.restart()
    container = _service(emulator).get_container_client("versions")
    listed = [(b.version_id, bool(b.is_current_version)) for b in container.list_blobs(include=["versions"])]
    assert listed == [(ids[0], False), (ids[1], False), (ids[2], False)]
    blob = container.get_blob_client("doc")
    assert [blob.download_blob(version_id=v).readall() for v in ids] == [b"v1", b"v2", b"v3"]
    newest = blob.upload_blob(b"v4")["version_id"]
    assert newest > ids[-1]
