"""Benchmarks of the attls library on a seeded synthetic estate (issue 2's figures).

Each figure is the best of a few runs (wall clock), printed with its target and as a ratio
to merely splitting the same text into lines in the same run, so a slower machine shows up
as a slower baseline rather than as a regression. Peak memory is measured in a second,
untimed pass with tracemalloc: the most the operation had allocated at once, inputs
excluded. Exits 1 when any target is missed.

    python bench/attls_bench.py
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from attls import ciphers
from attls.matching import Connection, RuleMatcher
from attls.policy import Policy, parse_policy, render_policy
from attls.reports.from_policy import pasearch_report
from attls.reports.netstat import (
    NetstatTtlsReport,
    SocketAddr,
    TtlsConnection,
    parse_netstat_ttls,
    render_netstat_ttls,
)
from attls.reports.pasearch import parse_pasearch, render_pasearch
from bench.synthetic import synthetic_policy

MEMORY_LIMIT_MB = 300.0
RUNS = 3


@dataclass
class Figure:
    name: str
    seconds: float
    target: float
    baseline: float
    peak_mb: float

    @property
    def ok(self) -> bool:
        return self.seconds <= self.target and self.peak_mb <= MEMORY_LIMIT_MB

    def line(self) -> str:
        ratio = self.seconds / self.baseline if self.baseline else float("inf")
        verdict = "ok" if self.ok else "MISSED"
        return (
            f"{self.name:<52} {self.seconds:7.3f} s (target {self.target:.1f} s)"
            f"  {ratio:6.0f}x splitlines  peak {self.peak_mb:6.1f} MB"
            f" (limit {MEMORY_LIMIT_MB:.0f})  {verdict}"
        )


def best(operation: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        operation()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mb(operation: Callable[[], object]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = operation()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak / 1e6


def measure(name: str, text: str, target: float, operation: Callable[[], object]) -> Figure:
    baseline = best(text.splitlines)
    return Figure(name, best(operation), target, baseline, peak_mb(operation))


def connections(policy: Policy, count: int, seed: int = 7) -> list[Connection]:
    """Connections like a stack sees them: most aimed at a rule's port and job, some at none."""
    rng = random.Random(seed)
    rules = list(policy.rules.values())
    result = []
    for _ in range(count):
        rule = rng.choice(rules)
        aimed = rng.random() < 0.8
        inbound = rule.direction == "Inbound"
        ports = rule.local_port_range if inbound else rule.remote_port_range
        port = ports.low if aimed and ports is not None else rng.randrange(1, 65535)
        job = (rule.jobname or "ANYJOB").replace("*", "A") if aimed else "OTHERJOB"
        result.append(
            Connection(
                local_addr=ipaddress.ip_address("10.1.1.2"),
                local_port=port if inbound else rng.randrange(1024, 65535),
                remote_addr=ipaddress.ip_address(f"10.{rng.randrange(250)}.{rng.randrange(256)}.9"),
                remote_port=rng.randrange(1024, 65535) if inbound else port,
                jobname=job,
                userid=None,
                direction="Inbound" if inbound else "Outbound",
            )
        )
    return result


def netstat_detail_text(count: int) -> str:
    """CONN DETAIL for `count` connections spread over the rules of a synthetic estate."""
    report = pasearch_report(
        synthetic_policy(rules=200, actions=50),
        image="TCPIP",
        instance_id=1,
        installed_at=dt.datetime(2026, 11, 24, 4, 0, 0),
    )
    suites = [ciphers.by_code("1301"), ciphers.by_code("C02F")]
    rows = []
    for index in range(count):
        rule = report.rules[index % len(report.rules)]
        suite = suites[index % 2]
        rows.append(
            TtlsConnection(
                conn_id=f"{0x10000 + index:08X}",
                job_name="TN3270A",
                local_socket=SocketAddr("10.1.1.2", 992),
                remote_socket=SocketAddr(
                    f"10.0.{index // 250 % 256}.{index % 250}", 40000 + index % 20000
                ),
                sec_level="TLS Version 1.3" if suite.code == "1301" else "TLS Version 1.2",
                cipher_code=suite.code,
                cipher_name=suite.iana_name,
                cert_user_id=None,
                map_type="Primary",
                fips140="Off",
                rule=rule.name,
                group_action=rule.action_named("Group"),
                env_action=rule.action_named("Environment"),
                conn_action=rule.action_named("Connection"),
                rule_detail=(),
                action_details=tuple(rule.action_details),
            )
        )
    return render_netstat_ttls(
        NetstatTtlsReport(release="V3R1", tcpip_name="TCPIP", time="04:00:00", connections=rows),
        detail=True,
    )


def main() -> int:
    figures: list[Figure] = []

    policy = synthetic_policy(rules=10_000, actions=50)
    policy_text = render_policy(policy)
    assert parse_policy(policy_text) == policy
    figures.append(
        measure(
            f"parse + validate policy ({len(policy.rules):,} rules, 50 actions)",
            policy_text,
            1.0,
            lambda: parse_policy(policy_text),
        )
    )
    figures.append(
        measure(
            f"render policy ({len(policy_text.splitlines()):,} lines)",
            policy_text,
            0.5,
            lambda: render_policy(policy),
        )
    )

    probes = connections(policy, 100_000)
    matcher = RuleMatcher(policy)

    def match_all() -> int:
        hits = 0
        for connection in probes:
            if matcher.match(connection) is not None:
                hits += 1
        return hits

    hits = match_all()
    figures.append(
        measure(
            f"match 100,000 connections ({hits:,} hit a rule)",
            policy_text,
            2.0,
            match_all,
        )
    )

    pasearch = render_pasearch(
        pasearch_report(
            synthetic_policy(rules=2_000, actions=50),
            image="TCPIP",
            instance_id=1,
            installed_at=dt.datetime(2026, 11, 24, 4, 0, 0),
        )
    )
    rules = len(parse_pasearch(pasearch).rules)
    figures.append(
        measure(
            f"parse pasearch -t ({rules:,} rules, {len(pasearch.splitlines()):,} lines)",
            pasearch,
            2.0,
            lambda: parse_pasearch(pasearch),
        )
    )

    netstat = netstat_detail_text(20_000)
    parsed = parse_netstat_ttls(netstat)
    assert len(parsed.connections) == 20_000, len(parsed.connections)
    figures.append(
        measure(
            f"parse netstat -x CONN DETAIL (20,000 conns, {len(netstat.splitlines()):,} lines)",
            netstat,
            1.0,
            lambda: parse_netstat_ttls(netstat),
        )
    )

    print(f"attls benchmarks (best of {RUNS}; Python {sys.version.split()[0]})")
    for figure in figures:
        print("  " + figure.line())
    missed = [f for f in figures if not f.ok]
    if missed:
        print(f"{len(missed)} target(s) missed")
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
