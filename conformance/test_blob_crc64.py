"""CRC-64 transactional checksums (`x-ms-content-crc64`), as Microsoft's SDK sends them with
`validate_content="crc64"` (azure-storage-extensions computes the CRC): the emulator checks them on Put Blob and
Put Block, refuses a wrong one with 400 Crc64Mismatch, and answers the CRC of what it stored."""

from __future__ import annotations

import base64
import os

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, ContainerClient
from azure.storage.extensions.checksums import crc64

from support import assert_http_error, unique_name


def header(data: bytes) -> str:
    return base64.b64encode(crc64.compute(data, 0).to_bytes(8, "little")).decode("ascii")


def test_put_blob_with_crc64_is_checked_and_answered(container: ContainerClient) -> None:
    data = os.urandom(70_000)
    blob = container.get_blob_client(unique_name("crc"))
    result = blob.upload_blob(data, validate_content="crc64")
    assert result["content_crc64"] == crc64.compute(data, 0).to_bytes(8, "little")
    assert blob.download_blob().readall() == data


def test_put_blob_answers_the_crc64_of_an_empty_body_like_azure(container: ContainerClient) -> None:
    # Real Azure answers AAAAAAAAAAA= for an empty Put Blob (recorded sessions).
    result = container.get_blob_client(unique_name("empty")).upload_blob(b"")
    assert result["content_crc64"] == bytes(8)


def test_a_wrong_crc64_is_refused_and_nothing_is_written(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("wrong"))
    with pytest.raises(HttpResponseError) as caught:
        blob.upload_blob(b"payload", headers={"x-ms-content-crc64": header(b"other payload")})
    assert_http_error(caught.value, 400, "Crc64Mismatch")
    assert not blob.exists()


def test_a_malformed_crc64_header_is_an_invalid_header_value(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("malformed"))
    with pytest.raises(HttpResponseError) as caught:
        blob.upload_blob(b"payload", headers={"x-ms-content-crc64": "not-a-crc"})
    assert_http_error(caught.value, 400, "InvalidHeaderValue")


def test_put_block_with_crc64(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("blocks"))
    first, second = os.urandom(5000), b"second block"
    blob.stage_block("block-1", first, validate_content="crc64")
    blob.stage_block("block-2", second, validate_content="crc64")
    with pytest.raises(HttpResponseError) as caught:
        blob.stage_block("block-3", b"x", headers={"x-ms-content-crc64": header(b"y")})
    assert_http_error(caught.value, 400, "Crc64Mismatch")
    blob.commit_block_list([BlobBlock(block_id="block-1"), BlobBlock(block_id="block-2")])
    assert blob.download_blob().readall() == first + second
    assert [b.id for b in blob.get_block_list("uncommitted")[1]] == []
