"""lparsim's TLS contexts over real loopback sockets: a protocol set with a hole (TLSv1 and
TLSv1.2 On, TLSv1.1 Off, as `lparsim fault ... drift` leaves it) still lets a TLS 1.2/1.3
client in, as System SSL does; OpenSSL's own hole rule would refuse every client."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attls.ciphers import Protocol
from lparsim import tlsio

# TLS 1.2 AEAD suites only, as the reference data center's cph_AEAD_ECDHE (less TLS 1.3).
AEAD_TLS12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:@SECLEVEL=0"


@pytest.fixture(scope="module")
def cert_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lparsim test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("tlsio") / "server.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """The version the client negotiated, or the client's error."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            server.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client.wrap_socket(raw) as tls,
        ):
            return str(tls.version())
    except ssl.SSLError as error:
        return f"error: {error.reason}"
    finally:
        thread.join(5)
        listener.close()


def server(cert_file: Path, *protocols: Protocol) -> ssl.SSLContext:
    return tlsio.server_context(list(protocols), cert_file=str(cert_file), ciphers=AEAD_TLS12)


def client(*protocols: Protocol) -> ssl.SSLContext:
    return tlsio.client_context(list(protocols), cafile=None, verify=False)


def test_a_protocol_set_with_a_hole_still_serves_the_versions_above_it(cert_file: Path) -> None:
    holed = server(cert_file, Protocol.TLSV1, Protocol.TLSV1_2, Protocol.TLSV1_3)

    assert handshake(holed, client(Protocol.TLSV1_2)) == "TLSv1.2"
    assert handshake(holed, client(Protocol.TLSV1_2, Protocol.TLSV1_3)) == "TLSv1.3"


def test_below_the_hole_a_client_fails_on_the_protocol_version(cert_file: Path) -> None:
    holed = server(cert_file, Protocol.TLSV1, Protocol.TLSV1_2, Protocol.TLSV1_3)

    result = handshake(holed, client(Protocol.TLSV1))

    assert result.startswith("error:")
    assert "NO_CIPHERS" not in result


def test_a_contiguous_set_is_spoken_as_it_is(cert_file: Path) -> None:
    modern = server(cert_file, Protocol.TLSV1_2, Protocol.TLSV1_3)

    assert handshake(modern, client(Protocol.TLSV1_2)) == "TLSv1.2"
    assert handshake(modern, client(Protocol.TLSV1_1)).startswith("error:")
