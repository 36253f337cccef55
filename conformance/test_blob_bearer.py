"""Blob Storage with Entra ID tokens: azure-storage-blob over the HTTPS listener with a ClientSecretCredential,
and the 401 InvalidAuthenticationInfo answers (with the Bearer challenge) for expired, foreign-audience and
forged tokens."""

from __future__ import annotations

import time
from typing import Callable

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient

from emulator import EmulatorProcess
from identity_support import (
    DEV_CLIENT_ID, DEV_CLIENT_SECRET, STORAGE_SCOPE, TENANT_ID, VAULT_SCOPE, credential_options, service_options,
)
from support import CLIENT_OPTIONS, unique_name


class _FixedToken:
    """A credential handing out one given token, to present tokens the SDK would never fetch itself."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes, **kwargs) -> AccessToken:  # noqa: ARG002
        return AccessToken(self.token, int(time.time()) + 3600)


def _client_secret(emulator: EmulatorProcess) -> ClientSecretCredential:
    return ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(emulator))


def test_blob_round_trip_with_a_token(identity_emulator: EmulatorProcess) -> None:
    service = BlobServiceClient(
        identity_emulator.blob_https_endpoint, credential=_client_secret(identity_emulator), **service_options(identity_emulator)
    )
    container = service.create_container(unique_name("bearer"))
    container.upload_blob("hello.txt", b"hello over https")
    assert container.download_blob("hello.txt").readall() == b"hello over https"
    assert "hello.txt" in [blob.name for blob in container.list_blobs()]
    container.delete_container()


def _refused(emulator: EmulatorProcess, token: str) -> HttpResponseError:
    service = BlobServiceClient(emulator.blob_https_endpoint, credential=_FixedToken(token), **service_options(emulator))
    with pytest.raises(HttpResponseError) as raised:
        list(service.list_containers())
    return raised.value


def test_token_for_another_audience_is_refused(identity_emulator: EmulatorProcess) -> None:
    token = _client_secret(identity_emulator).get_token(VAULT_SCOPE).token
    error = _refused(identity_emulator, token)
    assert error.status_code == 401
    assert error.error_code == "InvalidAuthenticationInfo"


def test_forged_token_is_refused(identity_emulator: EmulatorProcess) -> None:
    token = _client_secret(identity_emulator).get_token(STORAGE_SCOPE).token
    header, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature[:-4]}AAAA"
    assert _refused(identity_emulator, forged).status_code == 401


def test_expired_token_is_refused(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--token-lifetime", "2")
    token = _client_secret(emulator).get_token(STORAGE_SCOPE).token
    service = BlobServiceClient(emulator.blob_https_endpoint, credential=_FixedToken(token), **service_options(emulator))
    assert list(service.list_containers()) == []
    # The allowed clock skew is Azure's five minutes, shortened to the token lifetime for short-lived tokens.
    time.sleep(5)
    error = _refused(emulator, token)
    assert error.status_code == 401
    assert error.error_code == "InvalidAuthenticationInfo"
    assert "expired" in str(error)


def test_challenge_header(identity_emulator: EmulatorProcess) -> None:
    response = requests.get(
        f"{identity_emulator.blob_https_endpoint}?comp=list",
        headers={"Authorization": "Bearer not-a-jwt", "x-ms-version": "2025-11-05"},
        verify=str(identity_emulator.ca_path), timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["x-ms-error-code"] == "InvalidAuthenticationInfo"
    challenge = response.headers["WWW-Authenticate"]
    assert f"authorization_uri={identity_emulator.authority}/{TENANT_ID}/oauth2/authorize" in challenge
    assert "resource_id=https://storage.azure.com" in challenge


def test_bearer_over_plain_http(identity_emulator: EmulatorProcess) -> None:
    token = _client_secret(identity_emulator).get_token(STORAGE_SCOPE).token
    response = requests.get(
        f"http://127.0.0.1:{identity_emulator.port}/devstoreaccount1?comp=list",
        headers={"Authorization": f"Bearer {token}", "x-ms-version": "2025-11-05"}, timeout=10,
    )
    assert response.status_code == 200


def test_user_delegation_sas(identity_emulator: EmulatorProcess) -> None:
    import datetime as dt

    from azure.storage.blob import BlobClient, BlobSasPermissions, generate_blob_sas

    service = BlobServiceClient(
        identity_emulator.blob_https_endpoint, credential=_client_secret(identity_emulator), **service_options(identity_emulator)
    )
    container = service.create_container(unique_name("udk"))
    container.upload_blob("shared.txt", b"delegated")
    now = dt.datetime.now(dt.timezone.utc)
    key = service.get_user_delegation_key(now - dt.timedelta(minutes=5), now + dt.timedelta(hours=1))
    assert key.signed_tid == TENANT_ID and key.signed_oid and key.value
    sas = generate_blob_sas(
        "devstoreaccount1", container.container_name, "shared.txt", user_delegation_key=key,
        permission=BlobSasPermissions(read=True), expiry=now + dt.timedelta(minutes=30),
    )
    url = f"{identity_emulator.blob_https_endpoint}/{container.container_name}/shared.txt?{sas}"
    reader = BlobClient.from_blob_url(url, **service_options(identity_emulator))
    assert reader.download_blob().readall() == b"delegated"
    with pytest.raises(HttpResponseError) as raised:
        reader.upload_blob(b"overwrite", overwrite=True)
    assert raised.value.status_code == 403

    tampered = BlobClient.from_blob_url(url.replace("skoid=", "skoid=0"), **service_options(identity_emulator))
    with pytest.raises(HttpResponseError) as forged:
        tampered.download_blob().readall()
    assert forged.value.status_code == 403


def test_user_delegation_key_needs_a_token(identity_emulator: EmulatorProcess) -> None:
    import datetime as dt

    from support import connection_string

    shared_key = BlobServiceClient.from_connection_string(
        connection_string(f"http://127.0.0.1:{identity_emulator.port}/devstoreaccount1"), **CLIENT_OPTIONS
    )
    now = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(HttpResponseError) as raised:
        shared_key.get_user_delegation_key(now, now + dt.timedelta(hours=1))
    assert raised.value.status_code == 403
