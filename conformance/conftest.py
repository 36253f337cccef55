"""Fixtures for the Blob Storage conformance suite.

One emulator process serves the whole session: `kumo emulator --host 127.0.0.1 --port P --data D`,
started from `$KUMO_BIN` (default `<repo>/.build/debug/kumo`) on a free port with a fresh data
directory, and stopped at the end. Set `KUMO_CONFORMANCE_CONNECTION_STRING` to run the suite against
an endpoint that is already running instead (the account must be devstoreaccount1 with its
well-known key, since the auth tests derive clients from it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from support import CLIENT_OPTIONS, connection_string, parse_connection_string, unique_name

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0

# Paths of the emulator's output files, for the terminal summary when something failed.
_emulator_logs: List[Path] = []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, limit: int = 8000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no output captured>"
    text = text.strip()
    if not text:
        return "<empty>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)


def _abort(message: str) -> None:
    """Without an emulator no test can run: stop the session with one clear message (exit status 3)."""
    pytest.exit(f"conformance: cannot start the emulator: {message}", returncode=3)


@pytest.fixture(scope="session")
def emulator_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Connection string of a running emulator (started here unless one was given)."""
    external = os.environ.get("KUMO_CONFORMANCE_CONNECTION_STRING")
    if external:
        yield external
        return

    binary = Path(os.environ.get("KUMO_BIN") or REPO_ROOT / ".build" / "debug" / "kumo")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        _abort(
            f"kumo binary not found or not executable at {binary}; build it with "
            "`swift build --product kumo` (scripts/conformance does this) or set KUMO_BIN"
        )

    workdir = tmp_path_factory.mktemp("kumo-emulator")
    data_dir = workdir / "data"
    data_dir.mkdir()
    stdout_path = workdir / "emulator.stdout.log"
    stderr_path = workdir / "emulator.stderr.log"
    _emulator_logs[:] = [stdout_path, stderr_path]

    port = _free_port()
    command = [str(binary), "emulator", "--host", "127.0.0.1", "--port", str(port), "--data", str(data_dir)]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        failure: Optional[str] = None
        while True:
            code = process.poll()
            if code is not None:
                failure = f"the emulator exited with status {code} before accepting connections"
                break
            if _accepts_connections(port):
                break
            if time.monotonic() > deadline:
                failure = f"the emulator did not accept connections on 127.0.0.1:{port} within {STARTUP_TIMEOUT_SECONDS:.0f}s"
                break
            time.sleep(0.1)
        if failure is not None:
            _stop(process)
            _abort(
                f"{failure}\ncommand: {' '.join(command)}\n"
                f"--- emulator stderr ---\n{_tail(stderr_path)}\n"
                f"--- emulator stdout ---\n{_tail(stdout_path, 2000)}"
            )

        yield connection_string(f"http://127.0.0.1:{port}/devstoreaccount1")
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def blob_endpoint(emulator_connection_string: str) -> str:
    return parse_connection_string(emulator_connection_string)["BlobEndpoint"].rstrip("/")


@pytest.fixture(scope="session")
def service(emulator_connection_string: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(emulator_connection_string, **CLIENT_OPTIONS)


@pytest.fixture
def container(service: BlobServiceClient) -> Iterator[ContainerClient]:
    """A fresh, uniquely named container, deleted after the test (errors ignored)."""
    client = service.create_container(unique_name("ct"))
    try:
        yield client
    finally:
        try:
            client.delete_container()
        except Exception:  # noqa: BLE001 - cleanup must never mask the test's own result
            pass


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if exitstatus != 0 and _emulator_logs:
        terminalreporter.write_line("emulator output: " + ", ".join(str(p) for p in _emulator_logs))
