"""Fixtures for the Blob Storage conformance suite.

One emulator process serves the whole session: `kumo emulator --host 127.0.0.1 --port P --data D`,
started from `$KUMO_BIN` (default `<repo>/.build/debug/kumo`) on a free port with a fresh data
directory, and stopped at the end. Set `KUMO_CONFORMANCE_CONNECTION_STRING` to run the suite against
an endpoint that is already running instead (the account must be devstoreaccount1 with its
well-known key, since the auth tests derive clients from it).

Tests that need an emulator of their own (versioning, soft delete, fault injection, restarts) use the
`dedicated_emulator` fixture, which starts `kumo emulator` with extra flags on a fresh data directory
(see emulator.py); those tests are skipped against an external endpoint. The Event Hubs tests share the
`eventhubs_namespace` emulator, which declares a pool of hubs (eventhubs_support.py); `event_hub` hands each
test one that no other test has used.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Callable, Iterator, List

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from emulator import EmulatorProcess, EmulatorStartError
from eventhubs_support import EventHubsNamespace, hub_pool_arguments
from support import CLIENT_OPTIONS, connection_string, parse_connection_string, unique_name

# Paths of the emulator's output files, for the terminal summary when something failed.
_emulator_logs: List[Path] = []


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

    emulator = EmulatorProcess(tmp_path_factory.mktemp("kumo-emulator"))
    _emulator_logs[:] = [emulator.stdout_path, emulator.stderr_path]
    try:
        emulator.start()
    except EmulatorStartError as error:
        _abort(str(error))
    try:
        yield connection_string(emulator.blob_endpoint)
    finally:
        emulator.stop()


@pytest.fixture
def dedicated_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatorProcess]]:
    """Starts emulators of the test's own (`start(*extra_args)`), each with a fresh data directory; all are
    stopped after the test. Skipped when the suite runs against an external endpoint."""
    if os.environ.get("KUMO_CONFORMANCE_CONNECTION_STRING"):
        pytest.skip("needs to start its own emulator; the suite runs against an external endpoint")
    started: List[EmulatorProcess] = []

    def start(*extra_args: str) -> EmulatorProcess:
        emulator = EmulatorProcess(tmp_path / f"emulator{len(started)}", extra_args)
        started.append(emulator)
        _emulator_logs.extend([emulator.stdout_path, emulator.stderr_path])
        emulator.start()
        return emulator

    try:
        yield start
    finally:
        for emulator in started:
            emulator.stop()


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


@pytest.fixture(scope="session")
def identity_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator for the Entra ID, managed identity, Key Vault and bearer-token tests: besides the
    development application it registers a certificate client, a federated (workload identity) client and a
    second secret client. `client_certificate_path` is the PEM (key and certificate) of the certificate client."""
    if os.environ.get("KUMO_CONFORMANCE_CONNECTION_STRING"):
        pytest.skip("needs to start its own emulator; the suite runs against an external endpoint")
    from identity_support import CERTIFICATE_CLIENT_ID, FEDERATED_CLIENT_ID, FEDERATED_SUBJECT, make_certificate

    workdir = tmp_path_factory.mktemp("kumo-identity")
    certificate_pem, key_pem = make_certificate("kumo conformance client")
    (workdir / "client-cert.pem").write_bytes(certificate_pem)
    (workdir / "client.pem").write_bytes(key_pem + certificate_pem)
    emulator = EmulatorProcess(
        workdir / "emulator",
        [
            "--client-certificate", f"{CERTIFICATE_CLIENT_ID}:{workdir / 'client-cert.pem'}",
            "--federated-subject", f"{FEDERATED_CLIENT_ID}:{FEDERATED_SUBJECT}",
            "--client", "kumo-other:kumo-other-secret",
        ],
    )
    emulator.client_certificate_path = workdir / "client.pem"  # type: ignore[attr-defined]
    _emulator_logs.extend([emulator.stdout_path, emulator.stderr_path])
    try:
        emulator.start()
    except EmulatorStartError as error:
        _abort(str(error))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def eventhubs_namespace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventHubsNamespace]:
    """An emulator for the Event Hubs tests: a pool of hubs (see eventhubs_support.py) on its own AMQP port, and
    the Blob service the checkpoint store tests write to, in the same process."""
    if os.environ.get("KUMO_CONFORMANCE_CONNECTION_STRING"):
        pytest.skip("needs to start its own emulator; the suite runs against an external endpoint")
    emulator = EmulatorProcess(tmp_path_factory.mktemp("kumo-eventhubs") / "emulator", hub_pool_arguments())
    _emulator_logs.extend([emulator.stdout_path, emulator.stderr_path])
    started_at = datetime.datetime.now(datetime.timezone.utc)
    try:
        emulator.start()
    except EmulatorStartError as error:
        _abort(str(error))
    try:
        yield EventHubsNamespace(emulator, started_at)
    finally:
        emulator.stop()


@pytest.fixture
def event_hub(eventhubs_namespace: EventHubsNamespace) -> str:
    """The name of an event hub no other test has used: all its partitions are empty."""
    return eventhubs_namespace.take_hub()
