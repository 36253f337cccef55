"""Shared pieces of the Entra ID, managed identity, Key Vault and bearer-token conformance tests.

The emulator's Entra ID is an authority like login.microsoftonline.com: azure-identity reaches it with
`authority=https://127.0.0.1:<https port>` and `disable_instance_discovery=True`, and trusts its HTTPS
certificate through `connection_verify=<data>/tls/ca.pem`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from typing import Any, Dict, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulator import EmulatorProcess
from support import CLIENT_OPTIONS

TENANT_ID = "kumo-emulator"
DEV_CLIENT_ID = "kumo-dev"
DEV_CLIENT_SECRET = "kumo-dev-secret"
CERTIFICATE_CLIENT_ID = "kumo-cert"
FEDERATED_CLIENT_ID = "kumo-workload"
FEDERATED_SUBJECT = "system:serviceaccount:default:kumo"
MANAGED_IDENTITY_CLIENT_ID = "kumo-managed-identity"
IDENTITY_HEADER = "kumo-identity-header"
VAULT_SCOPE = "https://vault.azure.net/.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"


def credential_options(emulator: EmulatorProcess) -> Dict[str, Any]:
    """Keyword arguments every azure-identity credential gets to reach the emulator's Entra ID."""
    return {
        "authority": emulator.authority,
        "disable_instance_discovery": True,
        "connection_verify": str(emulator.ca_path),
        **CLIENT_OPTIONS,
    }


def service_options(emulator: EmulatorProcess) -> Dict[str, Any]:
    """Keyword arguments of Key Vault and Blob clients talking to the HTTPS listener."""
    return {"connection_verify": str(emulator.ca_path), **CLIENT_OPTIONS}


def decode_jwt(token: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    header, claims, _ = token.split(".")

    def part(text: str) -> Dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    return part(header), part(claims)


def make_certificate(common_name: str) -> Tuple[bytes, bytes]:
    """A self-signed RSA certificate and its private key, both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(hours=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem
