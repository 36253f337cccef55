"""Fault injection (`kumo emulator --fault-*`): the injected answers look like Azure's own (503 ServerBusy,
500 InternalError, dropped connections, latency), they happen before anything changes, and the SDK's
retry policy gets byte-identical data through an emulator that keeps failing."""

from __future__ import annotations

import hashlib
import subprocess
import time
from typing import Callable, Dict

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.storage.blob import BlobServiceClient, ExponentialRetry

from emulator import EmulatorProcess, kumo_binary
from support import CLIENT_OPTIONS, MiB, connection_string, error_code, unique_name


def _client(emulator: EmulatorProcess, **options) -> BlobServiceClient:
    settings = dict(CLIENT_OPTIONS)
    settings.update(options)
    return BlobServiceClient.from_connection_string(connection_string(emulator.blob_endpoint), **settings)


def test_injected_errors_are_server_busy_or_internal_error(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--fault-rate", "1", "--fault-operations", "get-blob")
    container = _client(emulator).create_container(unique_name("fault"))
    blob = container.get_blob_client("b")
    blob.upload_blob(b"untouched")  # put-blob is not a faulted operation
    seen: Dict[str, int] = {}
    for _ in range(30):
        with pytest.raises(HttpResponseError) as caught:
            blob.download_blob().readall()
        error = caught.value
        code = error_code(error)
        seen[code] = seen.get(code, 0) + 1
        if code == "ServerBusy":
            assert error.status_code == 503
            assert "The server is busy." in error.message
            assert error.response.headers.get("Retry-After") == "1"
        else:
            assert code == "InternalError"
            assert error.status_code == 500
            assert "The server encountered an internal error. Please retry the request." in error.message
    assert set(seen) == {"ServerBusy", "InternalError"}
    # Other operations are served normally.
    assert blob.get_blob_properties().size == len(b"untouched")


def test_faults_happen_before_any_change(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--fault-rate", "1", "--fault-operations", "put-blob,delete-blob,set-blob-metadata")
    container = _client(emulator).create_container(unique_name("fault"))
    blob = container.get_blob_client("b")
    with pytest.raises(HttpResponseError):
        blob.upload_blob(b"never stored")
    assert not blob.exists()
    blob.stage_block("YQ==", b"kept")
    blob.commit_block_list(["YQ=="], metadata={"v": "1"})
    with pytest.raises(HttpResponseError):
        blob.set_blob_metadata({"v": "2"})
    with pytest.raises(HttpResponseError):
        blob.delete_blob()
    assert blob.get_blob_properties().metadata == {"v": "1"}
    assert blob.download_blob().readall() == b"kept"


def test_dropped_connections_get_no_response(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--fault-drop-rate", "1", "--fault-operations", "put-blob,get-blob-properties")
    container = _client(emulator).create_container(unique_name("fault"))
    blob = container.get_blob_client("b")
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        blob.upload_blob(b"dropped")
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        blob.get_blob_properties()
    assert [b.name for b in container.list_blobs()] == []


def test_latency_delays_the_named_operations(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--fault-latency-ms", "400", "--fault-operations", "get-blob-properties")
    container = _client(emulator).create_container(unique_name("fault"))
    blob = container.get_blob_client("b")
    blob.upload_blob(b"slow")
    started = time.monotonic()
    assert blob.get_blob_properties().size == 4
    assert time.monotonic() - started >= 0.4


def test_sdk_retries_through_faults_and_moves_identical_bytes(dedicated_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = dedicated_emulator("--fault-rate", "0.15", "--fault-drop-rate", "0.05", "--fault-latency-ms", "2")
    # The SDK's own retry policy (ExponentialRetry, its default) with short waits (0.1 s plus 0.5^n s) so the suite stays fast.
    # Ten retries: with a 20% fault rate over ~70 requests, six left about one run in two thousand failing.
    retry = ExponentialRetry(initial_backoff=0.1, increment_base=0.5, retry_total=10, random_jitter_range=0.05)
    service = _client(
        emulator, retry_policy=retry, retry_total=10, max_block_size=128 * 1024, max_single_put_size=128 * 1024,
        max_single_get_size=128 * 1024, max_chunk_get_size=128 * 1024,
    )
    statuses: Dict[int, int] = {}

    def record(response) -> None:
        status = response.http_response.status_code
        statuses[status] = statuses.get(status, 0) + 1

    container_name = unique_name("fault")
    for _ in range(5):  # Create Container itself may be failed: retry it like any client would.
        try:
            container = service.create_container(container_name, raw_response_hook=record)
            break
        except HttpResponseError as error:
            if error.status_code != 409:
                raise
            container = service.get_container_client(container_name)
            break
    data = bytes((i * 131 + 7) % 251 for i in range(4 * MiB + 12345))
    blob = container.get_blob_client("payload.bin")
    blob.upload_blob(data, overwrite=True, max_concurrency=2, raw_response_hook=record)
    downloaded = blob.download_blob(max_concurrency=2, raw_response_hook=record).readall()
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(data).hexdigest()
    assert len(downloaded) == len(data)
    # Faults really happened, and the SDK answered them by retrying.
    assert statuses.get(500, 0) + statuses.get(503, 0) > 0, statuses


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fault-rate", "1.5"], "--fault-rate must be 0-1"),
        (["--fault-drop-rate=-0.1"], "--fault-drop-rate must be 0-1"),
        (["--fault-operations", "put-blob,teleport"], "unknown teleport"),
    ],
)
def test_bad_fault_flags_are_refused(args, message) -> None:
    result = subprocess.run(
        [str(kumo_binary()), "emulator", "--port", "0", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert message in result.stderr
