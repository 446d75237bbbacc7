"""What `python -m attls zert` prints: one line per record, and the tally after them."""

from __future__ import annotations

from dataclasses import dataclass, field

from attls.ciphers import Protocol
from attls.reports.smf119.model import (
    SUMMARY_FLAG_CLIENT,
    ConnectionRecord,
    SummaryRecord,
    ZertRecord,
)

# --- the one-line view (`python -m attls zert`) ---------------------------------------------------


def _socket_text(address: str, port: int | None) -> str:
    # netstat's form (reference §5): address..port.
    return f"{address}..{port}" if port is not None else address


def format_record(record: ZertRecord) -> str:
    """One line: event, job, user, local and remote socket, protection, TLS version, cipher."""
    if isinstance(record, ConnectionRecord):
        local = _socket_text(record.local_address, record.local_port)
        remote = _socket_text(record.remote_address, record.remote_port)
        userid = record.userid
    else:
        server = _socket_text(record.server_address, record.server_port_start)
        if record.server_port_end != record.server_port_start:
            server += f"-{record.server_port_end}"
        client = record.client_address
        local, remote = (client, server) if record.flags & SUMMARY_FLAG_CLIENT else (server, client)
        userid = record.userid
    tls = record.tls
    version = tls.version_name if tls is not None else "-"
    cipher = (tls.cipher or "-") if tls is not None else "-"
    return (
        f"{record.event_name:<11} {record.jobname or '-':<8} {userid or '-':<8} "
        f"{local:<24} {remote:<24} {record.protection:<6} {version:<8} {cipher}"
    )


@dataclass
class ZertTally:
    """Counts behind the summary `python -m attls zert` prints after the records."""

    detail: int = 0
    summary: int = 0
    events: dict[str, int] = field(default_factory=dict)
    # Connections that ended (ConnTerm and ShortTerm records: one per connection).
    ended_by_protection: dict[str, int] = field(default_factory=dict)
    ended_tls_versions: dict[str, int] = field(default_factory=dict)

    def add(self, record: ZertRecord) -> None:
        self.events[record.event_name] = self.events.get(record.event_name, 0) + 1
        if isinstance(record, SummaryRecord):
            self.summary += 1
            return
        self.detail += 1
        if record.event not in (3, 4):
            return
        protection = self.ended_by_protection
        protection[record.protection] = protection.get(record.protection, 0) + 1
        if record.tls is not None:
            name = record.tls.version_name
            self.ended_tls_versions[name] = self.ended_tls_versions.get(name, 0) + 1

    def lines(self, *, skipped: int, other: int) -> list[str]:
        events = ", ".join(f"{name} {count:,}" for name, count in sorted(self.events.items()))
        lines = [
            f"{self.detail + self.summary:,} zERT record(s): {self.detail:,} connection detail,"
            f" {self.summary:,} summary ({events or 'none'}); {skipped:,} skipped as damaged,"
            f" {other:,} other SMF record(s) ignored"
        ]
        ended = self.ended_by_protection
        if ended:
            total = sum(ended.values())
            mix = ", ".join(f"{name} {count:,}" for name, count in sorted(ended.items()))
            lines.append(f"{total:,} connection(s) ended (ConnTerm, ShortTerm): {mix}")
            versions = self.ended_tls_versions
            if versions:
                order = {p.value: i for i, p in enumerate(Protocol)}
                ranked = sorted(versions.items(), key=lambda item: order.get(item[0], 99))
                lines.append(
                    "  TLS versions: " + ", ".join(f"{name} {count:,}" for name, count in ranked)
                )
        return lines
