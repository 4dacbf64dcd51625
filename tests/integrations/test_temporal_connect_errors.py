"""A failed connection to Temporal says why in one line and names the setting to check. The error
texts below are the SDK core's, captured from connections to a mutual-TLS endpoint in front of the
dev server (tests/e2e/test_secure_temporal.py makes the same connections for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.settings import Settings
from integrations.temporal.client import explain_connect_failure

CLOSED_BROKEN_PIPE = (
    "Failed client connect: `get_system_info` call error after connection: Status { code: Unknown, "
    'message: "transport error", source: Some(tonic::transport::Error(Transport, hyper::Error(Io, '
    'Custom { kind: BrokenPipe, error: "stream closed because of a broken pipe" }))) }'
)
CLOSED_WITHOUT_NOTIFY = (
    "Failed client connect: `get_system_info` call error after connection: Status { code: Unknown, "
    'message: "transport error", source: Some(tonic::transport::Error(Transport, hyper::Error(Io, '
    'Custom { kind: UnexpectedEof, error: "peer closed connection without sending TLS close_notify" }))) }'
)
CLOSED_CANCELED = (
    "Failed client connect: `get_system_info` call error after connection: Status { code: Cancelled, "
    'message: "operation was canceled", source: Some(tonic::transport::Error(Transport, '
    'hyper::Error(Canceled, "connection closed"))) }'
)
PLAIN_SERVER = (
    "Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError("
    "Custom { kind: InvalidData, error: InvalidMessage(InvalidContentType) }))"
)
WRONG_NAME = (
    "Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError("
    "Custom { kind: InvalidData, error: InvalidCertificate(NotValidForNameContext { "
    'expected: DnsName("other"), presented: ["DnsName(\\"temporal.medic.test\\")"] }) }))'
)
UNKNOWN_ISSUER = (
    "Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError("
    "Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }))"
)
REFUSED = (
    "Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError("
    'ConnectError("tcp connect error", 127.0.0.1:1, Os { code: 111, kind: ConnectionRefused, '
    'message: "Connection refused" })))'
)


def _mutual(tmp_path: Path) -> Settings:
    for name in ("ca.pem", "client.crt", "client.key"):
        (tmp_path / name).write_text("-")
    return Settings(
        temporal_tls_server_ca_cert_path=str(tmp_path / "ca.pem"),
        temporal_tls_client_cert_path=str(tmp_path / "client.crt"),
        temporal_tls_client_key_path=str(tmp_path / "client.key"),
    )


@pytest.mark.parametrize("error", [CLOSED_BROKEN_PIPE, CLOSED_WITHOUT_NOTIFY, CLOSED_CANCELED])
def test_a_closed_tls_connection_names_the_client_certificate(tmp_path: Path, error: str) -> None:
    line = explain_connect_failure(error, _mutual(tmp_path))
    assert line.startswith("the server closed the TLS connection: it does not accept the client certificate")
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in line and str(tmp_path / "client.crt") in line
    assert line.endswith(f"({error})") and "\n" not in line


def test_without_a_client_certificate_it_says_one_may_be_required() -> None:
    line = explain_connect_failure(CLOSED_WITHOUT_NOTIFY, Settings(temporal_tls=True))
    assert "may require a client certificate" in line and "TEMPORAL_TLS_CLIENT_KEY_PATH" in line


def test_without_tls_a_closed_connection_suggests_tls() -> None:
    assert "set TEMPORAL_TLS=true" in explain_connect_failure(CLOSED_BROKEN_PIPE, Settings())


@pytest.mark.parametrize(
    ("error", "setting"),
    [
        (UNKNOWN_ISSUER, "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
        (WRONG_NAME, "TEMPORAL_TLS_SERVER_NAME"),
        (PLAIN_SERVER, "unset TEMPORAL_TLS"),
    ],
)
def test_certificate_and_protocol_mismatches_name_their_setting(error: str, setting: str) -> None:
    assert setting in explain_connect_failure(error, Settings(temporal_tls=True))


def test_a_refused_connection_says_nothing_listens_and_unknown_errors_pass_through() -> None:
    assert explain_connect_failure(REFUSED, Settings()).startswith("nothing accepts connections there")
    assert explain_connect_failure("Failed client connect: something\nnew", Settings()) == (
        "Failed client connect: something new"
    )
