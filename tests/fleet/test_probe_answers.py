"""What the probe records for a port that answers as a TLS server but completes no handshake
(AT-TLS refusing every client: an expired certificate, no suite in common). It must not read
as a port that "does not speak TLS", which the portal shows as cleartext."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from fleet.probe import ProbeTarget, probe

# A TLS alert record: fatal (2) handshake_failure (40), as a server that refuses the hello.
HANDSHAKE_FAILURE = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])


@pytest.fixture
def refusing_server() -> Iterator[int]:
    """A loopback port that answers every ClientHello with a handshake_failure alert."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(16384)
                    conn.sendall(HANDSHAKE_FAILURE)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_a_tls_server_refusing_every_handshake_is_tls_that_accepts_nothing(
    refusing_server: int,
) -> None:
    target = ProbeTarget(key="Refuses", zos_port=992, host="127.0.0.1", port=refusing_server)

    result = probe([target], timeout=2.0)["Refuses"]

    assert result["tls"] is True
    assert result["protocols"] == []
    assert "completed no handshake" in result["error"]
