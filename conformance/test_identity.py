"""Entra ID and managed identity: Microsoft's azure-identity gets tokens from the emulator's authority with a
client secret, a certificate and a federated (workload identity) assertion, and from the IMDS and App Service
managed identity endpoints; the tokens are RS256 JWTs that verify against the published JWKS."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulator import EmulatorProcess
from identity_support import (
    CERTIFICATE_CLIENT_ID,
    DEV_CLIENT_ID,
    DEV_CLIENT_SECRET,
    FEDERATED_CLIENT_ID,
    FEDERATED_SUBJECT,
    IDENTITY_HEADER,
    MANAGED_IDENTITY_CLIENT_ID,
    STORAGE_SCOPE,
    TENANT_ID,
    VAULT_SCOPE,
    credential_options,
    decode_jwt,
    make_certificate,
)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_discovery_documents(identity_emulator: EmulatorProcess) -> None:
    base = identity_emulator.authority
    verify = str(identity_emulator.ca_path)
    config = requests.get(f"{base}/{TENANT_ID}/v2.0/.well-known/openid-configuration", verify=verify, timeout=10)
    assert config.status_code == 200
    document = config.json()
    assert document["issuer"] == f"{base}/{TENANT_ID}/v2.0"
    assert document["token_endpoint"] == f"{base}/{TENANT_ID}/oauth2/v2.0/token"
    assert document["authorization_endpoint"] == f"{base}/{TENANT_ID}/oauth2/v2.0/authorize"
    assert document["device_authorization_endpoint"].startswith(base)
    assert "code" in document["response_types_supported"]
    keys = requests.get(document["jwks_uri"], verify=verify, timeout=10).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and keys[0]["kid"]

    missing = requests.get(f"{base}/no-such-tenant/v2.0/.well-known/openid-configuration", verify=verify, timeout=10)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_tenant"
    assert missing.json()["error_description"].startswith("AADSTS90002")

    instance = requests.get(
        f"{base}/common/discovery/instance", params={"api-version": "1.1", "authorization_endpoint": "x"},
        verify=verify, timeout=10,
    ).json()
    assert instance["tenant_discovery_endpoint"].startswith(base)


def test_client_secret_token_is_a_verifiable_jwt(identity_emulator: EmulatorProcess) -> None:
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(identity_emulator))
    token = credential.get_token(VAULT_SCOPE)
    assert token.expires_on > time.time() + 3000
    header, claims = decode_jwt(token.token)
    assert header["alg"] == "RS256"
    assert claims["aud"] == "https://vault.azure.net"
    assert claims["iss"] == f"{identity_emulator.authority}/{TENANT_ID}/v2.0"
    assert claims["tid"] == TENANT_ID
    assert claims["appid"] == DEV_CLIENT_ID and claims["azp"] == DEV_CLIENT_ID
    assert claims["oid"] and claims["sub"]
    assert claims["nbf"] <= time.time() + 5 < claims["exp"]

    keys = requests.get(
        f"{identity_emulator.authority}/{TENANT_ID}/discovery/v2.0/keys", verify=str(identity_emulator.ca_path), timeout=10
    ).json()["keys"]
    jwk = next(key for key in keys if key["kid"] == header["kid"])
    public_key = rsa.RSAPublicNumbers(
        int.from_bytes(_b64url(jwk["e"]), "big"), int.from_bytes(_b64url(jwk["n"]), "big")
    ).public_key()
    signing_input, signature = token.token.rsplit(".", 1)
    public_key.verify(_b64url(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_wrong_secret_is_refused(identity_emulator: EmulatorProcess) -> None:
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, "not-the-secret", **credential_options(identity_emulator))
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(STORAGE_SCOPE)
    assert "AADSTS7000215" in str(raised.value)


def test_unknown_client_is_refused(identity_emulator: EmulatorProcess) -> None:
    credential = ClientSecretCredential(TENANT_ID, "no-such-app", "secret", **credential_options(identity_emulator))
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(STORAGE_SCOPE)
    assert "AADSTS700016" in str(raised.value)


def test_raw_token_endpoint_errors(identity_emulator: EmulatorProcess) -> None:
    url = f"{identity_emulator.authority}/{TENANT_ID}/oauth2/v2.0/token"
    verify = str(identity_emulator.ca_path)
    wrong = requests.post(url, data={
        "grant_type": "client_credentials", "client_id": DEV_CLIENT_ID, "client_secret": "nope", "scope": VAULT_SCOPE,
    }, verify=verify, timeout=10)
    assert wrong.status_code == 401
    body = wrong.json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]

    bad_scope = requests.post(url, data={
        "grant_type": "client_credentials", "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET,
        "scope": "https://vault.azure.net/user_impersonation",
    }, verify=verify, timeout=10)
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"

    no_grant = requests.post(url, data={"client_id": DEV_CLIENT_ID}, verify=verify, timeout=10)
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"

    good = requests.post(url, data={
        "grant_type": "client_credentials", "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET,
        "scope": STORAGE_SCOPE,
    }, verify=verify, timeout=10)
    assert good.status_code == 200
    token = good.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0 and token["ext_expires_in"] > 0
    assert decode_jwt(token["access_token"])[1]["aud"] == "https://storage.azure.com"


def test_certificate_credential(identity_emulator: EmulatorProcess) -> None:
    path = identity_emulator.client_certificate_path  # type: ignore[attr-defined]
    credential = CertificateCredential(TENANT_ID, CERTIFICATE_CLIENT_ID, str(path), **credential_options(identity_emulator))
    _, claims = decode_jwt(credential.get_token(VAULT_SCOPE).token)
    assert claims["appid"] == CERTIFICATE_CLIENT_ID

    # send_certificate_chain puts x5c in the header too; the thumbprint still decides.
    with_chain = CertificateCredential(
        TENANT_ID, CERTIFICATE_CLIENT_ID, str(path), send_certificate_chain=True, **credential_options(identity_emulator)
    )
    assert with_chain.get_token(STORAGE_SCOPE).token


def test_unregistered_certificate_is_refused(identity_emulator: EmulatorProcess, tmp_path: Path) -> None:
    certificate, key = make_certificate("not registered")
    (tmp_path / "other.pem").write_bytes(key + certificate)
    credential = CertificateCredential(
        TENANT_ID, CERTIFICATE_CLIENT_ID, str(tmp_path / "other.pem"), **credential_options(identity_emulator)
    )
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(VAULT_SCOPE)
    assert "AADSTS700027" in str(raised.value)


def _federated_token(emulator: EmulatorProcess, subject: str) -> str:
    response = requests.post(
        f"{emulator.authority}/{TENANT_ID}/federated-token", data={"sub": subject},
        verify=str(emulator.ca_path), timeout=10,
    )
    assert response.status_code == 200
    return response.json()["access_token"]


def test_workload_identity_credential(identity_emulator: EmulatorProcess, tmp_path: Path) -> None:
    token_file = tmp_path / "federated-token"
    token_file.write_text(_federated_token(identity_emulator, FEDERATED_SUBJECT))
    credential = WorkloadIdentityCredential(
        tenant_id=TENANT_ID, client_id=FEDERATED_CLIENT_ID, token_file_path=str(token_file),
        **credential_options(identity_emulator),
    )
    _, claims = decode_jwt(credential.get_token(STORAGE_SCOPE).token)
    assert claims["appid"] == FEDERATED_CLIENT_ID and claims["aud"] == "https://storage.azure.com"


def test_workload_identity_with_wrong_subject_is_refused(identity_emulator: EmulatorProcess, tmp_path: Path) -> None:
    token_file = tmp_path / "federated-token"
    token_file.write_text(_federated_token(identity_emulator, "system:serviceaccount:other:intruder"))
    credential = WorkloadIdentityCredential(
        tenant_id=TENANT_ID, client_id=FEDERATED_CLIENT_ID, token_file_path=str(token_file),
        **credential_options(identity_emulator),
    )
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(STORAGE_SCOPE)
    assert "AADSTS70021" in str(raised.value)


def test_app_service_managed_identity(identity_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{identity_emulator.port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    credential = ManagedIdentityCredential()
    token = credential.get_token(VAULT_SCOPE)
    _, claims = decode_jwt(token.token)
    assert claims["aud"] == "https://vault.azure.net" and claims["appid"] == MANAGED_IDENTITY_CLIENT_ID
    assert token.expires_on > time.time()

    monkeypatch.setenv("IDENTITY_HEADER", "wrong")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(VAULT_SCOPE)


def test_imds_managed_identity(identity_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{identity_emulator.port}")
    credential = ManagedIdentityCredential(client_id=MANAGED_IDENTITY_CLIENT_ID)
    _, claims = decode_jwt(credential.get_token(STORAGE_SCOPE).token)
    assert claims["aud"] == "https://storage.azure.com"

    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(client_id="some-other-identity").get_token(STORAGE_SCOPE)


def test_imds_requires_the_metadata_header(identity_emulator: EmulatorProcess) -> None:
    url = f"http://127.0.0.1:{identity_emulator.port}/metadata/identity/oauth2/token"
    params = {"api-version": "2018-02-01", "resource": "https://vault.azure.net"}
    refused = requests.get(url, params=params, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    answered = requests.get(url, params=params, headers={"Metadata": "true"}, timeout=10)
    assert answered.status_code == 200
    body = answered.json()
    assert body["token_type"] == "Bearer" and body["resource"] == "https://vault.azure.net"
    assert int(body["expires_on"]) > time.time() and int(body["expires_in"]) > 0
    assert body["not_before"] and body["ext_expires_in"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_certificate_passes_strict_verification(identity_emulator: EmulatorProcess, host: str) -> None:
    """Python 3.13 turns on VERIFY_X509_STRICT by default; the emulator's chain must pass it on any version."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(identity_emulator.ca_path))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", identity_emulator.https_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert tls.getpeercert()["subject"]


def test_cloud_shell_managed_identity(identity_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MSI_ENDPOINT", f"http://127.0.0.1:{identity_emulator.port}/metadata/identity/oauth2/token")
    _, claims = decode_jwt(ManagedIdentityCredential().get_token(VAULT_SCOPE).token)
    assert claims["aud"] == "https://vault.azure.net" and claims["appid"] == MANAGED_IDENTITY_CLIENT_ID
