"""Blobs: Put Blob, Get Blob (whole and ranged), Get Blob Properties, Set Blob Metadata, Delete Blob,
blob naming, and conditional requests (ETag and date preconditions)."""

from __future__ import annotations

import datetime as dt
import hashlib
from email.utils import parsedate_to_datetime

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient, BlobType, ContainerClient, ContentSettings

from support import assert_etag, assert_http_error, assert_recent, raw_error_code_header, unique_name

WRONG_ETAG = '"0x8D0DEADBEEF0000"'


def _blob(container: ContainerClient, prefix: str = "b"):
    return container.get_blob_client(unique_name(prefix))


def _patterned(size: int) -> bytes:
    return bytes((i * 7 + 3) % 256 for i in range(size))


# --------------------------------------------------------------------------------------------------
# Put Blob / Get Blob


def test_upload_and_download_small_blob(container: ContainerClient) -> None:
    blob = _blob(container)
    data = b"hello from the kumo conformance suite\n"
    blob.upload_blob(data, overwrite=True)
    downloader = blob.download_blob()
    assert downloader.readall() == data
    assert downloader.size == len(data)
    assert downloader.properties.size == len(data)


def test_upload_overwrite_replaces_content_metadata_and_etag(container: ContainerClient) -> None:
    blob = _blob(container)
    first = blob.upload_blob(b"first version", overwrite=True, metadata={"version": "1", "extra": "x"})
    second = blob.upload_blob(b"second, longer version", overwrite=True, metadata={"version": "2"})
    assert first["etag"] != second["etag"]
    assert blob.download_blob().readall() == b"second, longer version"
    props = blob.get_blob_properties()
    assert props.size == len(b"second, longer version")
    # Put Blob on an existing blob replaces its metadata entirely.
    assert props.metadata == {"version": "2"}
    assert props.etag == second["etag"]


def test_upload_returns_etag_and_last_modified_matching_properties(container: ContainerClient) -> None:
    blob = _blob(container)
    result = blob.upload_blob(b"abc", overwrite=True)
    assert_etag(result["etag"])
    assert_recent(result["last_modified"])
    props = blob.get_blob_properties()
    assert props.etag == result["etag"]
    assert props.last_modified == result["last_modified"]


def test_empty_blob(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"", overwrite=True)
    props = blob.get_blob_properties()
    assert props.size == 0
    assert props.blob_type == BlobType.BLOCKBLOB
    # The SDK first asks for a range; on an empty blob Azure answers 416 and the SDK falls back to
    # a plain GET. Either way the result must be empty.
    downloader = blob.download_blob()
    assert downloader.readall() == b""
    assert downloader.size == 0


def test_ranged_download_of_empty_blob_is_invalid_range(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"", overwrite=True)
    with pytest.raises(HttpResponseError) as info:
        blob.download_blob(offset=0, length=1).readall()
    assert_http_error(info.value, 416, "InvalidRange")


def test_all_byte_values_round_trip(container: ContainerClient) -> None:
    blob = _blob(container)
    data = bytes(range(256)) * 4 + bytes(range(255, -1, -1))
    blob.upload_blob(data, overwrite=True)
    assert blob.get_blob_properties().size == len(data)
    assert blob.download_blob().readall() == data


# --------------------------------------------------------------------------------------------------
# Ranged Get Blob

RANGE_BLOB_SIZE = 1000


@pytest.fixture
def range_blob(container: ContainerClient):
    blob = _blob(container, "range")
    data = _patterned(RANGE_BLOB_SIZE)
    blob.upload_blob(data, overwrite=True)
    return blob, data


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        pytest.param(0, 10, id="start"),
        pytest.param(0, 1, id="first-byte"),
        pytest.param(100, 250, id="middle"),
        pytest.param(990, 10, id="end-exact"),
        pytest.param(999, 1, id="last-byte"),
        pytest.param(0, RANGE_BLOB_SIZE, id="whole-as-range"),
        pytest.param(995, 100, id="length-past-end-is-clamped"),
        pytest.param(500, 10_000, id="long-length-past-end-is-clamped"),
        pytest.param(700, None, id="offset-to-end"),
    ],
)
def test_ranged_download(range_blob, offset, length) -> None:
    blob, data = range_blob
    end = len(data) if length is None else min(len(data), offset + length)
    responses = []
    downloader = blob.download_blob(
        offset=offset, length=length, raw_response_hook=lambda r: responses.append(r.http_response)
    )
    content = downloader.readall()
    assert content == data[offset:end], f"range {offset}+{length}: got {len(content)} bytes"
    assert downloader.size == end - offset
    # One request; Azure answers a satisfiable range with 206 and the clamped range it served.
    assert len(responses) == 1
    response = responses[0]
    assert response.status_code == 206
    assert response.headers.get("Content-Range") == f"bytes {offset}-{end - 1}/{len(data)}"
    assert int(response.headers["Content-Length"]) == end - offset


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        pytest.param(RANGE_BLOB_SIZE, 10, id="offset-equals-size"),
        pytest.param(RANGE_BLOB_SIZE + 100, 10, id="offset-past-end"),
        pytest.param(RANGE_BLOB_SIZE + 100, None, id="offset-past-end-open-ended"),
    ],
)
def test_range_starting_past_end_is_invalid_range(range_blob, offset, length) -> None:
    blob, _ = range_blob
    with pytest.raises(HttpResponseError) as info:
        blob.download_blob(offset=offset, length=length).readall()
    assert_http_error(info.value, 416, "InvalidRange")


def test_whole_download_answers_full_range(range_blob) -> None:
    # Without offset the SDK still asks for a first range (bytes=0-33554431): Azure clamps it to the
    # blob and answers 206 with Content-Range carrying the blob's full size.
    blob, data = range_blob
    responses = []
    content = blob.download_blob(raw_response_hook=lambda r: responses.append(r.http_response)).readall()
    assert content == data
    assert [r.status_code for r in responses] == [206]
    assert responses[0].headers.get("Content-Range") == f"bytes 0-{len(data) - 1}/{len(data)}"


# --------------------------------------------------------------------------------------------------
# Common response headers


def test_common_response_headers(container: ContainerClient) -> None:
    # Every Blob service response carries x-ms-request-id, x-ms-version and Date.
    blob = _blob(container)
    responses = []

    def hook(response):
        responses.append(response.http_response)

    blob.upload_blob(b"headers", overwrite=True, raw_response_hook=hook)
    blob.get_blob_properties(raw_response_hook=hook)
    blob.download_blob(raw_response_hook=hook).readall()
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client(unique_name("nx")).get_blob_properties(raw_response_hook=hook)
    assert len(responses) == 4
    for response in responses:
        headers = response.headers
        where = f"{response.request.method} -> {response.status_code}"
        assert headers.get("x-ms-request-id"), f"no x-ms-request-id on {where}"
        assert headers.get("x-ms-version"), f"no x-ms-version on {where}"
        assert headers.get("Date"), f"no Date on {where}"
        assert_recent(parsedate_to_datetime(headers["Date"]))
    put, head, get, missing = responses
    assert put.status_code == 201
    assert head.status_code == 200
    assert head.headers.get("x-ms-blob-type") == "BlockBlob"
    assert int(head.headers["Content-Length"]) == len(b"headers")
    assert get.headers.get("x-ms-blob-type") == "BlockBlob"
    assert missing.status_code == 404
    assert missing.headers.get("x-ms-error-code") == "BlobNotFound"


# --------------------------------------------------------------------------------------------------
# Properties and metadata


def test_get_blob_properties(container: ContainerClient) -> None:
    blob = _blob(container)
    data = b"properties, please"
    settings = ContentSettings(
        content_type="text/plain; charset=utf-8",
        content_encoding="identity",
        content_language="en-GB",
        content_disposition='attachment; filename="p.txt"',
        cache_control="no-cache",
    )
    blob.upload_blob(data, overwrite=True, content_settings=settings, metadata={"alpha": "1", "beta": "two"})

    props = blob.get_blob_properties()
    assert props.name == blob.blob_name
    assert props.container == container.container_name
    assert props.size == len(data)
    assert props.blob_type == BlobType.BLOCKBLOB
    assert_etag(props.etag)
    assert_recent(props.last_modified)
    assert props.metadata == {"alpha": "1", "beta": "two"}
    cs = props.content_settings
    assert cs.content_type == "text/plain; charset=utf-8"
    assert cs.content_encoding == "identity"
    assert cs.content_language == "en-GB"
    assert cs.content_disposition == 'attachment; filename="p.txt"'
    assert cs.cache_control == "no-cache"

    # Get Blob returns the same properties and metadata as headers.
    downloaded = blob.download_blob()
    assert downloaded.readall() == data
    assert downloaded.properties.metadata == {"alpha": "1", "beta": "two"}
    assert downloaded.properties.content_settings.content_type == "text/plain; charset=utf-8"
    assert downloaded.properties.etag == props.etag


def test_default_content_type_is_octet_stream(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"\x00\x01", overwrite=True)
    assert blob.get_blob_properties().content_settings.content_type == "application/octet-stream"


def test_content_md5_sent_as_transactional_header(container: ContainerClient) -> None:
    # validate_content=True makes the SDK send Content-MD5 with Put Blob; the service stores it.
    blob = _blob(container)
    data = _patterned(4096)
    blob.upload_blob(data, overwrite=True, validate_content=True)
    md5 = blob.get_blob_properties().content_settings.content_md5
    assert md5 is not None, "Content-MD5 sent with Put Blob was not kept"
    assert bytes(md5) == hashlib.md5(data).digest()


def test_content_md5_sent_as_blob_property(container: ContainerClient) -> None:
    # ContentSettings.content_md5 is sent as x-ms-blob-content-md5 and stored as the blob's MD5.
    blob = _blob(container)
    data = b"md5 as a property"
    digest = hashlib.md5(data).digest()
    blob.upload_blob(data, overwrite=True, content_settings=ContentSettings(content_md5=bytearray(digest)))
    md5 = blob.get_blob_properties().content_settings.content_md5
    assert md5 is not None and bytes(md5) == digest


def test_put_blob_computes_content_md5(container: ContainerClient) -> None:
    # Since version 2012-02-12 Put Blob sets a block blob's MD5 even when the request has none,
    # and returns it in the Content-MD5 response header.
    blob = _blob(container)
    data = b"no md5 was sent with this upload"
    result = blob.upload_blob(data, overwrite=True)
    digest = hashlib.md5(data).digest()
    assert result.get("content_md5") is not None and bytes(result["content_md5"]) == digest
    md5 = blob.get_blob_properties().content_settings.content_md5
    assert md5 is not None and bytes(md5) == digest


def test_set_blob_metadata_replaces_all(container: ContainerClient) -> None:
    blob = _blob(container)
    data = b"metadata target"
    original = blob.upload_blob(data, overwrite=True, metadata={"initial": "yes"})

    result = blob.set_blob_metadata({"color": "blue", "size": "large"})
    assert result["etag"] != original["etag"], "Set Blob Metadata must change the ETag"
    props = blob.get_blob_properties()
    assert props.metadata == {"color": "blue", "size": "large"}
    assert props.etag == result["etag"]

    blob.set_blob_metadata({"only": "this"})
    assert blob.get_blob_properties().metadata == {"only": "this"}

    blob.set_blob_metadata({})
    assert not blob.get_blob_properties().metadata

    # Metadata writes leave the content alone.
    assert blob.download_blob().readall() == data


def test_set_metadata_on_missing_blob_is_not_found(container: ContainerClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        _blob(container).set_blob_metadata({"a": "b"})
    assert_http_error(info.value, 404, "BlobNotFound")


# --------------------------------------------------------------------------------------------------
# Errors: missing things, existing things


def test_delete_blob(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"to be deleted", overwrite=True)
    blob.delete_blob()
    with pytest.raises(ResourceNotFoundError) as info:
        blob.get_blob_properties()
    assert_http_error(info.value, 404, "BlobNotFound")
    assert blob.exists() is False


def test_delete_missing_blob_is_not_found(container: ContainerClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        _blob(container).delete_blob()
    assert_http_error(info.value, 404, "BlobNotFound")


def test_download_missing_blob_is_not_found(container: ContainerClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        _blob(container).download_blob().readall()
    assert_http_error(info.value, 404, "BlobNotFound")


def test_properties_of_missing_blob_is_not_found(container: ContainerClient) -> None:
    # HEAD: the code comes from the x-ms-error-code header.
    with pytest.raises(ResourceNotFoundError) as info:
        _blob(container).get_blob_properties()
    assert_http_error(info.value, 404, "BlobNotFound")


def test_upload_to_missing_container_is_container_not_found(service: BlobServiceClient) -> None:
    blob = service.get_blob_client(unique_name("nx"), "orphan.txt")
    with pytest.raises(ResourceNotFoundError) as info:
        blob.upload_blob(b"nowhere to go", overwrite=True)
    assert_http_error(info.value, 404, "ContainerNotFound")


def test_upload_without_overwrite_onto_existing_is_conflict(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"original", overwrite=True)
    with pytest.raises(ResourceExistsError) as info:
        blob.upload_blob(b"replacement", overwrite=False)
    # The SDK sends If-None-Match: * and would relabel a 412 as BlobAlreadyExists, so check what the
    # service itself said: Azure answers 409 BlobAlreadyExists.
    assert_http_error(info.value, 409, "BlobAlreadyExists")
    assert raw_error_code_header(info.value) == "BlobAlreadyExists"
    assert blob.download_blob().readall() == b"original"


def test_upload_without_overwrite_onto_missing_succeeds(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"created", overwrite=False)
    assert blob.download_blob().readall() == b"created"


# --------------------------------------------------------------------------------------------------
# Blob names


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("dir/sub dir/ünï.txt", id="slashes-space-unicode"),
        pytest.param("name with several   spaces.txt", id="spaces"),
        pytest.param("a/b/c/d/e/deep.bin", id="deep-slashes"),
        pytest.param("日本語/ファイル名.txt", id="cjk"),
        pytest.param("emoji-\U0001F600.txt", id="astral-plane"),
        pytest.param("reserved+chars&=;,@$!'()~.txt", id="reserved-characters"),
    ],
)
def test_blob_names(container: ContainerClient, name: str) -> None:
    blob = container.get_blob_client(name)
    data = f"content of {name}".encode()
    blob.upload_blob(data, overwrite=True)
    assert blob.download_blob().readall() == data
    assert blob.get_blob_properties().name == name
    listed = [b.name for b in container.list_blobs(name_starts_with=name)]
    assert listed == [name]
    blob.delete_blob()
    assert blob.exists() is False


# --------------------------------------------------------------------------------------------------
# Conditional requests


def test_download_with_matching_etag_succeeds(container: ContainerClient) -> None:
    blob = _blob(container)
    etag = blob.upload_blob(b"conditional", overwrite=True)["etag"]
    assert blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall() == b"conditional"


def test_download_with_wrong_etag_is_condition_not_met(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"conditional", overwrite=True)
    with pytest.raises(ResourceModifiedError) as info:
        blob.download_blob(etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified).readall()
    assert_http_error(info.value, 412, "ConditionNotMet")


def test_properties_with_wrong_etag_is_condition_not_met(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"conditional", overwrite=True)
    with pytest.raises(ResourceModifiedError) as info:
        blob.get_blob_properties(etag=WRONG_ETAG, match_condition=MatchConditions.IfNotModified)
    assert_http_error(info.value, 412, "ConditionNotMet")


def test_properties_if_none_match_current_etag_is_not_modified(container: ContainerClient) -> None:
    # If-None-Match with the current ETag on a read: 304 Not Modified. Azure also sends
    # x-ms-error-code: ConditionNotMet, which makes the SDK raise ResourceModifiedError (status 304).
    blob = _blob(container)
    etag = blob.upload_blob(b"unchanged", overwrite=True)["etag"]
    with pytest.raises(HttpResponseError) as info:
        blob.get_blob_properties(etag=etag, match_condition=MatchConditions.IfModified)
    assert_http_error(info.value, 304, "ConditionNotMet")
    # A different ETag passes the If-None-Match test.
    props = blob.get_blob_properties(etag=WRONG_ETAG, match_condition=MatchConditions.IfModified)
    assert props.etag == etag


def test_download_if_none_match_current_etag_is_not_modified(container: ContainerClient) -> None:
    blob = _blob(container)
    etag = blob.upload_blob(b"unchanged", overwrite=True)["etag"]
    with pytest.raises(HttpResponseError) as info:
        blob.download_blob(etag=etag, match_condition=MatchConditions.IfModified).readall()
    assert_http_error(info.value, 304)


def test_properties_if_modified_since_future_is_not_modified(container: ContainerClient) -> None:
    # Nothing was modified after a time in the future: a read answers 304 Not Modified. Azure sends
    # x-ms-error-code: ConditionNotMet with it (the SDK then raises ResourceModifiedError; a 304
    # without that header would surface as ResourceNotModifiedError).
    blob = _blob(container)
    blob.upload_blob(b"old news", overwrite=True)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=15)
    with pytest.raises(HttpResponseError) as info:
        blob.get_blob_properties(if_modified_since=future)
    assert_http_error(info.value, 304, "ConditionNotMet")


def test_properties_if_modified_since_past_succeeds(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"fresh", overwrite=True)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=15)
    assert blob.get_blob_properties(if_modified_since=past).size == len(b"fresh")


def test_properties_if_unmodified_since_past_is_condition_not_met(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"fresh", overwrite=True)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=15)
    with pytest.raises(ResourceModifiedError) as info:
        blob.get_blob_properties(if_unmodified_since=past)
    assert_http_error(info.value, 412, "ConditionNotMet")
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=15)
    assert blob.get_blob_properties(if_unmodified_since=future).size == len(b"fresh")


def test_upload_if_none_match_star_onto_existing_is_conflict(container: ContainerClient) -> None:
    # MatchConditions.IfMissing sends If-None-Match: * (the SDK takes no etag with it: passing
    # etag="*" too is a TypeError in this SDK). overwrite=True so the SDK adds no condition of its
    # own and does not relabel the error: this is the service's own answer to Put Blob with
    # If-None-Match: * on an existing blob.
    blob = _blob(container)
    blob.upload_blob(b"already here", overwrite=True)
    with pytest.raises(ResourceExistsError) as info:
        blob.upload_blob(b"must not land", overwrite=True, match_condition=MatchConditions.IfMissing)
    assert_http_error(info.value, 409, "BlobAlreadyExists")
    assert blob.download_blob().readall() == b"already here"


def test_upload_if_none_match_star_onto_missing_succeeds(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"new", overwrite=True, match_condition=MatchConditions.IfMissing)
    assert blob.download_blob().readall() == b"new"


def test_upload_with_stale_etag_is_condition_not_met(container: ContainerClient) -> None:
    blob = _blob(container)
    stale = blob.upload_blob(b"v1", overwrite=True)["etag"]
    current = blob.upload_blob(b"v2", overwrite=True)["etag"]
    assert stale != current
    with pytest.raises(ResourceModifiedError) as info:
        blob.upload_blob(b"v3", overwrite=True, etag=stale, match_condition=MatchConditions.IfNotModified)
    assert_http_error(info.value, 412, "ConditionNotMet")
    assert blob.download_blob().readall() == b"v2"
    blob.upload_blob(b"v3", overwrite=True, etag=current, match_condition=MatchConditions.IfNotModified)
    assert blob.download_blob().readall() == b"v3"


def test_delete_with_stale_etag_is_condition_not_met(container: ContainerClient) -> None:
    blob = _blob(container)
    stale = blob.upload_blob(b"v1", overwrite=True)["etag"]
    current = blob.upload_blob(b"v2", overwrite=True)["etag"]
    assert stale != current
    with pytest.raises(ResourceModifiedError) as info:
        blob.delete_blob(etag=stale, match_condition=MatchConditions.IfNotModified)
    assert_http_error(info.value, 412, "ConditionNotMet")
    assert blob.download_blob().readall() == b"v2", "a failed conditional delete must leave the blob"
    blob.delete_blob(etag=current, match_condition=MatchConditions.IfNotModified)
    assert blob.exists() is False
