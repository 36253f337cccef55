"""Key Vault keys: Microsoft's azure-keyvault-keys creates, reads, rotates, deletes and recovers keys in the
emulator's vault, and its CryptographyClient wraps, unwraps, encrypts, decrypts, signs and verifies with them
(public-key halves locally with the published JWK, private halves in the emulator)."""

from __future__ import annotations

import hashlib
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient, KeyType
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm

from emulator import EmulatorProcess
from identity_support import DEV_CLIENT_ID, DEV_CLIENT_SECRET, TENANT_ID, credential_options, service_options
from support import unique_name


@pytest.fixture(scope="module")
def credential(identity_emulator: EmulatorProcess) -> ClientSecretCredential:
    return ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(identity_emulator))


@pytest.fixture(scope="module")
def keys(identity_emulator: EmulatorProcess, credential: ClientSecretCredential) -> KeyClient:
    return KeyClient(
        identity_emulator.vault_url, credential, verify_challenge_resource=False, **service_options(identity_emulator)
    )


def _crypto(emulator: EmulatorProcess, credential: ClientSecretCredential, key) -> CryptographyClient:
    return CryptographyClient(key, credential, verify_challenge_resource=False, **service_options(emulator))


def _name(prefix: str) -> str:
    return unique_name(prefix).replace("_", "-")


def test_create_rsa_key_public_jwk_only(keys: KeyClient) -> None:
    name = _name("rsa")
    key = keys.create_rsa_key(name, size=2048, tags={"purpose": "test"})
    assert key.key_type == KeyType.rsa
    assert key.key.n and key.key.e
    assert len(key.key.n) == 256
    for private in ("d", "p", "q", "dp", "dq", "qi", "k"):
        assert getattr(key.key, private, None) is None
    assert key.id == f"{keys.vault_url}/keys/{name}/{key.properties.version}"
    assert key.properties.tags == {"purpose": "test"}
    assert set(key.key_operations) >= {"wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify"}
    fetched = keys.get_key(name)
    assert fetched.key.n == key.key.n and fetched.properties.version == key.properties.version


def test_versions_rotate_and_update(keys: KeyClient) -> None:
    name = _name("rot")
    first = keys.create_rsa_key(name, size=3072)
    rotated = keys.rotate_key(name)
    assert rotated.properties.version != first.properties.version
    assert len(rotated.key.n) == 384
    assert keys.get_key(name).properties.version == rotated.properties.version
    assert keys.get_key(name, first.properties.version).key.n == first.key.n
    versions = {item.version for item in keys.list_properties_of_key_versions(name)}
    assert versions == {first.properties.version, rotated.properties.version}
    updated = keys.update_key_properties(name, tags={"x": "y"}, enabled=False)
    assert updated.properties.enabled is False and updated.properties.tags == {"x": "y"}
    assert name in {item.name for item in keys.list_properties_of_keys()}


def test_create_errors(keys: KeyClient) -> None:
    with pytest.raises(HttpResponseError) as raised:
        keys.create_rsa_key(_name("size"), size=1000)
    assert raised.value.status_code == 400 and raised.value.error.code == "BadParameter"
    with pytest.raises(ResourceNotFoundError) as missing:
        keys.get_key(_name("missing"))
    assert missing.value.error.code == "KeyNotFound"


def test_delete_recover_purge(keys: KeyClient) -> None:
    name = _name("delkey")
    key = keys.create_rsa_key(name)
    deleted = keys.begin_delete_key(name).result()
    assert deleted.recovery_id == f"{keys.vault_url}/deletedkeys/{name}"
    assert deleted.key.n == key.key.n
    assert name in {item.name for item in keys.list_deleted_keys()}
    with pytest.raises(ResourceNotFoundError):
        keys.get_key(name)
    keys.begin_recover_deleted_key(name).result()
    assert keys.get_key(name).key.n == key.key.n
    keys.begin_delete_key(name).result()
    keys.purge_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        keys.get_deleted_key(name)


@pytest.mark.parametrize("algorithm", [KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa_oaep])
def test_rsa_wrap_unwrap(identity_emulator: EmulatorProcess, credential, keys: KeyClient, algorithm) -> None:
    key = keys.create_rsa_key(_name("wrap"))
    crypto = _crypto(identity_emulator, credential, key)
    secret = os.urandom(32)
    wrapped = crypto.wrap_key(algorithm, secret)
    assert wrapped.key_id == key.id and wrapped.encrypted_key != secret
    assert crypto.unwrap_key(algorithm, wrapped.encrypted_key).key == secret
    # A client holding only the key id does every operation in the vault.
    remote = _crypto(identity_emulator, credential, key.id)
    assert remote.unwrap_key(algorithm, remote.wrap_key(algorithm, secret).encrypted_key).key == secret


def test_rsa_encrypt_decrypt(identity_emulator: EmulatorProcess, credential, keys: KeyClient) -> None:
    key = keys.create_rsa_key(_name("enc"))
    crypto = _crypto(identity_emulator, credential, key.id)
    encrypted = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"plaintext")
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, encrypted.ciphertext).plaintext == b"plaintext"
    with pytest.raises(HttpResponseError) as raised:
        crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, b"\x00" * 256)
    assert raised.value.status_code == 400


def test_oct_key_wrap_unwrap(identity_emulator: EmulatorProcess, credential, keys: KeyClient) -> None:
    key = keys.create_oct_key(_name("oct"), size=256)
    assert key.key_type == KeyType.oct
    assert getattr(key.key, "k", None) is None
    crypto = _crypto(identity_emulator, credential, key.id)
    secret = os.urandom(32)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.aes_256, secret)
    assert len(wrapped.encrypted_key) == 40
    assert crypto.unwrap_key(KeyWrapAlgorithm.aes_256, wrapped.encrypted_key).key == secret
    with pytest.raises(HttpResponseError):
        crypto.unwrap_key(KeyWrapAlgorithm.aes_256, bytes(40))


@pytest.mark.parametrize("algorithm, hash_name", [
    (SignatureAlgorithm.rs256, "sha256"), (SignatureAlgorithm.ps256, "sha256"), (SignatureAlgorithm.rs512, "sha512"),
])
def test_rsa_sign_verify(identity_emulator: EmulatorProcess, credential, keys: KeyClient, algorithm, hash_name) -> None:
    key = keys.create_rsa_key(_name("sign"))
    digest = hashlib.new(hash_name, b"message").digest()
    remote = _crypto(identity_emulator, credential, key.id)
    signed = remote.sign(algorithm, digest)
    assert remote.verify(algorithm, digest, signed.signature).is_valid
    assert not remote.verify(algorithm, hashlib.new(hash_name, b"other").digest(), signed.signature).is_valid
    local = _crypto(identity_emulator, credential, key)
    assert local.verify(algorithm, digest, signed.signature).is_valid


def test_ec_sign_verify(identity_emulator: EmulatorProcess, credential, keys: KeyClient) -> None:
    key = keys.create_ec_key(_name("ec"), curve="P-256")
    digest = hashlib.sha256(b"message").digest()
    crypto = _crypto(identity_emulator, credential, key)
    signed = crypto.sign(SignatureAlgorithm.es256, digest)
    assert crypto.verify(SignatureAlgorithm.es256, digest, signed.signature).is_valid


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def test_import_rsa_key(identity_emulator: EmulatorProcess, credential, keys: KeyClient) -> None:
    from azure.keyvault.keys import JsonWebKey
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    jwk = JsonWebKey(
        kty="RSA", key_ops=["unwrapKey", "wrapKey"],
        n=_int_bytes(numbers.public_numbers.n), e=_int_bytes(numbers.public_numbers.e), d=_int_bytes(numbers.d),
        p=_int_bytes(numbers.p), q=_int_bytes(numbers.q), dp=_int_bytes(numbers.dmp1), dq=_int_bytes(numbers.dmq1),
        qi=_int_bytes(numbers.iqmp),
    )
    imported = keys.import_key(_name("imported"), jwk)
    assert imported.key.n == jwk.n and imported.key.d is None
    wrapped = private.public_key().encrypt(
        b"k" * 32, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    crypto = _crypto(identity_emulator, credential, imported.id)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == b"k" * 32


def test_rotation_policy(keys: KeyClient) -> None:
    from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction

    name = _name("policy")
    keys.create_rsa_key(name)
    assert keys.get_key_rotation_policy(name) is not None
    policy = KeyRotationPolicy(
        expires_in="P90D",
        lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")],
    )
    updated = keys.update_key_rotation_policy(name, policy)
    assert updated.expires_in == "P90D"
    fetched = keys.get_key_rotation_policy(name)
    assert fetched.lifetime_actions[0].action == KeyRotationPolicyAction.rotate
    assert fetched.lifetime_actions[0].time_after_create == "P30D"


def test_random_bytes(keys: KeyClient) -> None:
    first = keys.get_random_bytes(32)
    second = keys.get_random_bytes(32)
    assert len(first) == 32 and len(second) == 32 and first != second


def test_unknown_api_version_is_refused(identity_emulator: EmulatorProcess, credential) -> None:
    import requests

    token = credential.get_token("https://vault.azure.net/.default").token
    response = requests.get(
        f"{identity_emulator.vault_url}/keys", params={"api-version": "1.0"},
        headers={"Authorization": f"Bearer {token}"}, verify=str(identity_emulator.ca_path), timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "BadParameter"


def test_key_backup_and_restore(identity_emulator: EmulatorProcess, credential, keys: KeyClient) -> None:
    name = _name("keybackup")
    key = keys.create_rsa_key(name)
    blob = keys.backup_key(name)
    keys.begin_delete_key(name).result()
    keys.purge_deleted_key(name)
    restored = keys.restore_key_backup(blob)
    assert restored.key.n == key.key.n and restored.properties.version == key.properties.version
    crypto = _crypto(identity_emulator, credential, restored.id)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"s" * 32).encrypted_key).key == b"s" * 32


@pytest.mark.parametrize("algorithm", [EncryptionAlgorithm.a256_gcm, EncryptionAlgorithm.a256_cbcpad])
def test_oct_encrypt_decrypt(identity_emulator: EmulatorProcess, credential, keys: KeyClient, algorithm) -> None:
    key = keys.create_oct_key(_name("octenc"), size=256)
    crypto = _crypto(identity_emulator, credential, key.id)
    kwargs = {"iv": os.urandom(16)} if algorithm == EncryptionAlgorithm.a256_cbcpad else {}
    encrypted = crypto.encrypt(algorithm, b"attack at dawn", **kwargs)
    assert encrypted.ciphertext != b"attack at dawn"
    decrypted = crypto.decrypt(
        algorithm, encrypted.ciphertext, iv=encrypted.iv,
        **({"authentication_tag": encrypted.tag} if algorithm == EncryptionAlgorithm.a256_gcm else {}),
    )
    assert decrypted.plaintext == b"attack at dawn"
