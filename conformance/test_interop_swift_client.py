"""Interop: blobs written by Kumo's Swift client (`kumo blob`) read back byte-identical by Microsoft's SDK,
and blobs written by the SDK read back byte-identical by Kumo, both through the emulator."""

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from emulator import kumo_binary


def kumo(connection_string: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(kumo_binary()), "blob", *args, "--connection-string", connection_string],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"kumo blob {' '.join(args)} failed: {result.stderr}"
    return result


@pytest.mark.parametrize("size", [0, 1, 1024 * 1024 + 5, 9 * 1024 * 1024 + 3])
def test_swift_upload_sdk_download(emulator_connection_string, container, tmp_path: Path, size: int):
    data = os.urandom(size)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    name = f"from-swift/{uuid.uuid4().hex} ü.bin"
    # 1 MiB blocks force staged blocks for the larger sizes.
    kumo(emulator_connection_string, "upload", str(source), "--container", container.container_name,
         "--name", name, "--block-size", "1MiB", "--concurrency", "3")
    blob = container.get_blob_client(name)
    assert blob.download_blob().readall() == data
    properties = blob.get_blob_properties()
    assert properties.size == size
    assert bytes(properties.content_settings.content_md5) == hashlib.md5(data).digest()


@pytest.mark.parametrize("size", [0, 7, 5 * 1024 * 1024 + 11])
def test_sdk_upload_swift_download(emulator_connection_string, container, tmp_path: Path, size: int):
    data = os.urandom(size)
    name = f"from-sdk/{uuid.uuid4().hex}.bin"
    from azure.storage.blob import BlobServiceClient

    # Small single-put and block sizes make the SDK stage blocks for the larger blob.
    staged = BlobServiceClient.from_connection_string(
        emulator_connection_string, max_single_put_size=1024 * 1024, max_block_size=1024 * 1024)
    staged.get_container_client(container.container_name).upload_blob(name, data, max_concurrency=2)
    target = tmp_path / "target.bin"
    kumo(emulator_connection_string, "download", name, "--container", container.container_name,
         "--to", str(target), "--chunk-size", "1MiB", "--concurrency", "4")
    assert target.read_bytes() == data


def test_listing_agrees(emulator_connection_string, container):
    for name in ["a/1", "a/2", "b", "c/d/e"]:
        container.upload_blob(name, name.encode())
    listed = kumo(emulator_connection_string, "list", "--container", container.container_name, "--delimiter", "/")
    lines = listed.stdout.split("\n")
    assert "a/" in lines and "c/" in lines
    assert any(line.endswith("\tb") for line in lines)


def test_swift_sas_is_accepted_by_the_emulator_for_the_sdk(emulator_connection_string, container, blob_endpoint):
    from azure.storage.blob import ContainerClient

    container.upload_blob("shared.txt", b"shared")
    token = kumo(emulator_connection_string, "sas", "--container", container.container_name,
                 "--permissions", "rl", "--expires-in", "600").stdout.strip()
    reader = ContainerClient.from_container_url(f"{blob_endpoint}/{container.container_name}", credential=token)
    assert reader.download_blob("shared.txt").readall() == b"shared"
    assert [b.name for b in reader.list_blobs()] == ["shared.txt"]
    from azure.core.exceptions import HttpResponseError
    with pytest.raises(HttpResponseError) as failure:
        reader.upload_blob("denied.txt", b"x")
    assert failure.value.status_code == 403
    assert failure.value.error_code == "AuthorizationPermissionMismatch"
