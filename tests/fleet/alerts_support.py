"""Real receivers on loopback for the alert tests and the bench: a webhook endpoint
(http.server in a thread) and syslog collectors (UDP and TCP sockets). Each is a context
manager that stops its thread and closes its socket."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from fleet.alerts.formats import webhook_signature_valid


class WebhookReceiver:
    """Answers `fail_first` requests with 503, and any request for a sequence in
    `refuse_sequences` with `refuse_status`; records every accepted body with whether its
    signature is valid for `secret`."""

    def __init__(
        self,
        secret: str,
        *,
        fail_first: int = 0,
        refuse_sequences: frozenset[int] = frozenset(),
        refuse_status: int = 500,
    ) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.refuse_sequences = set(refuse_sequences)
        self.refuse_status = refuse_status
        self.requests = 0
        self.accepted: list[dict[str, Any]] = []
        self.signatures_valid: list[bool] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint behind a proxy

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    sequence = int(self.headers.get("X-Attls-Sequence", "0"))
                    if receiver.requests <= receiver.fail_first:
                        status = 503
                    elif sequence in receiver.refuse_sequences:
                        status = receiver.refuse_status
                    else:
                        status = 200
                        receiver.accepted.append(json.loads(body))
                        receiver.signatures_valid.append(
                            webhook_signature_valid(
                                receiver.secret,
                                self.headers.get("X-Attls-Timestamp", ""),
                                body,
                                self.headers.get("X-Attls-Signature", ""),
                            )
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class SyslogCollector:
    """UDP datagrams and octet-counted TCP frames (RFC 6587) on loopback, as text; with
    `tls`, the TCP side speaks TLS (RFC 5425) with that server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.messages: list[str] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.tcp.settimeout(0.2)
        self.udp_port = self.udp.getsockname()[1]
        self.tcp_port = self.tcp.getsockname()[1]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._udp_loop, daemon=True),
            threading.Thread(target=self._tcp_loop, daemon=True),
        ]

    def _udp_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                data = self.udp.recv(65535)
            except TimeoutError:
                continue
            with self.lock:
                self.messages.append(data.decode())

    def _tcp_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            if self.tls is not None:
                try:
                    conn.settimeout(2)
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    continue  # a client that does not trust us: nothing received
            with conn:
                conn.settimeout(2)
                buffer = b""
                while True:
                    try:
                        chunk = conn.recv(65535)
                    except TimeoutError:
                        break
                    if not chunk:
                        break
                    buffer += chunk
                while buffer:
                    length, _, rest = buffer.partition(b" ")
                    size = int(length)
                    with self.lock:
                        self.messages.append(rest[:size].decode())
                    buffer = rest[size:]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            deadline.wait(0.05)
        with self.lock:
            return list(self.messages)

    def __enter__(self) -> SyslogCollector:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.udp.close()
        self.tcp.close()


def drain_all(*, seconds: float = 20.0) -> None:
    """Runs the dispatcher (the service the Celery task calls) for every channel and stack
    with work left, waiting out each retry's backoff, until nothing is left or time is up."""
    import time

    from fleet.alerts.models import DONE, AlertDelivery
    from fleet.alerts.services import alert_deliveries_drain

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pairs = set(
            AlertDelivery.objects.exclude(status__in=DONE).values_list("channel_id", "stack_id")
        )
        if not pairs:
            return
        waits = [
            alert_deliveries_drain(channel_id=channel, stack_id=stack) for channel, stack in pairs
        ]
        pending = [w for w in waits if w is not None]
        if pending:
            time.sleep(min(max(min(pending), 0.0), 1.0))
    raise AssertionError(f"deliveries still pending after {seconds}s")


def alerts_walk_kwargs(design: Any, make_user: Any) -> dict[str, dict[str, Any]]:
    """For tests/portal/test_role_walk.py: a webhook channel and an event delivered to it
    (pending: nothing is sent during the walk), and the path kwargs of the alert URLs."""
    from accounts.roles import Role
    from fleet.alerts.models import AlertChannel
    from fleet.alerts.services import alert_emit, channel_save

    channel = channel_save(
        channel=AlertChannel(name="walk", kind="webhook", config={"url": "http://127.0.0.1:9/"}),
        actor=make_user("walk-alerts-admin", Role.ADMIN),
        secret="walk-secret",
        stacks=[],
        services=[],
    )
    event = alert_emit(kind="drift", stack=design.stacks["SYSA"], summary="walk drift")
    delivery = event.deliveries.get(channel=channel)
    return {
        "alerts:channel": {"channel": channel.uuid},
        "alerts:delivery-retry": {"delivery": delivery.uuid},
        "alerts-api:channel-detail": {"uuid": channel.uuid},
        "alerts-api:delivery-detail": {"uuid": delivery.uuid},
        "alerts-api:delivery-retry": {"uuid": delivery.uuid},
    }
