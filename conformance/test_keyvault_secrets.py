"""Key Vault secrets: Microsoft's azure-keyvault-secrets against the emulator's vault, authenticated by the
challenge flow with a token from the emulator's Entra ID."""

from __future__ import annotations

import requests
import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from emulator import EmulatorProcess
from identity_support import DEV_CLIENT_ID, DEV_CLIENT_SECRET, TENANT_ID, credential_options, service_options
from support import unique_name


@pytest.fixture(scope="module")
def secrets(identity_emulator: EmulatorProcess) -> SecretClient:
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(identity_emulator))
    return SecretClient(
        identity_emulator.vault_url, credential, verify_challenge_resource=False, **service_options(identity_emulator)
    )


def _name(prefix: str) -> str:
    return unique_name(prefix).replace("_", "-")


def test_set_get_and_versions(secrets: SecretClient) -> None:
    name = _name("secret")
    first = secrets.set_secret(name, "one", content_type="text/plain", tags={"env": "test"})
    assert first.value == "one"
    assert first.properties.content_type == "text/plain"
    assert first.properties.tags == {"env": "test"}
    assert first.properties.enabled is True
    assert first.properties.recoverable_days == 90
    assert first.properties.recovery_level == "Recoverable+Purgeable"
    assert len(first.properties.version) == 32
    assert first.id == f"{secrets.vault_url}/secrets/{name}/{first.properties.version}"
    second = secrets.set_secret(name, "two")
    assert secrets.get_secret(name).value == "two"
    assert secrets.get_secret(name, first.properties.version).value == "one"
    versions = {item.version for item in secrets.list_properties_of_secret_versions(name)}
    assert versions == {first.properties.version, second.properties.version}


def test_update_properties(secrets: SecretClient) -> None:
    name = _name("props")
    created = secrets.set_secret(name, "value")
    updated = secrets.update_secret_properties(name, content_type="application/json", tags={"a": "b"})
    assert updated.version == created.properties.version
    assert updated.content_type == "application/json" and updated.tags == {"a": "b"}
    disabled = secrets.update_secret_properties(name, created.properties.version, enabled=False)
    assert disabled.enabled is False
    with pytest.raises(HttpResponseError) as raised:
        secrets.get_secret(name)
    assert raised.value.status_code == 403


def test_listing_pages(secrets: SecretClient) -> None:
    prefix = _name("page")
    names = {f"{prefix}-{index}" for index in range(30)}
    for name in names:
        secrets.set_secret(name, "x")
    listed = {item.name for item in secrets.list_properties_of_secrets(max_page_size=7)}
    assert names <= listed
    pages = list(secrets.list_properties_of_secrets(max_page_size=7).by_page())
    assert len(pages) >= 5


def test_missing_secret(secrets: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        secrets.get_secret(_name("missing"))
    assert raised.value.error.code == "SecretNotFound"


def test_bad_name(secrets: SecretClient) -> None:
    with pytest.raises(HttpResponseError) as raised:
        secrets.set_secret("bad_name!", "x")
    assert raised.value.status_code == 400
    assert raised.value.error.code == "BadParameter"


def test_delete_recover_purge(secrets: SecretClient) -> None:
    name = _name("deleted")
    secrets.set_secret(name, "keep me")
    deleted = secrets.begin_delete_secret(name).result()
    assert deleted.name == name
    assert deleted.recovery_id == f"{secrets.vault_url}/deletedsecrets/{name}"
    assert deleted.deleted_date and deleted.scheduled_purge_date
    with pytest.raises(ResourceNotFoundError):
        secrets.get_secret(name)
    assert secrets.get_deleted_secret(name).name == name
    assert name in {item.name for item in secrets.list_deleted_secrets()}
    with pytest.raises(ResourceExistsError) as raised:
        secrets.set_secret(name, "reuse")
    assert raised.value.status_code == 409

    recovered = secrets.begin_recover_deleted_secret(name).result()
    assert recovered.name == name
    assert secrets.get_secret(name).value == "keep me"

    secrets.begin_delete_secret(name).result()
    secrets.purge_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        secrets.get_deleted_secret(name)
    assert secrets.set_secret(name, "new life").value == "new life"


def test_challenge_without_token(identity_emulator: EmulatorProcess) -> None:
    response = requests.get(
        f"{identity_emulator.vault_url}/secrets", params={"api-version": "7.6"},
        verify=str(identity_emulator.ca_path), timeout=10,
    )
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert f'authorization="{identity_emulator.authority}/{TENANT_ID}"' in challenge
    assert 'resource="https://vault.azure.net"' in challenge
    assert response.json()["error"]["code"] == "Unauthorized"


def test_token_for_another_audience_is_refused(identity_emulator: EmulatorProcess) -> None:
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(identity_emulator))
    token = credential.get_token("https://storage.azure.com/.default").token
    response = requests.get(
        f"{identity_emulator.vault_url}/secrets", params={"api-version": "7.6"},
        headers={"Authorization": f"Bearer {token}"}, verify=str(identity_emulator.ca_path), timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"


def test_ca_trust_through_the_environment(identity_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(identity_emulator.ca_path))
    options = credential_options(identity_emulator)
    del options["connection_verify"]
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **options)
    client = SecretClient(identity_emulator.vault_url, credential, verify_challenge_resource=False, retry_total=0)
    name = _name("envtrust")
    assert client.set_secret(name, "trusted").value == "trusted"


def test_versions_of_an_unknown_name_are_empty(secrets: SecretClient) -> None:
    assert list(secrets.list_properties_of_secret_versions(_name("never"))) == []


def test_secret_attributes_round_trip(secrets: SecretClient) -> None:
    import datetime as dt

    name = _name("attrs")
    expires = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
    not_before = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    secret = secrets.set_secret(name, "v", expires_on=expires, not_before=not_before, enabled=True)
    assert secret.properties.expires_on == expires and secret.properties.not_before == not_before
    assert secret.properties.created_on is not None and secret.properties.updated_on is not None


def test_backup_and_restore(secrets: SecretClient) -> None:
    name = _name("backup")
    secrets.set_secret(name, "first")
    secrets.set_secret(name, "second")
    blob = secrets.backup_secret(name)
    assert b"second" not in blob
    with pytest.raises(ResourceExistsError):
        secrets.restore_secret_backup(blob)
    secrets.begin_delete_secret(name).result()
    secrets.purge_deleted_secret(name)
    restored = secrets.restore_secret_backup(blob)
    assert restored.name == name
    assert secrets.get_secret(name).value == "second"
    assert len(list(secrets.list_properties_of_secret_versions(name))) == 2
