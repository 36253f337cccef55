"""The `kumo` CLI end to end against the emulator's Entra ID, Key Vault and Blob services, with every
component logging at trace level:

- a storage connection string kept as a Key Vault secret, backups encrypted under a Key Vault RSA key,
  restored with the key found from the manifest, the key rotated and the data keys re-wrapped;
- data keys wrapped by Kumo's Swift client unwrap with Microsoft's CryptographyClient and the reverse;
- no secret (client secret, account key, SAS signature, access token, identity header) appears in any line
  either process wrote, at any level.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Dict, List
from urllib.parse import quote, unquote

import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm, SignatureAlgorithm

from emulator import kumo_binary
from identity_support import DEV_CLIENT_ID, DEV_CLIENT_SECRET, IDENTITY_HEADER, TENANT_ID, credential_options
from support import ACCOUNT_KEY

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


class Transcript:
    """Runs `kumo` with the emulator's identity in its environment and keeps everything it printed."""

    def __init__(self, emulator) -> None:
        self.environment = dict(os.environ)
        self.environment.update({
            "KUMO_LOG_LEVEL": "trace",
            "KUMO_CA_FILE": str(emulator.ca_path),
            "AZURE_AUTHORITY_HOST": emulator.authority,
            "AZURE_TENANT_ID": TENANT_ID,
            "AZURE_CLIENT_ID": DEV_CLIENT_ID,
            "AZURE_CLIENT_SECRET": DEV_CLIENT_SECRET,
            "AZURE_KEYVAULT_URL": emulator.vault_url,
        })
        self.environment.pop("AZURE_STORAGE_CONNECTION_STRING", None)
        self.logs: List[str] = []

    def run(self, *args: str, stdin: str | None = None, check: bool = True, keep_stdout: bool = True,
            environment: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(kumo_binary()), *args], input=stdin, capture_output=True, text=True, timeout=180,
            env={**self.environment, **(environment or {})},
        )
        self.logs.append(result.stderr)
        if keep_stdout:
            self.logs.append(result.stdout)
        if check:
            assert result.returncode == 0, f"kumo {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        return result


@pytest.fixture
def traced_emulator(dedicated_emulator, monkeypatch):
    # The emulator inherits the environment: it logs at trace level too.
    monkeypatch.setenv("KUMO_LOG_LEVEL", "trace")
    return dedicated_emulator()


def test_encrypted_backups_with_key_vault_and_no_secret_in_any_log(traced_emulator, tmp_path: Path):
    emulator = traced_emulator
    kumo = Transcript(emulator)
    vault = emulator.vault_url
    connection = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
                  f"BlobEndpoint={emulator.blob_endpoint};")
    secret_url = f"{vault}/secrets/storage-connection"
    key_url = f"{vault}/keys/backup-kek"

    created = json.loads(kumo.run("keyvault", "key", "create", "backup-kek", "--type", "RSA", "--size", "2048", "--json").stdout)
    first_version = created["id"].rsplit("/", 1)[1]
    # The value goes through standard input, as an operator would pass it, so it is in no argument list.
    kumo.run("keyvault", "secret", "set", "storage-connection", stdin=connection + "\n")
    kumo.run("blob", "container", "create", "backups", "--connection-string-secret", secret_url)

    db = tmp_path / "db"
    for index in range(50):
        kumo.run("kv", "put", "--db", str(db), f"key{index:03}", f"value {index}")
    account = ["--connection-string-secret", secret_url]
    target = ["--to", "azure://backups/kv1", *account]
    source = ["--from", "azure://backups/kv1", *account]
    kumo.run("backup", "create", "--db", str(db), *target, "--encrypt-with", key_url, "--json")
    kumo.run("kv", "put", "--db", str(db), "key999", "after the rotation")
    kumo.run("keyvault", "key", "rotate", "backup-kek")
    second = json.loads(kumo.run("backup", "create", "--db", str(db), *target, "--encrypt-with", key_url, "--json").stdout)

    manifest = json.loads(kumo.run("backup", "show", second["id"], *source, "--json").stdout)
    kek_ids = {f["encryption"]["dataKey"]["kekID"] for f in manifest["files"] if f.get("encryption")}
    assert all(f.get("encryption") for f in manifest["files"]), "every file of an encrypted backup is encrypted"
    assert any(kid.endswith("/" + first_version) for kid in kek_ids), "reused SSTs keep the version that wrapped them"
    assert len(kek_ids) == 2 and all(kid.startswith(key_url + "/") for kid in kek_ids)

    rekeyed = json.loads(kumo.run("backup", "rekey", *source, "--new-key", key_url, "--json").stdout)
    assert rekeyed["rewrappedKeys"] > 0
    manifest = json.loads(kumo.run("backup", "show", second["id"], *source, "--json").stdout)
    assert len({f["encryption"]["dataKey"]["kekID"] for f in manifest["files"]}) == 1

    # No key argument: the manifest names the Key Vault key.
    restored = tmp_path / "restored"
    kumo.run("backup", "restore", "latest", "--from", "azure://backups/kv1", "--connection-string-secret", secret_url,
             "--to", str(restored))
    got = kumo.run("kv", "get", "--db", str(restored), "key999").stdout.strip()
    assert got == "after the rotation"

    # Failures log too: a wrong client secret, and a SAS that may only read.
    failed = kumo.run("keyvault", "secret", "get", "storage-connection", check=False,
                      environment={"AZURE_CLIENT_SECRET": "not-the-secret-" + uuid.uuid4().hex})
    assert failed.returncode != 0 and "AADSTS7000215" in failed.stderr
    sas = kumo.run("blob", "sas", "--container", "backups", "--permissions", "rl", "--connection-string-secret", secret_url,
                   keep_stdout=False).stdout.strip().splitlines()[-1]
    signature = unquote(dict(part.split("=", 1) for part in sas.lstrip("?").split("&"))["sig"])
    sas_url = f"{emulator.blob_endpoint}/backups/kv1?{sas.lstrip('?')}"
    listed = kumo.run("backup", "list", "--from", sas_url, "--json")
    assert len(json.loads(listed.stdout)) == 2
    denied = kumo.run("backup", "create", "--db", str(db), "--to", sas_url, "--encrypt-with", key_url, check=False)
    assert denied.returncode != 0

    emulator.stop()
    # The emulator's log is its standard error; its standard output is the start-up banner, which lists the
    # documented, public development credentials on purpose.
    everything = "\n".join(kumo.logs) + "\n" + emulator.stderr_path.read_text()
    # The capture is real: trace lines of both the CLI's pipeline and the token requests are in it.
    assert " trace kumo.azure" in everything and "/oauth2/v2.0/token" in everything
    leaks = {
        "client secret": DEV_CLIENT_SECRET,
        "account key": ACCOUNT_KEY,
        "account key (url-encoded)": ACCOUNT_KEY.replace("/", "%2F").replace("+", "%2B"),
        "SAS signature": signature,
        "SAS signature (url-encoded)": quote(signature, safe=""),
        "identity header": IDENTITY_HEADER,
    }
    for what, value in leaks.items():
        assert value not in everything, f"the {what} appears in the logs"
    assert not JWT.search(everything), "an access token appears in the logs"


def test_keys_wrapped_by_kumo_unwrap_with_the_python_sdk_and_back(dedicated_emulator, tmp_path: Path):
    emulator = dedicated_emulator()
    kumo = Transcript(emulator)
    credential = ClientSecretCredential(TENANT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **credential_options(emulator))
    keys = KeyClient(emulator.vault_url, credential, verify_challenge_resource=False, connection_verify=str(emulator.ca_path))
    rsa_key = keys.create_rsa_key("interop-kek", size=2048)

    # Kumo wraps (an encrypted backup records the wrapped data key); Python unwraps and decrypts nothing else.
    db = tmp_path / "db"
    kumo.run("kv", "put", "--db", str(db), "k", "v")
    target = tmp_path / "backups"
    kumo.run("backup", "create", "--db", str(db), "--to", f"file://{target}", "--encrypt-with", rsa_key.id)
    manifests = list((target / "rocksdb").rglob("manifest.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    crypto = CryptographyClient(rsa_key, credential, verify_challenge_resource=False, connection_verify=str(emulator.ca_path))
    for file in manifest["files"]:
        wrapped = file["encryption"]["dataKey"]
        assert wrapped["algorithm"] == "RSA-OAEP-256" and wrapped["kekID"] == rsa_key.id
        unwrapped = crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, base64.b64decode(wrapped["wrapped"]))
        assert len(unwrapped.key) == 32

    # Python wraps; Kumo unwraps: a manifest whose data keys Python re-wrapped still restores.
    for file in manifest["files"]:
        wrapped = file["encryption"]["dataKey"]
        data_key = crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, base64.b64decode(wrapped["wrapped"])).key
        rewrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, data_key)
        assert rewrapped.encrypted_key != base64.b64decode(wrapped["wrapped"])  # OAEP is randomised
        wrapped["wrapped"] = base64.b64encode(rewrapped.encrypted_key).decode()
        wrapped["kekID"] = rewrapped.key_id
    # The manifest is sealed (RSA keys: a PS256 signature by the vault), so the edit alone is refused...
    assert manifest["authentication"]["algorithm"] == "PS256" and manifest["authentication"]["key"]["kekID"] == rsa_key.id
    manifests[0].write_text(json.dumps(manifest))
    refused = kumo.run("backup", "restore", "latest", "--from", f"file://{target}", "--to", str(tmp_path / "refused"), check=False)
    assert refused.returncode != 0 and "fails authentication" in refused.stderr
    assert not (tmp_path / "refused").exists()

    # ...until the key's holder seals it again: the SHA-256 of the manifest's bytes with the seal's value empty,
    # signed PS256 by the vault through Microsoft's SDK, the hex signature written into that value.
    manifest["authentication"]["manifestMAC"] = ""
    covered = json.dumps(manifest).encode()
    signature = crypto.sign(SignatureAlgorithm.ps256, hashlib.sha256(covered).digest()).signature
    sealed = covered.replace(b'"manifestMAC": ""', b'"manifestMAC": "' + signature.hex().encode() + b'"', 1)
    manifests[0].write_bytes(sealed)
    kumo.run("backup", "restore", "latest", "--from", f"file://{target}", "--to", str(tmp_path / "restored"),
             "--key", rsa_key.id.rsplit("/", 1)[0])
    assert kumo.run("kv", "get", "--db", str(tmp_path / "restored"), "k").stdout.strip() == "v"
