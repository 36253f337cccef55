"""Starting and stopping `kumo emulator` processes for the conformance suite.

The session fixture runs one emulator for most tests; tests that need their own (fault injection,
versioning, restarts) start a dedicated one with `EmulatorProcess`, which can be stopped and started
again on the same data directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


def kumo_binary() -> Path:
    return Path(os.environ.get("KUMO_BIN") or REPO_ROOT / ".build" / "debug" / "kumo")


def free_port(avoid: Sequence[Optional[int]] = ()) -> int:
    """A port nothing listens on, other than those in `avoid`: two calls in a row can be handed the same port by
    the kernel once the first socket is closed, and an emulator given one port twice cannot start."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, limit: int = 8000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no output captured>"
    text = text.strip()
    if not text:
        return "<empty>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


class EmulatorStartError(RuntimeError):
    pass


class EmulatorProcess:
    """One `kumo emulator` on a fixed port and data directory; `start`/`stop` may be repeated."""

    def __init__(self, workdir: Path, extra_args: Sequence[str] = (), port: Optional[int] = None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.extra_args: List[str] = list(extra_args)
        self.port = port or free_port()
        # Every emulator gets its own HTTPS port too, so emulators started side by side never collide on 10443.
        self.https_port = free_port(avoid=[self.port])
        # ... and its own Event Hubs AMQP port (the emulator's default is 5672), unless the test names one.
        self.amqp_port: Optional[int] = self._flag_value("--amqp-port")
        if self.amqp_port is None:
            self.amqp_port = free_port(avoid=[self.port, self.https_port])
            self.extra_args += ["--amqp-port", str(self.amqp_port)]
        elif self.amqp_port < 0:
            self.amqp_port = None  # --amqp-port -1: no Event Hubs
        self.stdout_path = workdir / "emulator.stdout.log"
        self.stderr_path = workdir / "emulator.stderr.log"
        self.process: Optional[subprocess.Popen] = None

    def _flag_value(self, flag: str) -> Optional[int]:
        if flag in self.extra_args:
            index = self.extra_args.index(flag)
            if index + 1 < len(self.extra_args):
                return int(self.extra_args[index + 1])
        return None

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/devstoreaccount1"

    @property
    def blob_https_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/devstoreaccount1"

    @property
    def authority(self) -> str:
        """The authority host for azure-identity (`authority=`)."""
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def vault_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def eventhubs_connection_string(self, key: str = "SAS_KEY_VALUE", key_name: str = "RootManageSharedAccessKey") -> str:
        """The Event Hubs connection string the emulator prints, for its plain AMQP port."""
        if self.amqp_port is None:
            raise RuntimeError("this emulator serves no Event Hubs (--amqp-port -1)")
        return (
            f"Endpoint=sb://127.0.0.1:{self.amqp_port};SharedAccessKeyName={key_name};"
            f"SharedAccessKey={key};UseDevelopmentEmulator=true"
        )

    @property
    def ca_path(self) -> Path:
        """The emulator's CA certificate, written on first start; clients trust it for the HTTPS listener."""
        return self.data_dir / "tls" / "ca.pem"

    @property
    def command(self) -> List[str]:
        return [
            str(kumo_binary()), "emulator", "--host", "127.0.0.1", "--port", str(self.port),
            "--https-port", str(self.https_port), "--data", str(self.data_dir), *self.extra_args,
        ]

    def start(self) -> None:
        binary = kumo_binary()
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise EmulatorStartError(
                f"kumo binary not found or not executable at {binary}; build it with "
                "`swift build --product kumo` (scripts/conformance does this) or set KUMO_BIN"
            )
        # Append, so the output of earlier runs (before a restart) stays readable.
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            code = self.process.poll()
            if code is not None:
                failure = f"the emulator exited with status {code} before accepting connections"
                break
            if (
                accepts_connections(self.port) and accepts_connections(self.https_port)
                and (self.amqp_port is None or accepts_connections(self.amqp_port))
            ):
                return
            if time.monotonic() > deadline:
                ports = f"{self.port}, {self.https_port}" + (f" and {self.amqp_port}" if self.amqp_port else "")
                failure = (
                    f"the emulator did not accept connections on 127.0.0.1 ports {ports} "
                    f"within {STARTUP_TIMEOUT_SECONDS:.0f}s"
                )
                break
            time.sleep(0.1)
        self.stop()
        raise EmulatorStartError(
            f"{failure}\ncommand: {' '.join(self.command)}\n"
            f"--- emulator stderr ---\n{tail(self.stderr_path)}\n"
            f"--- emulator stdout ---\n{tail(self.stdout_path, 2000)}"
        )

    def stop(self) -> None:
        """SIGTERM and wait: the emulator shuts down gracefully, closing its store."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)

    def restart(self) -> None:
        self.stop()
        self.start()
