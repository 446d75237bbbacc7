"""Sending one event on one channel. Each raises Transient (try again later) or Permanent
(retrying cannot help: dead-letter at once); every outbound call has a timeout."""

from __future__ import annotations

import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.core.mail import send_mail

from fleet.alerts import formats
from fleet.secrets import SecretUnreadable, decrypt
from policies.models import Service

if TYPE_CHECKING:
    from fleet.alerts.models import AlertChannel, AlertEvent

TIMEOUT_SECONDS = 10.0


_http: httpx.Client | None = None


def _http_client() -> httpx.Client:
    """One client per process: building one loads the CA bundle (about 70 ms), which would
    cap a worker at some 15 webhooks a second. Verified TLS, timeouts on every call."""
    global _http
    if _http is None:
        _http = httpx.Client(timeout=TIMEOUT_SECONDS)
    return _http


class Transient(Exception):
    """Timeouts, refused connections, 5xx, 408/429: the receiver may take it later."""


class Permanent(Exception):
    """A bad configuration or a receiver refusing the request itself (4xx): never retried."""


class NothingToSend(Exception):
    """An e-mail channel without a recipient for this event."""


def send(channel: AlertChannel, event: AlertEvent) -> None:
    {"email": _email, "syslog": _syslog, "webhook": _webhook}[channel.kind](channel, event)


def _email(channel: AlertChannel, event: AlertEvent) -> None:
    config = channel.config
    recipients = set(config.get("recipients") or [])
    if config.get("to_alert_recipients", True):
        recipients |= set(settings.FLEET_ALERT_RECIPIENTS)
    names = event.details.get("services") or []
    if config.get("to_owners", True) and event.stack_id and names:
        owners = Service.objects.filter(stack_id=event.stack_id, name__in=names)
        recipients |= {u.email for s in owners.prefetch_related("owners") for u in s.owners.all()}
    recipients.discard("")
    if not recipients:
        raise NothingToSend("no recipient: no alert recipient set and no owner with an e-mail")
    body = event.details.get("text") or event.summary
    try:
        send_mail(f"[attls-portal] {event.summary}", body, None, sorted(recipients))
    except OSError as error:  # SMTP server down or refusing: try again later
        raise Transient(f"mail: {error}") from error


def _syslog_message(channel: AlertChannel, record: dict[str, Any]) -> str:
    config = channel.config
    if config.get("format", "cef") == "json":
        body = formats.as_json(record)
    else:
        body = formats.as_cef(record, version=settings.ALERTS_PRODUCT_VERSION)
    return formats.as_syslog(
        record,
        message=body,
        hostname=settings.ALERTS_SYSLOG_HOSTNAME or socket.gethostname(),
        facility=int(config.get("facility", 13)),  # 13: log audit (RFC 5424, table 1)
    )


def _syslog(channel: AlertChannel, event: AlertEvent) -> None:
    config = channel.config
    message = _syslog_message(channel, event.as_record())
    host, port = str(config.get("host", "")), int(config.get("port", 514))
    transport = config.get("transport", "udp")
    try:
        if transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(TIMEOUT_SECONDS)
                sock.sendto(message.encode(), (host, port))
            return
        with socket.create_connection((host, port), timeout=TIMEOUT_SECONDS) as raw:
            if transport == "tls":
                context = ssl.create_default_context(cafile=config.get("ca_file") or None)
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    tls.sendall(formats.octet_counted(message))
            else:
                raw.sendall(formats.octet_counted(message))
    except ssl.SSLCertVerificationError as error:
        raise Permanent(f"syslog {host}:{port}: {error}") from error
    except OSError as error:
        raise Transient(f"syslog {host}:{port} over {transport}: {error}") from error


def _webhook(channel: AlertChannel, event: AlertEvent) -> None:
    url = str(channel.config.get("url", ""))
    try:
        secret = decrypt(channel.secret_encrypted)
    except SecretUnreadable as error:
        raise Permanent(str(error)) from error
    body = formats.as_json(event.as_record()).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Attls-Event": str(event.uuid),
        "X-Attls-Sequence": str(event.sequence),
        "X-Attls-Timestamp": timestamp,
        "X-Attls-Signature": formats.webhook_signature(secret, timestamp, body),
    }
    try:
        response = _http_client().post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise Transient(f"POST {url}: {error!r}") from error
    if response.is_success:
        return
    reason = f"POST {url}: HTTP {response.status_code} {response.text[:200]}"
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        raise Transient(reason)
    raise Permanent(reason)
