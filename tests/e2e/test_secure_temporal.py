"""medic against a secured Temporal: the worker, the gateway and the CLI all connect through mutual
TLS (a TLS endpoint in front of the dev server, started by the test: `tests/fakes/tls_terminator.py`),
and a client certificate the server's CA did not sign is refused with a one-line reason."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from cli.devserver import DevServer, free_port
from cli.embedded import DEFAULT_SCENARIO
from domain.settings import Settings
from integrations.sealing import generate_key
from integrations.temporal.client import TemporalConfigError, TemporalUnreachable, connect, tls_config
from tests.conftest import wait_for_step
from tests.e2e.test_remediation_loop import post_alert
from tests.fakes.tls_terminator import TLSTerminator
from workers.main import main as worker_main
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

SERVER_NAME = "temporal.medic.test"


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _authority(directory: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, path


def _issue(
    directory: Path,
    name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path],
    *,
    server: bool,
) -> Pair:
    ca_cert, ca_key, _ = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
                    if server
                    else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
                ]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    pair = Pair(directory / f"{name}.crt", directory / f"{name}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(_key_pem(key))
    pair.key.chmod(0o600)
    return pair


@dataclass(frozen=True)
class MutualTLS:
    address: str
    ca: Path
    client: Pair
    stranger: Pair
    endpoint: TLSTerminator

    def settings(self, client: Pair | None = None) -> dict[str, Any]:
        chosen = client or self.client
        return {
            "temporal_address": self.address,
            "temporal_tls_server_ca_cert_path": str(self.ca),
            "temporal_tls_client_cert_path": str(chosen.cert),
            "temporal_tls_client_key_path": str(chosen.key),
            "temporal_tls_server_name": SERVER_NAME,
        }

    def environment(self, client: Pair | None = None) -> dict[str, str]:
        chosen = client or self.client
        return {
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(self.ca),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(chosen.cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(chosen.key),
            "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
        }


@pytest.fixture
def mutual_tls(dev_server: DevServer, tmp_path: Path) -> Iterator[MutualTLS]:
    ca = _authority(tmp_path, "medic-test-ca")
    server = _issue(tmp_path, "temporal-frontend", ca, server=True)
    client = _issue(tmp_path, "medic-worker", ca, server=False)
    stranger = _issue(tmp_path, "stranger", _authority(tmp_path, "another-ca"), server=False)
    with TLSTerminator(dev_server.address, free_port(), server.cert, server.key, client_ca=ca[2]) as tls:
        yield MutualTLS(tls.address, ca[2], client, stranger, tls)


async def test_an_incident_runs_with_worker_gateway_and_cli_on_mutual_tls(
    mutual_tls: MutualTLS, make_stack: Any
) -> None:
    # The TLS endpoint is set up first so that it is torn down last, after the stack.
    stack = await make_stack(DEFAULT_SCENARIO, **mutual_tls.settings())
    assert stack.settings.temporal_address == mutual_tls.address
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")

    approved = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "approve", waiting.incident_id, "--as", "bob", "--reason", "over mTLS"],
        env={**os.environ, **mutual_tls.environment()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.outcome == "resolved", result.reason


def test_a_certificate_the_server_does_not_trust_is_refused_in_one_line(mutual_tls: MutualTLS) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "cli", "approve", "incident-x.0123abcd", "--as", "mallory"],
        env={**os.environ, **mutual_tls.environment(mutual_tls.stranger)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert f"cannot reach Temporal at {mutual_tls.address}" in refused.stderr, refused.stderr
    assert "does not accept the client certificate" in refused.stderr, refused.stderr
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


async def test_without_a_client_certificate_the_connection_is_refused(mutual_tls: MutualTLS) -> None:
    settings = Settings(
        temporal_address=mutual_tls.address,
        temporal_tls_server_ca_cert_path=str(mutual_tls.ca),
        temporal_tls_server_name=SERVER_NAME,
    )
    with pytest.raises(TemporalUnreachable, match="may require a client certificate"):
        await asyncio.wait_for(connect(settings), 30)


async def test_a_server_name_the_certificate_does_not_carry_is_named(mutual_tls: MutualTLS) -> None:
    settings = Settings(**{**mutual_tls.settings(), "temporal_tls_server_name": "other.medic.test"})
    with pytest.raises(TemporalUnreachable, match="set TEMPORAL_TLS_SERVER_NAME"):
        await asyncio.wait_for(connect(settings), 30)


async def test_an_api_key_is_sent_as_a_bearer_token_on_every_call(mutual_tls: MutualTLS) -> None:
    """Temporal Cloud's API keys: the key goes in the `authorization` metadata of each call (read
    here off the HTTP/2 headers that reached the TLS endpoint), over TLS."""
    settings = Settings(**mutual_tls.settings(), temporal_api_key="medic-test-key")
    client = await asyncio.wait_for(connect(settings), 30)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    calls = [h for h in mutual_tls.endpoint.request_headers() if h.get(":path", "").startswith("/temporal.")]
    assert calls, mutual_tls.endpoint.request_headers()
    assert {h.get("authorization") for h in calls} == {"Bearer medic-test-key"}, calls


def test_tls_settings_that_cannot_work_are_refused_before_connecting(tmp_path: Path) -> None:
    assert tls_config(Settings()) is False
    assert tls_config(Settings(temporal_api_key="key")) is True
    with pytest.raises(TemporalConfigError, match="TEMPORAL_TLS_CLIENT_KEY_PATH"):
        tls_config(Settings(temporal_tls_client_cert_path=str(tmp_path / "c.pem")))
    with pytest.raises(TemporalConfigError, match="cannot read TEMPORAL_TLS_SERVER_CA_CERT_PATH"):
        tls_config(Settings(temporal_tls_server_ca_cert_path=str(tmp_path / "missing.pem")))


def test_the_worker_refuses_unusable_tls_settings_in_one_line(tmp_path: Path) -> None:
    settings = Settings(
        home=str(tmp_path),
        snapshot_keys=generate_key(),
        temporal_tls_client_cert_path=str(tmp_path / "worker.crt"),
    )
    with pytest.raises(SystemExit) as stopped:
        worker_main(settings)
    assert str(stopped.value) == (
        "medic worker: mutual TLS needs a client certificate and its key: "
        "set TEMPORAL_TLS_CLIENT_KEY_PATH too"
    )
