"""Shared access signatures: service SAS for a blob (sr=b) or container (sr=c) and account SAS (ss/srt),
signed with the account key as azure-storage-blob signs them, and the documented 403 answers for a bad
signature, the time window, permissions, resource types, services, source IP and protocol."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    AccountSasPermissions,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    ResourceTypes,
    Services,
    generate_account_sas,
    generate_blob_sas,
    generate_container_sas,
)

from support import ACCOUNT_KEY, ACCOUNT_NAME, CLIENT_OPTIONS, WRONG_ACCOUNT_KEY, assert_http_error, unique_name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _in(minutes: float) -> dt.datetime:
    return _now() + dt.timedelta(minutes=minutes)


def _blob_sas(container: ContainerClient, blob: str, key: str = ACCOUNT_KEY, **kwargs) -> str:
    kwargs.setdefault("permission", BlobSasPermissions(read=True))
    kwargs.setdefault("expiry", _in(30))
    return generate_blob_sas(ACCOUNT_NAME, container.container_name, blob, account_key=key, **kwargs)


def _sas_blob_client(blob_endpoint: str, container: ContainerClient, blob: str, sas: str) -> BlobClient:
    return BlobClient(blob_endpoint, container.container_name, blob, credential=sas, **CLIENT_OPTIONS)


def _uploaded(container: ContainerClient, data: bytes = b"shared via sas") -> str:
    name = unique_name("sas")
    container.upload_blob(name, data)
    return name


def _detail(exc: HttpResponseError) -> str:
    return exc.response.text() if exc.response is not None else ""


def test_blob_sas_reads_a_blob(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    client = _sas_blob_client(blob_endpoint, container, name, _blob_sas(container, name))
    assert client.download_blob().readall() == b"shared via sas"
    assert client.get_blob_properties().size == len(b"shared via sas")


def test_read_only_blob_sas_cannot_write(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    client = _sas_blob_client(blob_endpoint, container, name, _blob_sas(container, name))
    for attempt in (
        lambda: client.upload_blob(b"overwrite", overwrite=True),
        lambda: client.set_blob_metadata({"a": "b"}),
        lambda: client.delete_blob(),
    ):
        with pytest.raises(HttpResponseError) as caught:
            attempt()
        assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")
    assert container.get_blob_client(name).download_blob().readall() == b"shared via sas"


def test_write_sas_uploads_and_delete_sas_deletes(blob_endpoint: str, container: ContainerClient) -> None:
    name = unique_name("sas")
    sas = _blob_sas(container, name, permission=BlobSasPermissions(create=True, write=True, delete=True))
    client = _sas_blob_client(blob_endpoint, container, name, sas)
    client.upload_blob(b"written with a sas")
    assert container.get_blob_client(name).download_blob().readall() == b"written with a sas"
    with pytest.raises(HttpResponseError) as caught:
        client.download_blob()
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")
    client.delete_blob()
    assert not container.get_blob_client(name).exists()


def test_blob_sas_does_not_open_another_blob(blob_endpoint: str, container: ContainerClient) -> None:
    first, second = _uploaded(container), _uploaded(container)
    client = _sas_blob_client(blob_endpoint, container, second, _blob_sas(container, first))
    with pytest.raises(HttpResponseError) as caught:
        client.download_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")


def test_signature_with_wrong_key_is_rejected_without_echoing_it(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    sas = _blob_sas(container, name, key=WRONG_ACCOUNT_KEY)
    with pytest.raises(HttpResponseError) as caught:
        _sas_blob_client(blob_endpoint, container, name, sas).download_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    signature = parse_qs(sas)["sig"][0]
    body = _detail(caught.value)
    assert "Signature did not match" in body
    assert signature not in body


def test_tampered_permissions_invalidate_the_signature(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    sas = _blob_sas(container, name)
    assert "sp=r&" in sas
    tampered = sas.replace("sp=r&", "sp=rwd&")
    with pytest.raises(HttpResponseError) as caught:
        _sas_blob_client(blob_endpoint, container, name, tampered).delete_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    assert container.get_blob_client(name).exists()


def test_expired_sas_is_rejected(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    sas = _blob_sas(container, name, start=_in(-60), expiry=_in(-1))
    with pytest.raises(HttpResponseError) as caught:
        _sas_blob_client(blob_endpoint, container, name, sas).download_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    assert "Signature not valid in the specified time frame" in _detail(caught.value)


def test_sas_before_its_start_is_rejected(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    sas = _blob_sas(container, name, start=_in(10), expiry=_in(60))
    with pytest.raises(HttpResponseError) as caught:
        _sas_blob_client(blob_endpoint, container, name, sas).download_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    assert "Signature not valid in the specified time frame" in _detail(caught.value)


def test_expiry_before_start_is_rejected(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    sas = _blob_sas(container, name, start=_in(-5), expiry=_in(-10))
    with pytest.raises(HttpResponseError) as caught:
        _sas_blob_client(blob_endpoint, container, name, sas).download_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    assert "must be after signed start time" in _detail(caught.value)


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.0-127.0.0.255"])
def test_signed_ip_allows_the_caller(blob_endpoint: str, container: ContainerClient, ip: str) -> None:
    name = _uploaded(container)
    client = _sas_blob_client(blob_endpoint, container, name, _blob_sas(container, name, ip=ip))
    assert client.download_blob().readall() == b"shared via sas"


def test_signed_ip_rejects_other_callers(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    client = _sas_blob_client(blob_endpoint, container, name, _blob_sas(container, name, ip="10.1.2.3"))
    with pytest.raises(HttpResponseError) as caught:
        client.download_blob()
    assert_http_error(caught.value, 403, "AuthorizationSourceIPMismatch")


def test_signed_protocol(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    https_only = _sas_blob_client(blob_endpoint, container, name, _blob_sas(container, name, protocol="https"))
    with pytest.raises(HttpResponseError) as caught:
        https_only.download_blob()
    assert_http_error(caught.value, 403, "AuthorizationProtocolMismatch")
    either = _sas_blob_client(blob_endpoint, container, name, _blob_sas(container, name, protocol="https,http"))
    assert either.download_blob().readall() == b"shared via sas"


def test_container_sas_lists_and_reads(blob_endpoint: str, container: ContainerClient) -> None:
    names = sorted(_uploaded(container) for _ in range(2))
    sas = generate_container_sas(
        ACCOUNT_NAME, container.container_name, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, list=True), expiry=_in(30),
    )
    client = ContainerClient(blob_endpoint, container.container_name, credential=sas, **CLIENT_OPTIONS)
    assert sorted(b.name for b in client.list_blobs()) == names
    assert client.get_blob_client(names[0]).download_blob().readall() == b"shared via sas"
    with pytest.raises(HttpResponseError) as caught:
        client.get_blob_client(names[0]).delete_blob()
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")

    read_only = generate_container_sas(
        ACCOUNT_NAME, container.container_name, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True), expiry=_in(30),
    )
    with pytest.raises(HttpResponseError) as caught:
        list(ContainerClient(blob_endpoint, container.container_name, credential=read_only, **CLIENT_OPTIONS).list_blobs())
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")


def test_container_sas_does_not_open_another_container(
    blob_endpoint: str, service: BlobServiceClient, container: ContainerClient
) -> None:
    other = service.create_container(unique_name("other"))
    try:
        other.upload_blob("x", b"x")
        sas = generate_container_sas(
            ACCOUNT_NAME, container.container_name, account_key=ACCOUNT_KEY,
            permission=ContainerSasPermissions(read=True, list=True), expiry=_in(30),
        )
        with pytest.raises(HttpResponseError) as caught:
            list(ContainerClient(blob_endpoint, other.container_name, credential=sas, **CLIENT_OPTIONS).list_blobs())
        assert_http_error(caught.value, 403, "AuthenticationFailed")
    finally:
        other.delete_container()


def _account_sas(resource_types: ResourceTypes, permission: AccountSasPermissions, **kwargs) -> str:
    return generate_account_sas(ACCOUNT_NAME, ACCOUNT_KEY, resource_types, permission, _in(30), **kwargs)


def test_account_sas_scopes(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    objects_only = _account_sas(ResourceTypes(object=True), AccountSasPermissions(read=True, list=True))
    service = BlobServiceClient(blob_endpoint, credential=objects_only, **CLIENT_OPTIONS)
    assert service.get_blob_client(container.container_name, name).download_blob().readall() == b"shared via sas"
    with pytest.raises(HttpResponseError) as caught:
        list(service.list_containers())
    assert_http_error(caught.value, 403, "AuthorizationResourceTypeMismatch")
    with pytest.raises(HttpResponseError) as caught:
        list(service.get_container_client(container.container_name).list_blobs())
    assert_http_error(caught.value, 403, "AuthorizationResourceTypeMismatch")

    everything = _account_sas(
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, list=True, create=True, write=True),
    )
    service = BlobServiceClient(blob_endpoint, credential=everything, **CLIENT_OPTIONS)
    assert container.container_name in [c.name for c in service.list_containers()]
    created = service.create_container(unique_name("acct"))
    created.upload_blob("made-by-sas", b"hello")
    assert [b.name for b in created.list_blobs()] == ["made-by-sas"]
    # No delete permission.
    with pytest.raises(HttpResponseError) as caught:
        created.delete_container()
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")
    with pytest.raises(HttpResponseError) as caught:
        created.delete_blob("made-by-sas")
    assert_http_error(caught.value, 403, "AuthorizationPermissionMismatch")
    BlobServiceClient(
        blob_endpoint, credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY}, **CLIENT_OPTIONS
    ).delete_container(created.container_name)


def test_account_sas_for_another_service(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    queue_only = _account_sas(ResourceTypes(object=True), AccountSasPermissions(read=True), services=Services(queue=True))
    client = _sas_blob_client(blob_endpoint, container, name, queue_only)
    with pytest.raises(HttpResponseError) as caught:
        client.download_blob()
    assert_http_error(caught.value, 403, "AuthorizationServiceMismatch")


def test_expired_account_sas(blob_endpoint: str, container: ContainerClient) -> None:
    name = _uploaded(container)
    sas = generate_account_sas(
        ACCOUNT_NAME, ACCOUNT_KEY, ResourceTypes(object=True), AccountSasPermissions(read=True), _in(-1), start=_in(-30)
    )
    with pytest.raises(HttpResponseError) as caught:
        _sas_blob_client(blob_endpoint, container, name, sas).download_blob()
    assert_http_error(caught.value, 403, "AuthenticationFailed")
    assert "Signature not valid in the specified time frame" in _detail(caught.value)
