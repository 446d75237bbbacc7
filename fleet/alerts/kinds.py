"""The kinds of alert event and their severities. A new kind is one line in KINDS.

Severities are syslog's (RFC 5424, section 6.2.1): a lower number is more severe, so a
channel's threshold keeps events whose severity number is at most its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Severity(IntEnum):
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6

    @property
    def label(self) -> str:
        return self.name.lower()


# CEF's severity runs 0 (low) to 10 (very high); ArcSight's guide maps 0-3 low, 4-6 medium,
# 7-8 high, 9-10 very high.
CEF_SEVERITY = {
    Severity.CRITICAL: 10,
    Severity.ERROR: 8,
    Severity.WARNING: 6,
    Severity.NOTICE: 4,
    Severity.INFORMATIONAL: 2,
}


@dataclass(frozen=True)
class Kind:
    name: str  # what the event is called in syslog MSGID, CEF signature id and JSON
    title: str  # what a person reads
    severity: Severity  # the default; a producer may raise or lower it per event


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("drift", "Drift from the designed policy", Severity.ERROR),
        Kind("refusal-surge", "Surge of clients refused by AT-TLS", Severity.ERROR),
        Kind("deployment-failed", "Deployment failed or rolled back", Severity.ERROR),
        Kind("certificate-expiry", "Certificate near or past expiry", Severity.WARNING),
        Kind("certificate-expired", "Certificate expired", Severity.CRITICAL),
        Kind("gate-failed", "Campaign gate failed", Severity.ERROR),
    )
}
