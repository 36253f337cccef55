"""Block blobs: Put Block, Put Block List, Get Block List, and the SDK's chunked (staged) uploads and
parallel ranged downloads."""

from __future__ import annotations

import base64
import hashlib
import os
from xml.etree import ElementTree as ET

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobBlock,
    BlobServiceClient,
    BlobType,
    ContainerClient,
    ContentSettings,
)

from support import CLIENT_OPTIONS, MiB, assert_http_error, unique_name

# Block IDs: the SDK base64-encodes them; Azure requires every block ID of a blob to have the same
# length (before encoding), so these are all 10 characters.
ID_A = "block-0001"
ID_B = "block-0002"
ID_C = "block-0003"
ID_D = "block-0004"
ID_MISSING = "block-9999"

DATA_A = b"A" * 100 + b"-first-"
DATA_B = b"B" * 2048
DATA_C = os.urandom(3000)
DATA_D = b"dangling block"


class _State(str):
    """A block state the SDK serialises as intended.

    azure-storage-blob 12.31.1 decides between <Committed>, <Uncommitted> and <Latest> by comparing
    `block.state.value` with the lowercase names, while `BlockState` values are capitalised, so
    `BlockState.COMMITTED` and `BlockState.UNCOMMITTED` go out as <Latest>. This string equals the
    `BlockState` member and has the lowercase `.value`, so it works with either comparison; `_commit`
    checks the request body, so an SDK that serialises differently fails loudly as an SDK problem.
    """

    @property
    def value(self) -> str:
        return self.lower()


COMMITTED = _State("Committed")
UNCOMMITTED = _State("Uncommitted")
LATEST = _State("Latest")


def _commit(blob, blocks, **kwargs):
    """Put Block List with explicit lists: `blocks` is [(block_id, COMMITTED|UNCOMMITTED|LATEST)].

    The SDK groups the XML as all <Committed>, then all <Uncommitted>, then all <Latest> entries, so
    a list must already be in that grouping for its order to survive; this is asserted.
    """
    sent = []

    def capture(request):
        sent.append(request.http_request.body)

    try:
        return blob.commit_block_list([BlobBlock(i, state=s) for i, s in blocks], raw_request_hook=capture, **kwargs)
    finally:
        assert sent, "the SDK sent no Put Block List request"
        body = sent[-1].decode() if isinstance(sent[-1], bytes) else sent[-1]
        tags = [(base64.b64decode(el.text).decode(), el.tag) for el in ET.fromstring(body)]
        assert tags == [(i, str(s)) for i, s in blocks], f"SDK serialised the block list as {tags}, not {blocks}"


def _blob(container: ContainerClient):
    return container.get_blob_client(unique_name("blk"))


def _ids(blocks):
    return [b.id for b in blocks]


def _sizes(blocks):
    return {b.id: b.size for b in blocks}


def test_staged_blocks_are_uncommitted(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.stage_block(ID_A, DATA_A)
    blob.stage_block(ID_B, DATA_B)
    blob.stage_block(ID_C, DATA_C)

    committed, uncommitted = blob.get_block_list("all")
    assert committed == []
    assert sorted(_ids(uncommitted)) == [ID_A, ID_B, ID_C]
    assert _sizes(uncommitted) == {ID_A: len(DATA_A), ID_B: len(DATA_B), ID_C: len(DATA_C)}

    # A blob with only uncommitted blocks does not exist yet.
    with pytest.raises(ResourceNotFoundError) as info:
        blob.get_blob_properties()
    assert_http_error(info.value, 404, "BlobNotFound")


def test_commit_in_chosen_order(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.stage_block(ID_A, DATA_A)
    blob.stage_block(ID_B, DATA_B)
    blob.stage_block(ID_C, DATA_C)

    blob.commit_block_list([BlobBlock(ID_C), BlobBlock(ID_A), BlobBlock(ID_B)])

    expected = DATA_C + DATA_A + DATA_B
    assert blob.download_blob().readall() == expected
    props = blob.get_blob_properties()
    assert props.size == len(expected)
    assert props.blob_type == BlobType.BLOCKBLOB

    committed, uncommitted = blob.get_block_list("committed")
    assert _ids(committed) == [ID_C, ID_A, ID_B]
    assert [b.size for b in committed] == [len(DATA_C), len(DATA_A), len(DATA_B)]
    assert uncommitted == []

    # The default list type is the committed list.
    committed_default, _ = blob.get_block_list()
    assert _ids(committed_default) == [ID_C, ID_A, ID_B]

    # Committing moved every named block out of the uncommitted list.
    committed_all, uncommitted_all = blob.get_block_list("all")
    assert _ids(committed_all) == [ID_C, ID_A, ID_B]
    assert uncommitted_all == []


def test_commit_with_plain_string_ids(container: ContainerClient) -> None:
    # Plain IDs are sent as <Latest>: the service takes the newest version of each.
    blob = _blob(container)
    blob.stage_block(ID_A, DATA_A)
    blob.stage_block(ID_B, DATA_B)
    blob.commit_block_list([ID_B, ID_A])
    assert blob.download_blob().readall() == DATA_B + DATA_A


def test_uncommitted_blocks_not_in_the_list_are_discarded(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.stage_block(ID_A, DATA_A)
    blob.stage_block(ID_B, DATA_B)
    blob.stage_block(ID_C, DATA_C)
    blob.commit_block_list([BlobBlock(ID_A), BlobBlock(ID_C)])

    assert blob.download_blob().readall() == DATA_A + DATA_C
    committed, uncommitted = blob.get_block_list("all")
    assert _ids(committed) == [ID_A, ID_C]
    assert uncommitted == [], f"block B should have been discarded, got {_ids(uncommitted)}"

    # The discarded block can no longer be committed.
    with pytest.raises(HttpResponseError) as info:
        _commit(blob, [(ID_A, COMMITTED), (ID_B, UNCOMMITTED)])
    assert_http_error(info.value, 400, "InvalidBlockList")
    assert blob.download_blob().readall() == DATA_A + DATA_C


def test_recommit_subset_of_committed_blocks(container: ContainerClient) -> None:
    blob = _blob(container)
    for block_id, data in ((ID_A, DATA_A), (ID_B, DATA_B), (ID_C, DATA_C)):
        blob.stage_block(block_id, data)
    blob.commit_block_list([BlobBlock(ID_A), BlobBlock(ID_B), BlobBlock(ID_C)])
    first_etag = blob.get_blob_properties().etag

    _commit(blob, [(ID_C, COMMITTED), (ID_A, COMMITTED)])
    assert blob.download_blob().readall() == DATA_C + DATA_A
    props = blob.get_blob_properties()
    assert props.size == len(DATA_C) + len(DATA_A)
    assert props.etag != first_etag
    committed, _ = blob.get_block_list("committed")
    assert _ids(committed) == [ID_C, ID_A]

    # B was dropped from the blob, so it can no longer be committed from the committed list.
    with pytest.raises(HttpResponseError) as info:
        _commit(blob, [(ID_B, COMMITTED)])
    assert_http_error(info.value, 400, "InvalidBlockList")


def test_committed_uncommitted_and_latest_lists(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.stage_block(ID_A, DATA_A)
    blob.stage_block(ID_B, DATA_B)
    blob.commit_block_list([ID_A, ID_B])

    # Stage a new version of A: it is uncommitted while the old A stays committed.
    new_a = b"a new, different version of block A"
    blob.stage_block(ID_A, new_a)
    committed, uncommitted = blob.get_block_list("all")
    assert _ids(committed) == [ID_A, ID_B]
    assert _ids(uncommitted) == [ID_A]
    assert uncommitted[0].size == len(new_a)
    assert blob.download_blob().readall() == DATA_A + DATA_B, "staging must not change the blob"

    # Committed: take the old A, ignoring the staged one (which is then discarded).
    _commit(blob, [(ID_A, COMMITTED), (ID_B, COMMITTED)])
    assert blob.download_blob().readall() == DATA_A + DATA_B
    assert blob.get_block_list("all")[1] == []

    # Uncommitted: take the newly staged A (after the committed B).
    blob.stage_block(ID_A, new_a)
    _commit(blob, [(ID_B, COMMITTED), (ID_A, UNCOMMITTED)])
    assert blob.download_blob().readall() == DATA_B + new_a

    # Latest: a staged version wins over the committed one.
    newest_a = b"newest A"
    blob.stage_block(ID_A, newest_a)
    _commit(blob, [(ID_B, LATEST), (ID_A, LATEST)])
    assert blob.download_blob().readall() == DATA_B + newest_a


def test_commit_unknown_block_is_invalid_block_list(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.stage_block(ID_A, DATA_A)
    with pytest.raises(HttpResponseError) as info:
        blob.commit_block_list([BlobBlock(ID_A), BlobBlock(ID_MISSING)])
    assert_http_error(info.value, 400, "InvalidBlockList")
    # The failed commit created nothing.
    with pytest.raises(ResourceNotFoundError):
        blob.get_blob_properties()


def test_commit_committed_state_for_uncommitted_block_is_invalid(container: ContainerClient) -> None:
    # <Committed> looks only in the committed list; a merely staged block is not there.
    blob = _blob(container)
    blob.stage_block(ID_D, DATA_D)
    with pytest.raises(HttpResponseError) as info:
        _commit(blob, [(ID_D, COMMITTED)])
    assert_http_error(info.value, 400, "InvalidBlockList")


def test_commit_replaces_metadata_and_content_type(container: ContainerClient) -> None:
    blob = _blob(container)
    blob.upload_blob(b"small original", overwrite=True, metadata={"old": "1"})
    blob.stage_block(ID_A, DATA_A)
    blob.commit_block_list(
        [ID_A],
        metadata={"new": "2"},
        content_settings=ContentSettings(content_type="application/x-kumo"),
    )
    props = blob.get_blob_properties()
    assert props.metadata == {"new": "2"}
    assert props.content_settings.content_type == "application/x-kumo"
    assert blob.download_blob().readall() == DATA_A


# --------------------------------------------------------------------------------------------------
# The SDK's own chunking


@pytest.fixture(scope="module")
def chunking_service(emulator_connection_string: str) -> BlobServiceClient:
    """A client that splits uploads into 1 MiB blocks and downloads in 1 MiB ranges."""
    return BlobServiceClient.from_connection_string(
        emulator_connection_string,
        max_single_put_size=1 * MiB,
        max_block_size=1 * MiB,
        max_single_get_size=1 * MiB,
        max_chunk_get_size=1 * MiB,
        **CLIENT_OPTIONS,
    )


def test_large_upload_is_staged_in_blocks(container: ContainerClient, chunking_service: BlobServiceClient) -> None:
    data = os.urandom(5 * MiB + 12345)
    blob = chunking_service.get_blob_client(container.container_name, unique_name("large"))
    blob.upload_blob(data, overwrite=True, max_concurrency=4)

    props = blob.get_blob_properties()
    assert props.size == len(data)
    assert props.blob_type == BlobType.BLOCKBLOB

    # The SDK staged 1 MiB blocks and committed them in order.
    committed, uncommitted = blob.get_block_list("all")
    assert uncommitted == []
    assert [b.size for b in committed] == [MiB] * 5 + [12345]
    assert len(set(_ids(committed))) == len(committed)

    # Parallel ranged download through the chunking client.
    downloaded = blob.download_blob(max_concurrency=4).readall()
    assert len(downloaded) == len(data)
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(data).hexdigest()

    # And a single plain download through the ordinary client.
    plain = container.get_blob_client(blob.blob_name).download_blob().readall()
    assert plain == data


def test_large_ranged_download_across_chunks(container: ContainerClient, chunking_service: BlobServiceClient) -> None:
    data = os.urandom(3 * MiB + 777)
    blob = chunking_service.get_blob_client(container.container_name, unique_name("large"))
    blob.upload_blob(data, overwrite=True, max_concurrency=2)
    offset, length = MiB - 100, MiB + 1000  # spans three 1 MiB download chunks
    part = blob.download_blob(offset=offset, length=length, max_concurrency=4).readall()
    assert part == data[offset : offset + length]
    tail = blob.download_blob(offset=3 * MiB, length=MiB, max_concurrency=4).readall()
    assert tail == data[3 * MiB :]


def test_uncommitted_block_ids_share_a_length_until_a_list_is_committed(container: ContainerClient) -> None:
    blob = container.get_blob_client(unique_name("idlength"))
    blob.stage_block("four", b"1111")
    with pytest.raises(HttpResponseError) as caught:
        blob.stage_block("eightchr", b"222222")
    assert_http_error(caught.value, 400, "InvalidBlobOrBlock")
    blob.commit_block_list([BlobBlock(block_id="four")])
    # The list is committed and no block is uncommitted: a new length may start.
    blob.stage_block("eightchr", b"222222")
    blob.commit_block_list([BlobBlock(block_id="four"), BlobBlock(block_id="eightchr")])
    assert blob.download_blob().readall() == b"1111222222"
