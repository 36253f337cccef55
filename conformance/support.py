"""Shared constants and helpers for the Blob Storage conformance suite.

Everything here is about how Azure Storage behaves and how the official SDK reports it; nothing is
specific to Kumo's emulator.
"""

from __future__ import annotations

import base64
import datetime as _dt
import uuid
from typing import Any, Dict, Optional

from azure.core.exceptions import HttpResponseError

# The well-known development storage account that Microsoft's emulators use.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# A syntactically valid key (64 bytes, base64) that is not the account's key.
WRONG_ACCOUNT_KEY = base64.b64encode(b"kumo conformance: not the account key".ljust(64, b".")).decode("ascii")

MiB = 1024 * 1024

# Client settings for every client in the suite: no SDK retries (a server bug must show up as a
# clear failure, not as a slow retry loop) and bounded socket timeouts (never a hang).
CLIENT_OPTIONS: Dict[str, Any] = {
    "retry_total": 0,
    "retry_connect": 0,
    "retry_read": 0,
    "retry_status": 0,
    "connection_timeout": 10,
    "read_timeout": 10,
}


def connection_string(blob_endpoint: str, account_key: str = ACCOUNT_KEY) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};"
        f"AccountKey={account_key};"
        f"BlobEndpoint={blob_endpoint};"
    )


def parse_connection_string(conn_str: str) -> Dict[str, str]:
    parts: Dict[str, str] = {}
    for segment in conn_str.split(";"):
        if not segment.strip():
            continue
        key, _, value = segment.partition("=")
        parts[key.strip()] = value.strip()
    return parts


def unique_name(prefix: str = "k") -> str:
    """A name that is valid both as a container name (lowercase, digits) and as a blob name."""
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def error_code(exc: HttpResponseError) -> Optional[str]:
    """The storage error code as the SDK exposes it (`e.error_code`), as a plain string.

    The SDK sets it either to a `StorageErrorCode` member or to the raw string from the
    response's XML body / `x-ms-error-code` header, depending on the code path.
    """
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    return str(getattr(code, "value", code))


def assert_http_error(exc: HttpResponseError, status: int, code: Optional[str] = None) -> None:
    """Assert the SDK exception carries the documented HTTP status and storage error code."""
    assert isinstance(exc, HttpResponseError), f"expected an HttpResponseError, got {type(exc).__name__}: {exc}"
    assert exc.status_code == status, (
        f"expected HTTP {status}, got {exc.status_code} (error_code={error_code(exc)!r}): {exc.message}"
    )
    if code is not None:
        assert error_code(exc) == code, (
            f"expected error code {code!r}, got {error_code(exc)!r} (HTTP {exc.status_code}): {exc.message}"
        )


def raw_error_code_header(exc: HttpResponseError) -> Optional[str]:
    """The `x-ms-error-code` header exactly as the service sent it (no SDK translation)."""
    if exc.response is None:
        return None
    return exc.response.headers.get("x-ms-error-code")


def as_utc(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def assert_recent(value: Optional[_dt.datetime], tolerance_seconds: float = 300.0) -> None:
    """A server timestamp (Last-Modified) must be a real, current time: the emulator runs on this machine."""
    assert isinstance(value, _dt.datetime), f"expected a datetime, got {value!r}"
    now = _dt.datetime.now(_dt.timezone.utc)
    delta = abs((as_utc(value) - now).total_seconds())
    assert delta <= tolerance_seconds, f"timestamp {value!r} is {delta:.0f}s away from now ({now!r})"


def assert_etag(value: Optional[str]) -> None:
    assert isinstance(value, str) and value.strip('"'), f"expected a non-empty ETag, got {value!r}"
