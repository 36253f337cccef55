"""Restarts: the CA, the token signing key and the vault's secrets and keys survive a stop and start on the
same data directory, so clients configured once (trusted CA, cached tokens) keep working."""

from __future__ import annotations

from typing import Callable

from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient

from emulator import EmulatorProcess
from identity_support import DEV_CLIENT_ID, DEV_CLIENT_SECRET, TENANT_ID, VAULT_SCOPE, credential_options, service_options


def test_vault_ca_and_signing_key_survive_a_restart(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator()
    ca_before = emulator.ca_path.read_bytes()
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(emulator))
    token = credential.get_token(VAULT_SCOPE)
    secrets = SecretClient(emulator.vault_url, credential, verify_challenge_resource=False, **service_options(emulator))
    keys = KeyClient(emulator.vault_url, credential, verify_challenge_resource=False, **service_options(emulator))
    secrets.set_secret("kept", "still here")
    key = keys.create_rsa_key("kept-key")
    secrets.set_secret("gone", "x")
    secrets.begin_delete_secret("gone").result()

    emulator.restart()

    assert emulator.ca_path.read_bytes() == ca_before

    class _Cached:
        def get_token(self, *scopes, **kwargs):  # noqa: ARG002
            return token

    cached = SecretClient(emulator.vault_url, _Cached(), verify_challenge_resource=False, **service_options(emulator))
    assert cached.get_secret("kept").value == "still here"
    assert cached.get_deleted_secret("gone").name == "gone"
    assert keys.get_key("kept-key").key.n == key.key.n
