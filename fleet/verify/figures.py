"""Per-service figures of a run: connections attributed to services, coverage, protocols,
refusals; the observations and hourly roll-ups they are kept as."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count

from attls.policy import Policy
from attls.policy.values import read_job_pattern
from attls.reports.syslog import RuleFailures
from fleet.models import (
    ConnectionObservation,
    ServiceHour,
)
from fleet.verify.snapshot import Views
from policies.models import Service, Stack

# --- attributing connections to services ---------------------------------------------------


@dataclass(frozen=True)
class _ServiceKey:
    service: Service
    inbound: bool
    port: int
    job: str | None

    def matches(self, *, local_port: int, remote_port: int, job: str) -> bool:
        port = local_port if self.inbound else remote_port
        if port != self.port:
            return False
        if not self.job:
            return True
        if self.job.endswith("*"):
            return job.upper().startswith(self.job[:-1])
        return job.upper() == self.job


def _service_keys(stack: Stack) -> list[_ServiceKey]:
    keys = []
    for service in stack.services.all():
        inbound = service.direction != "Outbound"
        port = service.local_port_low if inbound else service.remote_port_low
        if port:
            job = read_job_pattern([service.jobname]) if service.jobname else None
            keys.append(_ServiceKey(service, inbound, port, job))
    return keys


def _owner(keys: list[_ServiceKey], local_port: int, remote_port: int, job: str) -> Service | None:
    for key in keys:
        if key.matches(local_port=local_port, remote_port=remote_port, job=job):
            return key.service
    return None


@dataclass
class Seen:
    """One live connection, from either netstat view."""

    conn_id: str
    local: str
    remote: str
    local_port: int
    remote_port: int
    job: str
    protocol: str
    cipher: str
    rule: str
    group: str
    environment: str
    connection_action: str
    secured: bool
    service: Service | None = None
    # Mapped to a rule that secures, but not (yet) secured: the TLS handshake has not
    # completed, e.g. a cleartext client on an AT-TLS port waiting for HandshakeTimeout.
    pending: bool = False


def _securing_rules(views: Views) -> set[str]:
    """Rules whose group has TTLSEnabled On in the loaded policy."""
    if views.pasearch is None:
        return set()
    rules = set()
    for rule in views.pasearch.rules:
        group = rule.detail("Group")
        if group is not None and group.get("TTLSEnabled") == "On":
            rules.add(rule.name)
    return rules


def _seen(views: Views, keys: list[_ServiceKey]) -> list[Seen]:
    seen: list[Seen] = []
    securing = _securing_rules(views)
    if views.connections is not None:
        for conn in views.connections.connections:
            item = Seen(
                conn_id=conn.conn_id,
                local=str(conn.local_socket),
                remote=str(conn.remote_socket),
                local_port=conn.local_socket.port or 0,
                remote_port=conn.remote_socket.port or 0,
                job=conn.job_name,
                protocol=conn.protocol or "",
                cipher=conn.cipher_code or "",
                rule=conn.rule or "",
                group=conn.group_action or "",
                environment=conn.env_action or "",
                connection_action=conn.conn_action or "",
                secured=conn.protocol is not None,
                pending=conn.protocol is None and (conn.rule or "") in securing,
            )
            item.service = _owner(keys, item.local_port, item.remote_port, item.job)
            seen.append(item)
    if views.uncovered is not None:
        for row in views.uncovered.rows:
            if row.state.lower().startswith("listen"):
                continue
            item = Seen(
                conn_id=row.conn_id,
                local=str(row.local_socket),
                remote=str(row.foreign_socket),
                local_port=row.local_socket.port or 0,
                remote_port=row.foreign_socket.port or 0,
                job=row.user_id,
                protocol="",
                cipher="",
                rule="",
                group="",
                environment="",
                connection_action="",
                secured=False,
            )
            item.service = _owner(keys, item.local_port, item.remote_port, item.job)
            seen.append(item)
    return seen


# --- figures --------------------------------------------------------------------------------


def _figures(
    seen: list[Seen],
    views: Views,
    deployed_policy: Policy | None,
    services: Iterable[Service],
) -> dict[str, Any]:
    per_service: dict[str, dict[str, Any]] = {}
    in_scope = set(deployed_policy.rules) if deployed_policy is not None else set()
    for service in services:
        everything = [
            item for item in seen if item.service is not None and item.service.pk == service.pk
        ]
        mine = [item for item in everything if not item.pending]
        secured = [item for item in mine if item.secured]
        protocols = Counter(item.protocol or "cleartext" for item in mine)
        ciphers = Counter(item.cipher for item in secured if item.cipher)
        unexpected = [
            {"conn_id": item.conn_id, "rule": item.rule}
            for item in secured
            if item.rule and item.rule != service.name
        ]
        probe_result = views.probe.get(service.name, {})
        per_service[service.name] = {
            "service": str(service.uuid),
            "in_scope": service.name in in_scope,
            "connections": len(mine),
            "handshakes_pending": len(everything) - len(mine),
            "secured": len(secured),
            "coverage": round(len(secured) / len(mine), 4) if mine else None,
            "cleartext": len(mine) - len(secured),
            "cleartext_in_scope": (len(mine) - len(secured)) if service.name in in_scope else 0,
            "protocols": dict(sorted(protocols.items())),
            "ciphers": dict(sorted(ciphers.items())),
            "unexpected_rule": unexpected,
            "probe_protocols": probe_result.get("protocols", []),
            "probe_deprecated": probe_result.get("deprecated", []),
            "probe_tls": probe_result.get("tls"),
            "not_probed": probe_result.get("not_probed", ""),
            # Set-up time of the probe's first connection (fleet/probe.py), in ms: what the
            # handshake adds is judged against the inventory's (rollouts' latency gate).
            "probe_connect_ms": probe_result.get("connect_ms"),
            "probe_handshake_ms": probe_result.get("handshake_ms"),
            # EZD1286I lines of its rule since the previous run, less the probe's refusals.
            "handshake_failures": dict(views.failures.get(service.name, {})),
            "probe_refusals": dict(views.probe_refusals.get(service.name, {})),
            **_refused_figures(views.refused.get(service.name)),
        }
    settled = [item for item in seen if not item.pending]
    total = len(settled)
    secured_total = sum(1 for item in settled if item.secured)
    protocols_total = Counter(item.protocol or "cleartext" for item in settled)
    return {
        "connections": total,
        "handshakes_pending": len(seen) - total,
        "secured": secured_total,
        "coverage": round(secured_total / total, 4) if total else None,
        "protocols": dict(sorted(protocols_total.items())),
        "services": per_service,
        "loaded_rules": len(views.pasearch.rules) if views.pasearch is not None else None,
        "handshake_failures_total": views.failures_total,
        "probe_refusals_total": views.probe_refusals_total,
        # Refused attempts (EZD1286I, the probe's apart) beside coverage: coverage counts
        # sessions, and a refused client never becomes one.
        "refused": sum(found.total for found in views.refused.values()),
        # Compact, for the hour-before comparison of later runs (fleet/refusals.py).
        "refusals": {
            "window_seconds": views.refusal_window_seconds,
            "services": {
                name: entry["refused"] for name, entry in per_service.items() if entry["refused"]
            },
        },
    }


PEERS_SHOWN = 20


def _refused_figures(found: RuleFailures | None) -> dict[str, Any]:
    """A service's refused attempts since the previous run: how many, per family, per peer."""
    if found is None:
        return {"refused": 0, "refused_families": {}, "refused_peers": {}}
    return {
        "refused": found.total,
        "refused_families": dict(found.families.most_common()),
        "refused_peers": dict(found.peers.most_common(PEERS_SHOWN)),
    }


# --- observations ---------------------------------------------------------------------------


def _observe(stack: Stack, seen: list[Seen], now: datetime) -> None:
    """Bulk upsert: a connection id with the same sockets is the same connection."""
    existing = {
        (o.conn_id, o.local_socket, o.remote_socket): o
        for o in ConnectionObservation.objects.filter(
            stack=stack,
            conn_id__in=[item.conn_id for item in seen],
            last_seen__gte=now - timedelta(hours=1),
        )
    }
    update, create, unchanged = [], [], []
    for item in seen:
        found = existing.get((item.conn_id, item.local, item.remote))
        state = (item.protocol, item.cipher, item.secured, item.rule)
        if found is not None and (found.protocol, found.cipher, found.secured, found.rule) == state:
            unchanged.append(found.pk)  # only last_seen moves
        elif found is not None:
            found.last_seen = now
            found.protocol, found.cipher, found.secured = item.protocol, item.cipher, item.secured
            found.rule = item.rule
            update.append(found)
        else:
            create.append(
                ConnectionObservation(
                    stack=stack,
                    service=item.service,
                    conn_id=item.conn_id,
                    local_socket=item.local,
                    remote_socket=item.remote,
                    jobname=item.job[:8],
                    protocol=item.protocol,
                    cipher=item.cipher,
                    rule=item.rule,
                    group_action=item.group,
                    environment_action=item.environment,
                    connection_action=item.connection_action,
                    secured=item.secured,
                    first_seen=now,
                    last_seen=now,
                )
            )
    # One plain UPDATE per batch for connections seen again as they were (nearly all of
    # them): bulk_update's CASE WHEN per row and field costs seconds for 1,000 connections.
    for start in range(0, len(unchanged), 500):
        ConnectionObservation.objects.filter(pk__in=unchanged[start : start + 500]).update(
            last_seen=now
        )
    ConnectionObservation.objects.bulk_update(
        update, ["last_seen", "protocol", "cipher", "secured", "rule"], batch_size=1000
    )
    ConnectionObservation.objects.bulk_create(create, batch_size=1000)
    _roll_up(stack, now)


def _roll_up(stack: Stack, now: datetime) -> None:
    """This hour's figures per service, from the connections seen during the hour."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = (
        ConnectionObservation.objects.filter(
            stack=stack, service__isnull=False, last_seen__gte=hour
        )
        .values("service_id", "protocol", "cipher", "secured")
        .annotate(n=Count("id"))
    )
    figures: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"connections": 0, "secured": 0, "protocols": Counter(), "ciphers": Counter()}
    )
    for row in rows:
        entry = figures[row["service_id"]]
        entry["connections"] += row["n"]
        entry["protocols"][row["protocol"] or "cleartext"] += row["n"]
        if row["secured"]:
            entry["secured"] += row["n"]
            if row["cipher"]:
                entry["ciphers"][row["cipher"]] += row["n"]
    for service_id, entry in figures.items():
        ServiceHour.objects.update_or_create(
            service_id=service_id,
            hour=hour,
            defaults={
                "connections": entry["connections"],
                "secured": entry["secured"],
                "cleartext": entry["connections"] - entry["secured"],
                "protocols": dict(entry["protocols"]),
                "ciphers": dict(entry["ciphers"]),
            },
        )
