"""How an alert event is written on the wire: JSON, CEF, RFC 5424 syslog, webhook signature.

Pure Python (no Django) so the escaping rules are tested fast and on their own. `record` is
the event as `AlertEvent.as_record()` gives it: plain JSON values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from fleet.alerts.kinds import CEF_SEVERITY, Severity

VENDOR = "attls-portal"
PRODUCT = "attls-portal"
APP_NAME = "attls-portal"
# The private enterprise number of the structured data element. 32473 is the number IANA
# reserves for examples in documentation (RFC 5612); a site with its own PEN sets it.
DEFAULT_ENTERPRISE_NUMBER = 32473


def as_json(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


# --- CEF (ArcSight Common Event Format, "Implementing ArcSight CEF", revision 25) ---------


def cef_header_escape(value: str) -> str:
    """In the header a backslash and a pipe are escaped with a backslash; no line breaks."""
    value = value.replace("\\", "\\\\").replace("|", "\\|")
    return value.replace("\r", " ").replace("\n", " ")


def cef_extension_escape(value: str) -> str:
    """In extension values a backslash and an equal sign are escaped; line breaks become \\n."""
    value = value.replace("\\", "\\\\").replace("=", "\\=")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def as_cef(record: dict[str, Any], *, version: str) -> str:
    severity = CEF_SEVERITY[Severity(record["severity"])]
    created = datetime.fromisoformat(record["created_at"])
    extension = {
        "rt": str(int(created.timestamp() * 1000)),
        "externalId": record["id"],
        "cs1Label": "stack",
        "cs1": record.get("stack") or "",
        "cs2Label": "service",
        "cs2": record.get("service") or "",
        "cn1Label": "sequence",
        "cn1": str(record.get("sequence") or 0),
        "msg": record["summary"],
    }
    header = "|".join(
        cef_header_escape(part)
        for part in (VENDOR, PRODUCT, version, record["kind"], record["title"], str(severity))
    )
    ext = " ".join(f"{key}={cef_extension_escape(value)}" for key, value in extension.items())
    return f"CEF:0|{header}|{ext}"


# --- RFC 5424 ------------------------------------------------------------------------------


def _sd_escape(value: str) -> str:
    """PARAM-VALUE escapes `"`, `\\` and `]` with a backslash (RFC 5424, section 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(value: str, limit: int) -> str:
    """HOSTNAME, APP-NAME and MSGID are printable US-ASCII without spaces, or "-"."""
    token = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return token or "-"


def as_syslog(
    record: dict[str, Any],
    *,
    message: str,
    hostname: str,
    facility: int,
    enterprise_number: int = DEFAULT_ENTERPRISE_NUMBER,
) -> str:
    """One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG."""
    pri = facility * 8 + int(record["severity"])
    timestamp = datetime.fromisoformat(record["created_at"]).isoformat(timespec="microseconds")
    timestamp = timestamp.replace("+00:00", "Z")
    params = {
        "id": record["id"],
        "stack": record.get("stack") or "",
        "seq": str(record.get("sequence") or 0),
    }
    sd = f"[attls@{enterprise_number} " + " ".join(
        f'{key}="{_sd_escape(value)}"' for key, value in params.items()
    )
    return (
        f"<{pri}>1 {timestamp} {_header_token(hostname, 255)} {APP_NAME} -"
        f" {_header_token(record['kind'], 32)} {sd}] {message}"
    )


def octet_counted(message: str) -> bytes:
    """Framing for syslog over TCP and TLS: MSG-LEN SP SYSLOG-MSG (RFC 6587 3.4.1, RFC 5425)."""
    data = message.encode()
    return str(len(data)).encode() + b" " + data


# --- webhooks --------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`: the timestamp is signed too, so a receiver that
    refuses old timestamps cannot be fed a replayed request."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_signature_valid(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)
