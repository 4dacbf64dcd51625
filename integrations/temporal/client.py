"""Connecting to Temporal with medic's data converter (pydantic models as payloads)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from domain.settings import Settings
from integrations.temporal.converter import DATA_CONVERTER


class TemporalConfigError(ValueError):
    """The secured-Temporal settings cannot be used; the message names the setting and the fix."""


class TemporalUnreachable(RuntimeError):
    """Connecting failed; the message says why in words an operator can act on (which setting to
    check), then the SDK's own error."""


# The SDK core's own log lines (connection retries, worker warnings) reach Python logging under
# this logger's name, so that they are formatted as every other line (JSON for the worker and the
# gateway) instead of printed by the core as coloured text.
CORE_LOGGER = "temporalio.core"


def build_runtime(metrics_address: str = "") -> Runtime:
    """The Temporal runtime every medic process uses: the core's warnings forwarded to Python
    logging, and with `metrics_address` the SDK metrics served there in Prometheus format.
    Raises ValueError when the metrics exporter cannot listen."""
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER), append_target_to_name=False),
    )
    metrics = PrometheusConfig(bind_address=metrics_address) if metrics_address else None
    return Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=metrics))


@functools.cache
def default_runtime() -> Runtime:
    """One runtime per process for the clients that serve no metrics (gateway, CLI, embedded)."""
    return build_runtime()


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with medic's data converter, over TLS (mutual where a client certificate is set)
    and with an API key where the settings say so; `runtime` carries SDK telemetry (the worker's
    metrics; by default, `default_runtime()`). Raises `TemporalConfigError` for unusable TLS
    settings, before connecting, and `TemporalUnreachable` (a RuntimeError) when the connection
    fails."""
    tls = tls_config(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=DATA_CONVERTER,
            runtime=runtime or default_runtime(),
            tls=tls,
            api_key=settings.temporal_api_key or None,
        )
    except RuntimeError as err:
        raise TemporalUnreachable(explain_connect_failure(str(err), settings)) from err


# What the SDK core's connection errors contain (rustls and tonic wording), and what they mean.
_NOT_TLS = ("InvalidContentType", "CorruptMessage")
_CLOSED = (
    "BrokenPipe",
    "ConnectionReset",
    "UnexpectedEof",
    "close_notify",
    "connection closed",
    "transport error",
)
_REFUSED_CREDENTIALS = ("Unauthenticated", "PermissionDenied", "unauthorized")


def explain_connect_failure(error: str, settings: Settings) -> str:
    """One line for a failed connection: the likely cause and the setting to check, then the SDK's
    error. With TLS, a server that refuses a client certificate just closes the connection, so
    "the server closed it" is what names the client certificate."""
    secured = tls_config(settings) is not False
    with_cert = bool(settings.temporal_tls_client_cert_path)
    cause = ""
    if "ConnectionRefused" in error or "Connection refused" in error:
        cause = "nothing accepts connections there (connection refused)"
    elif "UnknownIssuer" in error:
        cause = (
            "the server's TLS certificate is not signed by a CA medic trusts: "
            "set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it"
        )
    elif "NotValidForName" in error:
        cause = (
            "the server's TLS certificate does not carry the expected name: "
            "set TEMPORAL_TLS_SERVER_NAME to a name in the certificate"
        )
    elif "Expired" in error and "InvalidCertificate" in error:
        cause = "the server's TLS certificate has expired or is not valid yet"
    elif secured and any(marker in error for marker in _NOT_TLS):
        cause = (
            "TLS is on but the server answered without TLS: unset TEMPORAL_TLS and the TEMPORAL_TLS_* paths"
        )
    elif any(marker in error for marker in _REFUSED_CREDENTIALS):
        cause = "the server refused medic's credentials: check TEMPORAL_API_KEY or the client certificate"
    elif secured and with_cert and any(marker in error for marker in _CLOSED):
        cause = (
            "the server closed the TLS connection: it does not accept the client certificate "
            f"{settings.temporal_tls_client_cert_path} (TEMPORAL_TLS_CLIENT_CERT_PATH); "
            "it must be signed by a CA the server trusts for clients"
        )
    elif secured and any(marker in error for marker in _CLOSED):
        cause = (
            "the server closed the TLS connection: it may require a client certificate "
            "(set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)"
        )
    elif any(marker in error for marker in _CLOSED):
        cause = (
            "the server closed the connection: it may require TLS "
            "(set TEMPORAL_TLS=true, and a client certificate for mutual TLS)"
        )
    flat = " ".join(error.split())
    return f"{cause} ({flat})" if cause else flat


def tls_config(settings: Settings) -> TLSConfig | bool:
    """The TLS the settings ask for: False (plain gRPC, the dev server) unless TLS is on, a CA, a
    client certificate or an API key is set; True for TLS with the system's roots."""
    ca = settings.temporal_tls_server_ca_cert_path
    cert, key = settings.temporal_tls_client_cert_path, settings.temporal_tls_client_key_path
    name = settings.temporal_tls_server_name
    if not (settings.temporal_tls or ca or cert or key or name or settings.temporal_api_key):
        return False
    if bool(cert) != bool(key):
        missing = "TEMPORAL_TLS_CLIENT_KEY_PATH" if cert else "TEMPORAL_TLS_CLIENT_CERT_PATH"
        raise TemporalConfigError(f"mutual TLS needs a client certificate and its key: set {missing} too")
    if not (ca or cert or name):
        return True
    return TLSConfig(
        server_root_ca_cert=_read(ca, "TEMPORAL_TLS_SERVER_CA_CERT_PATH") if ca else None,
        domain=name or None,
        client_cert=_read(cert, "TEMPORAL_TLS_CLIENT_CERT_PATH") if cert else None,
        client_private_key=_read(key, "TEMPORAL_TLS_CLIENT_KEY_PATH") if key else None,
    )


def _read(path: str, variable: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise TemporalConfigError(f"cannot read {variable} ({path}): {err.strerror or err}") from err


class SearchAttributeError(RuntimeError):
    pass


async def ensure_search_attributes(client: Client, namespace: str, names: Iterable[str]) -> None:
    """Register medic's custom search attributes (Keyword) on the namespace; idempotent.

    A server that refuses (Temporal Cloud, missing permission) raises SearchAttributeError with
    what to do instead: workflows would otherwise fail every task that upserts them.
    """
    wanted = {name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in names}
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {name: kind for name, kind in wanted.items() if name not in listed.custom_attributes}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            return
        flags = " ".join(f"--name {name} --type Keyword" for name in wanted)
        raise SearchAttributeError(
            f"cannot register search attributes {sorted(wanted)} on namespace {namespace}: {err.message}. "
            f"Register them once (`temporal operator search-attribute create {flags}`) "
            "or set MEDIC_SEARCH_ATTRIBUTES=0."
        ) from err
