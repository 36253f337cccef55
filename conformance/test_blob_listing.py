"""List Blobs: prefixes, metadata, delimiter hierarchy (virtual directories), paging and order."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobPrefix, BlobProperties, BlobType, ContainerClient, ContentSettings

from support import assert_etag, assert_recent

TREE = {
    "data/x.bin": b"\x00\x01\x02",
    "logs/2024/a.log": b"a" * 10,
    "logs/2024/b.log": b"b" * 20,
    "logs/2025/c.log": b"c" * 30,
    "logs-archive.txt": b"archive",
    "readme.md": b"# readme",
}


@pytest.fixture
def tree(container: ContainerClient):
    for name in reversed(sorted(TREE)):  # upload out of order: listing order is the service's job
        container.upload_blob(
            name,
            TREE[name],
            overwrite=True,
            metadata={"path": name.replace("/", "_")},
            content_settings=ContentSettings(content_type="text/x-kumo"),
        )
    return container


def _names(items):
    return [item.name for item in items]


def test_list_all_blobs_in_order(tree: ContainerClient) -> None:
    blobs = list(tree.list_blobs())
    assert _names(blobs) == sorted(TREE)


def test_list_blobs_reports_properties(tree: ContainerClient) -> None:
    for item in tree.list_blobs():
        assert isinstance(item, BlobProperties)
        assert item.size == len(TREE[item.name])
        assert item.blob_type == BlobType.BLOCKBLOB
        assert item.content_settings.content_type == "text/x-kumo"
        assert_recent(item.last_modified)
        assert_etag(item.etag)
        assert item.etag == tree.get_blob_client(item.name).get_blob_properties().etag


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        pytest.param("logs/", ["logs/2024/a.log", "logs/2024/b.log", "logs/2025/c.log"], id="directory"),
        pytest.param("logs", ["logs-archive.txt", "logs/2024/a.log", "logs/2024/b.log", "logs/2025/c.log"], id="partial"),
        pytest.param("logs/2024/b", ["logs/2024/b.log"], id="partial-file-name"),
        pytest.param("readme.md", ["readme.md"], id="exact-name"),
        pytest.param("nothing-here", [], id="no-match"),
    ],
)
def test_list_blobs_name_starts_with(tree: ContainerClient, prefix: str, expected: list) -> None:
    assert _names(tree.list_blobs(name_starts_with=prefix)) == expected


def test_list_blobs_include_metadata(tree: ContainerClient) -> None:
    with_metadata = {b.name: b.metadata for b in tree.list_blobs(include=["metadata"])}
    assert with_metadata == {name: {"path": name.replace("/", "_")} for name in TREE}
    # Without include=metadata the service returns none.
    for b in tree.list_blobs():
        assert not b.metadata, f"metadata returned without include=metadata: {b.name}: {b.metadata!r}"


def test_walk_blobs_top_level(tree: ContainerClient) -> None:
    items = list(tree.walk_blobs(delimiter="/"))
    prefixes = sorted(i.name for i in items if isinstance(i, BlobPrefix))
    blobs = sorted(i.name for i in items if not isinstance(i, BlobPrefix))
    assert prefixes == ["data/", "logs/"]
    assert blobs == ["logs-archive.txt", "readme.md"]
    assert len(items) == 4, f"each entry exactly once: {_names(items)}"


def test_walk_blobs_into_virtual_directories(tree: ContainerClient) -> None:
    top = {i.name: i for i in tree.walk_blobs(delimiter="/")}
    logs = list(top["logs/"])
    assert sorted(_names(logs)) == ["logs/2024/", "logs/2025/"]
    assert all(isinstance(i, BlobPrefix) for i in logs)

    year = {i.name: i for i in logs}["logs/2024/"]
    leaves = list(year)
    assert sorted(_names(leaves)) == ["logs/2024/a.log", "logs/2024/b.log"]
    assert all(isinstance(i, BlobProperties) for i in leaves)
    assert {i.name: i.size for i in leaves} == {"logs/2024/a.log": 10, "logs/2024/b.log": 20}

    data = list(top["data/"])
    assert _names(data) == ["data/x.bin"]


def test_walk_blobs_with_prefix(tree: ContainerClient) -> None:
    items = list(tree.walk_blobs(name_starts_with="logs/", delimiter="/"))
    assert sorted(_names(items)) == ["logs/2024/", "logs/2025/"]
    assert all(isinstance(i, BlobPrefix) for i in items)

    items = list(tree.walk_blobs(name_starts_with="logs/2025/", delimiter="/"))
    assert _names(items) == ["logs/2025/c.log"]
    assert isinstance(items[0], BlobProperties)


# --------------------------------------------------------------------------------------------------
# Paging and order

# Azure lists blobs in lexicographic order of their names (upper-case letters before lower-case):
# '-' (0x2D) < '.' (0x2E) < '/' (0x2F) < digits < upper case < lower case.
SEVEN = ["gamma", "beta/one", "alpha", "Zeta", "beta.three", "0-numeric", "beta-two"]


@pytest.fixture
def seven(container: ContainerClient):
    for name in SEVEN:
        container.upload_blob(name, name.encode(), overwrite=True)
    return container


def test_paging_by_page(seven: ContainerClient) -> None:
    pages = [_names(page) for page in seven.list_blobs(results_per_page=2).by_page()]
    assert all(len(p) <= 2 for p in pages), pages
    assert len([p for p in pages if p]) >= 4, f"7 blobs at 2 per page need 4+ pages: {pages}"
    flat = [n for p in pages for n in p]
    assert flat == sorted(SEVEN), f"each blob exactly once, in lexicographic order: {pages}"


def test_paging_resume_from_continuation_token(seven: ContainerClient) -> None:
    seen = []
    token = None
    requests = 0
    while True:
        pager = seven.list_blobs(results_per_page=2).by_page(continuation_token=token)
        page = _names(next(pager))
        requests += 1
        assert len(page) <= 2
        seen.extend(page)
        token = pager.continuation_token
        if not token:
            break
        assert requests < 20, "continuation tokens never ran out"
    assert seen == sorted(SEVEN)
    assert requests >= 4


def test_paging_with_prefix(seven: ContainerClient) -> None:
    pages = [_names(page) for page in seven.list_blobs(name_starts_with="beta", results_per_page=2).by_page()]
    assert all(len(p) <= 2 for p in pages), pages
    assert [n for p in pages for n in p] == ["beta-two", "beta.three", "beta/one"]


# --------------------------------------------------------------------------------------------------
# What is not listed


def test_uncommitted_and_deleted_blobs_are_not_listed(container: ContainerClient) -> None:
    container.upload_blob("kept", b"kept", overwrite=True)
    container.upload_blob("deleted", b"gone soon", overwrite=True)
    container.delete_blob("deleted")
    container.get_blob_client("staged-only").stage_block("block-0001", b"not committed")
    assert _names(container.list_blobs()) == ["kept"]
