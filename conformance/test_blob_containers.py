"""Containers and authentication: Create/Delete Container, Get Container Properties, Set Container
Metadata, List Containers, and Shared Key authorization."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient

from support import (
    CLIENT_OPTIONS,
    WRONG_ACCOUNT_KEY,
    assert_etag,
    assert_http_error,
    assert_recent,
    connection_string,
    error_code,
    unique_name,
)


def _delete_quietly(service: BlobServiceClient, name: str) -> None:
    try:
        service.delete_container(name)
    except Exception:  # noqa: BLE001 - cleanup only
        pass


# --------------------------------------------------------------------------------------------------
# Create / delete


def test_create_container_then_properties(service: BlobServiceClient) -> None:
    name = unique_name("cc")
    try:
        client = service.create_container(name)
        assert isinstance(client, ContainerClient)
        props = client.get_container_properties()
        assert props.name == name
        assert_etag(props.etag)
        assert_recent(props.last_modified)
        assert not props.metadata, f"a container created without metadata must have none, got {props.metadata!r}"
    finally:
        _delete_quietly(service, name)


def test_create_container_with_metadata(service: BlobServiceClient) -> None:
    name = unique_name("cm")
    metadata = {"owner": "kumo", "purpose": "conformance"}
    try:
        client = service.create_container(name, metadata=metadata)
        assert client.get_container_properties().metadata == metadata
    finally:
        _delete_quietly(service, name)


def test_create_existing_container_is_conflict(container: ContainerClient, service: BlobServiceClient) -> None:
    with pytest.raises(ResourceExistsError) as info:
        service.create_container(container.container_name)
    assert_http_error(info.value, 409, "ContainerAlreadyExists")


def test_delete_container(service: BlobServiceClient) -> None:
    name = unique_name("cd")
    client = service.create_container(name)
    client.delete_container()
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_container_properties()
    assert_http_error(info.value, 404, "ContainerNotFound")


def test_delete_missing_container_is_not_found(service: BlobServiceClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        service.delete_container(unique_name("nx"))
    assert_http_error(info.value, 404, "ContainerNotFound")


def test_properties_of_missing_container_is_not_found(service: BlobServiceClient) -> None:
    # HEAD has no body: the SDK takes the code from the x-ms-error-code header.
    with pytest.raises(ResourceNotFoundError) as info:
        service.get_container_client(unique_name("nx")).get_container_properties()
    assert_http_error(info.value, 404, "ContainerNotFound")


# --------------------------------------------------------------------------------------------------
# Metadata


def test_set_container_metadata_replaces_all(container: ContainerClient) -> None:
    before = container.get_container_properties()

    container.set_container_metadata({"first": "1", "second": "two"})
    after_first = container.get_container_properties()
    assert after_first.metadata == {"first": "1", "second": "two"}
    # Set Container Metadata is a write: it changes the container's ETag.
    assert after_first.etag != before.etag

    container.set_container_metadata({"third": "3"})
    assert container.get_container_properties().metadata == {"third": "3"}

    # Calling it with no metadata clears all of it.
    container.set_container_metadata({})
    assert not container.get_container_properties().metadata


def test_set_metadata_on_missing_container_is_not_found(service: BlobServiceClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        service.get_container_client(unique_name("nx")).set_container_metadata({"a": "b"})
    assert_http_error(info.value, 404, "ContainerNotFound")


# --------------------------------------------------------------------------------------------------
# List Containers


@pytest.fixture
def five_containers(service: BlobServiceClient):
    prefix = unique_name("ls")[:14]
    names = [f"{prefix}-{i}" for i in (3, 0, 4, 1, 2)]  # created out of order on purpose
    created = []
    try:
        for index, name in enumerate(names):
            service.create_container(name, metadata={"index": str(index)})
            created.append(name)
        yield prefix, sorted(names)
    finally:
        for name in created:
            _delete_quietly(service, name)


def test_list_containers_name_starts_with(service: BlobServiceClient, five_containers) -> None:
    prefix, names = five_containers
    other = unique_name("lo")
    service.create_container(other)
    try:
        listed = [c.name for c in service.list_containers(name_starts_with=prefix)]
        # Azure lists containers in alphabetical order.
        assert listed == names
        assert other not in listed
        for c in service.list_containers(name_starts_with=prefix):
            assert_etag(c.etag)
            assert_recent(c.last_modified)
    finally:
        _delete_quietly(service, other)


def test_list_containers_include_metadata(service: BlobServiceClient, five_containers) -> None:
    prefix, names = five_containers
    with_metadata = {c.name: c.metadata for c in service.list_containers(name_starts_with=prefix, include_metadata=True)}
    assert sorted(with_metadata) == names
    assert {m["index"] for m in with_metadata.values()} == {"0", "1", "2", "3", "4"}
    assert all(len(m) == 1 for m in with_metadata.values()), with_metadata

    # Without include=metadata the service returns no metadata.
    for c in service.list_containers(name_starts_with=prefix):
        assert not c.metadata, f"metadata returned without include=metadata: {c.name}: {c.metadata!r}"


def test_list_containers_paging_by_page(service: BlobServiceClient, five_containers) -> None:
    prefix, names = five_containers
    pages = list(service.list_containers(name_starts_with=prefix, results_per_page=2).by_page())
    page_names = [[c.name for c in page] for page in pages]
    assert all(len(p) <= 2 for p in page_names), page_names
    assert len([p for p in page_names if p]) >= 3, f"5 containers at 2 per page need 3+ pages: {page_names}"
    flat = [n for p in page_names for n in p]
    assert flat == names, f"every container exactly once, in order: {page_names}"


def test_list_containers_resume_from_continuation_token(service: BlobServiceClient, five_containers) -> None:
    prefix, names = five_containers
    seen = []
    token = None
    requests = 0
    while True:
        pager = service.list_containers(name_starts_with=prefix, results_per_page=2).by_page(continuation_token=token)
        page = [c.name for c in next(pager)]
        requests += 1
        assert len(page) <= 2
        seen.extend(page)
        token = pager.continuation_token
        if not token:
            break
        assert requests < 20, "continuation tokens never ran out"
    assert seen == names
    assert requests >= 3


# --------------------------------------------------------------------------------------------------
# Authentication


def test_wrong_account_key_is_authentication_failed(blob_endpoint: str, container: ContainerClient) -> None:
    bad = BlobServiceClient.from_connection_string(connection_string(blob_endpoint, WRONG_ACCOUNT_KEY), **CLIENT_OPTIONS)

    # GET with an XML error body.
    with pytest.raises(HttpResponseError) as info:
        list(bad.list_containers())
    assert isinstance(info.value, ClientAuthenticationError)
    assert_http_error(info.value, 403, "AuthenticationFailed")

    # HEAD: the code comes from the x-ms-error-code header.
    with pytest.raises(HttpResponseError) as info:
        bad.get_container_client(container.container_name).get_container_properties()
    assert_http_error(info.value, 403, "AuthenticationFailed")


def test_wrong_account_key_cannot_write(blob_endpoint: str, service: BlobServiceClient) -> None:
    bad = BlobServiceClient.from_connection_string(connection_string(blob_endpoint, WRONG_ACCOUNT_KEY), **CLIENT_OPTIONS)
    name = unique_name("wk")
    try:
        with pytest.raises(HttpResponseError) as info:
            bad.create_container(name)
        assert_http_error(info.value, 403, "AuthenticationFailed")
        # The rejected request must not have created anything.
        with pytest.raises(ResourceNotFoundError):
            service.get_container_client(name).get_container_properties()
    finally:
        _delete_quietly(service, name)


def _assert_anonymous_rejected(exc: HttpResponseError) -> None:
    status = exc.status_code
    assert status is not None and not (200 <= status < 300)
    # Azure answers an anonymous request on a private container with 404 ResourceNotFound (it does
    # not reveal the container); 401/403 are acceptable refusals too, and 409
    # PublicAccessNotPermitted is what an account with anonymous access disabled returns.
    allowed = status in (401, 403, 404) or (status == 409 and error_code(exc) == "PublicAccessNotPermitted")
    assert allowed, f"unexpected status {status} ({error_code(exc)}) for an anonymous request"


def test_anonymous_request_on_container_is_rejected(blob_endpoint: str, container: ContainerClient) -> None:
    anonymous = ContainerClient(account_url=blob_endpoint, container_name=container.container_name, **CLIENT_OPTIONS)
    assert anonymous.credential is None

    with pytest.raises(HttpResponseError) as info:
        anonymous.get_container_properties()
    _assert_anonymous_rejected(info.value)

    with pytest.raises(HttpResponseError) as info:
        list(anonymous.list_blobs())
    _assert_anonymous_rejected(info.value)


def test_anonymous_upload_is_rejected(blob_endpoint: str, container: ContainerClient) -> None:
    anonymous = ContainerClient(account_url=blob_endpoint, container_name=container.container_name, **CLIENT_OPTIONS)
    name = unique_name("anon")
    with pytest.raises(HttpResponseError) as info:
        anonymous.upload_blob(name, b"should not be stored", overwrite=True)
    _assert_anonymous_rejected(info.value)
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client(name).get_blob_properties()

