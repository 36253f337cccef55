"""Leases: Lease Blob and Lease Container (acquire, renew, change, release, break), the lease headers and
listing elements, and how a lease guards writes and deletes (Azure's "Lease Blob" / "Lease Container"
reference and its table of outcomes by lease state)."""

from __future__ import annotations

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobLeaseClient, BlobServiceClient, ContainerClient

from support import assert_http_error, unique_name


def _leased_blob(container: ContainerClient, duration: int = -1, data: bytes = b"leased content"):
    blob = container.get_blob_client(unique_name("lease"))
    blob.upload_blob(data, overwrite=True)
    return blob, blob.acquire_lease(lease_duration=duration)


def _lease_state(props) -> tuple:
    return (props.lease.status, props.lease.state, props.lease.duration)


def test_acquire_reports_lease_in_properties_and_listing(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container, duration=30)
    assert uuid.UUID(lease.id)
    assert _lease_state(blob.get_blob_properties()) == ("locked", "leased", "fixed")
    listed = {b.name: b for b in container.list_blobs()}
    item = listed[blob.blob_name]
    assert (item.lease.status, item.lease.state, item.lease.duration) == ("locked", "leased", "fixed")

    other, _ = _leased_blob(container)
    assert _lease_state(other.get_blob_properties()) == ("locked", "leased", "infinite")
    unleased = container.get_blob_client(unique_name("plain"))
    unleased.upload_blob(b"x")
    assert _lease_state(unleased.get_blob_properties()) == ("unlocked", "available", None)


def test_acquire_with_proposed_id_uses_it(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("lease"))
    blob.upload_blob(b"x")
    proposed = str(uuid.uuid4())
    lease = blob.acquire_lease(lease_duration=15, lease_id=proposed)
    assert lease.id == proposed


def test_acquire_on_leased_blob_is_lease_already_present(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container)
    with pytest.raises(HttpResponseError) as caught:
        blob.acquire_lease(lease_duration=-1)
    assert_http_error(caught.value, 409, "LeaseAlreadyPresent")
    with pytest.raises(HttpResponseError) as caught:
        blob.acquire_lease(lease_duration=-1, lease_id=str(uuid.uuid4()))
    assert_http_error(caught.value, 409, "LeaseAlreadyPresent")
    # Acquiring again with the active lease id succeeds and may change the duration.
    again = blob.acquire_lease(lease_duration=20, lease_id=lease.id)
    assert again.id == lease.id
    assert _lease_state(blob.get_blob_properties()) == ("locked", "leased", "fixed")


@pytest.mark.parametrize("duration", [10, 61, 0, -2])
def test_invalid_lease_duration_is_rejected(container: ContainerClient, duration: int) -> None:
    blob = container.get_blob_client(unique_name("lease"))
    blob.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as caught:
        blob.acquire_lease(lease_duration=duration)
    assert_http_error(caught.value, 400, "InvalidHeaderValue")
    assert _lease_state(blob.get_blob_properties())[1] == "available"


def test_lease_on_missing_blob_is_blob_not_found(container: ContainerClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        container.get_blob_client(unique_name("missing")).acquire_lease()
    assert_http_error(caught.value, 404, "BlobNotFound")


def test_writes_to_leased_blob_need_the_lease_id(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container)
    wrong = str(uuid.uuid4())
    attempts = {
        "upload": lambda lease_arg: blob.upload_blob(b"new", overwrite=True, lease=lease_arg),
        "metadata": lambda lease_arg: blob.set_blob_metadata({"k": "v"}, lease=lease_arg),
        "properties": lambda lease_arg: blob.set_http_headers(lease=lease_arg),
        "stage": lambda lease_arg: blob.stage_block("YmxvY2sx", b"block", lease=lease_arg),
        "commit": lambda lease_arg: blob.commit_block_list([], lease=lease_arg),
        "delete": lambda lease_arg: blob.delete_blob(lease=lease_arg),
    }
    for name, attempt in attempts.items():
        with pytest.raises(HttpResponseError) as caught:
            attempt(None)
        assert_http_error(caught.value, 412, "LeaseIdMissing")
        with pytest.raises(HttpResponseError) as caught:
            attempt(wrong)
        assert_http_error(caught.value, 412, "LeaseIdMismatchWithBlobOperation")
    assert blob.download_blob().readall() == b"leased content"

    blob.upload_blob(b"new content", overwrite=True, lease=lease)
    blob.set_blob_metadata({"k": "v"}, lease=lease.id)
    # Overwriting a leased blob keeps the lease.
    assert _lease_state(blob.get_blob_properties()) == ("locked", "leased", "infinite")
    assert blob.get_blob_properties().metadata == {"k": "v"}
    blob.delete_blob(lease=lease)
    assert not blob.exists()


def test_reads_need_no_lease_but_a_given_one_must_match(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container)
    assert blob.download_blob().readall() == b"leased content"
    assert blob.download_blob(lease=lease).readall() == b"leased content"
    with pytest.raises(HttpResponseError) as caught:
        blob.get_blob_properties(lease=str(uuid.uuid4()))
    assert_http_error(caught.value, 412, "LeaseIdMismatchWithBlobOperation")


def test_lease_id_on_unleased_blob_is_lease_not_present(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("plain"))
    blob.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as caught:
        blob.set_blob_metadata({"a": "b"}, lease=str(uuid.uuid4()))
    assert_http_error(caught.value, 412, "LeaseNotPresentWithBlobOperation")


def test_renew_change_release(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container, duration=15)
    lease.renew()
    stranger = BlobLeaseClient(blob, lease_id=str(uuid.uuid4()))
    with pytest.raises(HttpResponseError) as caught:
        stranger.renew()
    assert_http_error(caught.value, 409, "LeaseIdMismatchWithLeaseOperation")
    with pytest.raises(HttpResponseError) as caught:
        stranger.release()
    assert_http_error(caught.value, 409, "LeaseIdMismatchWithLeaseOperation")

    old_id = lease.id
    new_id = str(uuid.uuid4())
    lease.change(proposed_lease_id=new_id)
    assert lease.id == new_id
    with pytest.raises(HttpResponseError) as caught:
        blob.set_blob_metadata({"a": "b"}, lease=old_id)
    assert_http_error(caught.value, 412, "LeaseIdMismatchWithBlobOperation")
    blob.set_blob_metadata({"a": "b"}, lease=new_id)
    # Still a fixed lease after the change.
    assert _lease_state(blob.get_blob_properties()) == ("locked", "leased", "fixed")

    lease.release()
    assert _lease_state(blob.get_blob_properties()) == ("unlocked", "available", None)
    blob.set_blob_metadata({"free": "again"})
    with pytest.raises(HttpResponseError) as caught:
        BlobLeaseClient(blob, lease_id=new_id).renew()
    assert_http_error(caught.value, 409, "LeaseNotPresentWithLeaseOperation")


def test_break_immediately_then_reacquire(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container)
    assert lease.break_lease(lease_break_period=0) == 0
    assert _lease_state(blob.get_blob_properties()) == ("unlocked", "broken", None)
    # A broken lease no longer guards writes, and its id is no longer accepted.
    blob.set_blob_metadata({"after": "break"})
    with pytest.raises(HttpResponseError) as caught:
        blob.set_blob_metadata({"x": "y"}, lease=lease.id)
    assert_http_error(caught.value, 412, "LeaseNotPresentWithBlobOperation")
    with pytest.raises(HttpResponseError) as caught:
        lease.renew()
    assert_http_error(caught.value, 409, "LeaseIsBrokenAndCannotBeRenewed")
    fresh = blob.acquire_lease(lease_duration=-1)
    assert fresh.id != lease.id
    assert _lease_state(blob.get_blob_properties())[1] == "leased"


def test_break_with_period_passes_through_breaking(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container)
    assert lease.break_lease(lease_break_period=2) == 2
    assert _lease_state(blob.get_blob_properties()) == ("locked", "breaking", None)
    # While breaking, writes still need the lease id, and a new lease cannot be acquired.
    with pytest.raises(HttpResponseError) as caught:
        blob.set_blob_metadata({"x": "y"})
    assert_http_error(caught.value, 412, "LeaseIdMissing")
    blob.set_blob_metadata({"x": "y"}, lease=lease.id)
    with pytest.raises(HttpResponseError) as caught:
        blob.acquire_lease()
    assert_http_error(caught.value, 409, "LeaseAlreadyPresent")
    with pytest.raises(HttpResponseError) as caught:
        lease.change(proposed_lease_id=str(uuid.uuid4()))
    assert_http_error(caught.value, 409, "LeaseIsBreakingAndCannotBeChanged")
    time.sleep(2.5)
    assert _lease_state(blob.get_blob_properties()) == ("unlocked", "broken", None)


def test_break_without_lease_is_lease_not_present(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("plain"))
    blob.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as caught:
        BlobLeaseClient(blob).break_lease()
    assert_http_error(caught.value, 409, "LeaseNotPresentWithLeaseOperation")


def test_fixed_lease_expires(container: ContainerClient) -> None:
    blob, lease = _leased_blob(container, duration=15)
    holder = container.get_blob_client(blob.blob_name)
    time.sleep(15.5)
    assert _lease_state(blob.get_blob_properties()) == ("unlocked", "expired", None)
    # An expired lease no longer guards writes; naming it is LeaseLost.
    holder.set_blob_metadata({"after": "expiry"})
    with pytest.raises(HttpResponseError) as caught:
        holder.set_blob_metadata({"x": "y"}, lease=lease.id)
    assert_http_error(caught.value, 412, "LeaseLost")
    # The holder may renew an expired lease (nobody else took it) ...
    lease.renew()
    assert _lease_state(blob.get_blob_properties()) == ("locked", "leased", "fixed")
    lease.release()
    # ... and once expired again or released, anyone may acquire.
    other = blob.acquire_lease(lease_duration=15)
    assert other.id != lease.id


def test_container_lease_guards_delete(service: BlobServiceClient) -> None:
    container = service.create_container(unique_name("leasect"))
    try:
        lease = container.acquire_lease(lease_duration=-1)
        props = container.get_container_properties()
        assert (props.lease.status, props.lease.state, props.lease.duration) == ("locked", "leased", "infinite")
        listed = next(iter(service.list_containers(name_starts_with=container.container_name)))
        assert (listed.lease.status, listed.lease.state, listed.lease.duration) == ("locked", "leased", "infinite")

        with pytest.raises(HttpResponseError) as caught:
            container.delete_container()
        assert_http_error(caught.value, 412, "LeaseIdMissing")
        with pytest.raises(HttpResponseError) as caught:
            container.delete_container(lease=str(uuid.uuid4()))
        assert_http_error(caught.value, 412, "LeaseIdMismatchWithContainerOperation")
        with pytest.raises(HttpResponseError) as caught:
            container.acquire_lease()
        assert_http_error(caught.value, 409, "LeaseAlreadyPresent")
        # A container lease does not guard the blobs inside.
        container.upload_blob("inside", b"x")
        container.delete_container(lease=lease)
        assert not container.exists()
    finally:
        try:
            container.delete_container()
        except HttpResponseError:
            pass


def test_container_lease_release_and_break(service: BlobServiceClient) -> None:
    container = service.create_container(unique_name("leasect"))
    try:
        lease = container.acquire_lease(lease_duration=20)
        assert container.get_container_properties().lease.duration == "fixed"
        lease.release()
        assert container.get_container_properties().lease.state == "available"
        lease = container.acquire_lease()
        assert lease.break_lease(lease_break_period=0) == 0
        assert container.get_container_properties().lease.state == "broken"
        container.delete_container()
    finally:
        try:
            container.delete_container()
        except HttpResponseError:
            pass
