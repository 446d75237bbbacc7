"""Benchmark of change impact (issue 15's figures).

1. The prediction for one stack with 30 services and 10,000 distinct peers over 30 days of
   daily roll-ups (300,000 observations): at most 1 s.
2. The same over 3,000 services on 20 stacks (20 x 150 services, 20 x 10,000 peers, 6,000,000
   daily roll-ups): at most 10 s, peak memory at most 500 MB.
3. The active pre-check of 20 partners (lparsim on loopback): at most 5 s.

The candidate is the reference shape: TLS 1.2/1.3 only, AEAD ECDHE suites, server role
inbound, client role outbound; the current policy secures half the services with TLS 1.0-1.2.
Peers mix cleartext, TLS 1.0/1.1, TLS 1.2 and 1.3 clients, each seen every day. Figures 1 and
2 time `attls.impact.predict` alone: each stack's roll-ups are built first, untimed (reading
them is the portal's query, not the prediction). Figure 2 runs in a child process whose peak
RSS is the memory figure (interpreter included): one stack's roll-ups and prediction (every
peer's verdict with the observations behind it) are alive at a time, as the portal stores
each stack's prediction and moves on. CPU seconds are
printed beside wall seconds: on a busy machine wall time measures the neighbours.

    python bench/impact_bench.py [--only 1|2|3]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVICES = 30
PEERS = 10_000
DAYS = 30
STACKS = 20
SERVICES_PER_STACK = 150
PARTNERS = 20
TARGETS = {"one stack": 1.0, "twenty stacks": 10.0, "pre-check": 5.0}
MEMORY_LIMIT_MB = 500.0
TODAY = date(2026, 12, 7)
SEED = 15


def _policy_text(services: int, *, candidate: bool) -> str:
    """`services` rules: every fifth outbound (client role), the rest inbound, one port each."""
    versions = (
        "    TLSv1 Off\n    TLSv1.1 Off\n    TLSv1.2 On\n    TLSv1.3 On\n"
        if candidate
        else "    TLSv1 On\n    TLSv1.1 On\n    TLSv1.2 On\n"
    )
    suites = "13011302C02BC02CC02FC030" if candidate else "C02FC030C013C014009C"
    parts = [
        "TTLSGroupAction gOn\n{\n  TTLSEnabled On\n}\n",
        "TTLSKeyringParms ring\n{\n  Keyring ATTLS/SharedRing\n}\n",
        "TTLSEnvironmentAction env\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef ring\n"
        f"  TTLSEnvironmentAdvancedParms\n  {{\n{versions}  }}\n"
        f"  TTLSCipherParms\n  {{\n    V3CipherSuites4Char {suites}\n  }}\n}}\n",
        "TTLSConnectionAction client\n{\n  HandshakeRole Client\n}\n",
    ]
    for index in range(services):
        # The current policy secures every other service; the candidate all of them.
        if not candidate and index % 2:
            continue
        outbound = index % 5 == 4
        port = 10000 + index
        parts.append(
            f"TTLSRule svc{index:04d}\n{{\n"
            + (f"  RemotePortRange {port}\n" if outbound else f"  LocalPortRange {port}\n")
            + f"  Jobname JOB{index % 1000:04d}\n"
            + f"  Direction {'Outbound' if outbound else 'Inbound'}\n"
            + "  TTLSGroupActionRef gOn\n  TTLSEnvironmentActionRef env\n"
            + ("  TTLSConnectionActionRef client\n" if outbound else "")
            + "}\n"
        )
    return "".join(parts)


# What clients were seen doing: (versions, suites) pools, drawn with weights.
_PROFILES = [
    (("cleartext",), ()),
    (("TLSv1",), ("C013",)),
    (("TLSv1.1",), ("C014",)),
    (("TLSv1.2",), ("C02F",)),
    (("TLSv1.2",), ("C030",)),
    (("TLSv1.2",), ("009C",)),
    (("TLSv1.3",), ("1302",)),
    (("TLSv1.2", "TLSv1.3"), ("C02F", "1301")),
]
_WEIGHTS = [15, 6, 4, 30, 15, 5, 15, 10]


def observations(services: int, peers: int, days: int, rng: random.Random) -> Iterator[object]:
    """Daily roll-ups of `peers` distinct peers spread over `services` services."""
    from attls.impact import PeerObservation

    frozen = [(frozenset(v), frozenset(s)) for v, s in _PROFILES]
    population = []
    for index in range(peers):
        service = index % services
        outbound = service % 5 == 4
        profile = rng.choices(range(len(_PROFILES)), _WEIGHTS)[0]
        if outbound and profile == 0:
            profile = 3
        port = 10000 + service
        address = f"10.{index >> 16}.{(index >> 8) & 255}.{index & 255}"
        population.append(
            (
                "Outbound" if outbound else "Inbound",
                0 if outbound else port,
                address,
                port if outbound else 0,
                f"JOB{service % 1000:04d}",
                *frozen[profile],
            )
        )
    for day in [TODAY - timedelta(days=d) for d in range(days)]:
        for direction, local_port, address, remote_port, job, versions, suites in population:
            yield PeerObservation(
                direction, local_port, address, remote_port, job, versions, suites, False, 24, day
            )


def one_stack() -> tuple[float, float, int]:
    from attls.impact import predict
    from attls.policy import parse_policy

    new = parse_policy(_policy_text(SERVICES, candidate=True))
    old = parse_policy(_policy_text(SERVICES, candidate=False))
    rows = list(observations(SERVICES, PEERS, DAYS, random.Random(SEED)))
    started, cpu = time.perf_counter(), time.process_time()
    prediction = predict(old, new, rows, today=TODAY, window_days=DAYS)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(prediction.peers) == PEERS, len(prediction.peers)
    return elapsed, cpu, len(rows)


def many_stacks_child() -> None:
    """Run in a child: 20 stacks of 150 services; prints JSON figures.

    Each stack's roll-ups are built (untimed) just before its prediction and dropped with
    it, as the portal reads one stack's rows at a time; the time is the 20 predictions'.
    """
    from attls.impact import predict
    from attls.policy import parse_policy

    new = parse_policy(_policy_text(SERVICES_PER_STACK, candidate=True))
    old = parse_policy(_policy_text(SERVICES_PER_STACK, candidate=False))
    rng = random.Random(SEED)
    elapsed = cpu = 0.0
    peers = 0
    counts: dict[str, int] = {}
    for _ in range(STACKS):
        rows = list(observations(SERVICES_PER_STACK, PEERS, DAYS, rng))
        started, cpu_started = time.perf_counter(), time.process_time()
        prediction = predict(old, new, rows, today=TODAY, window_days=DAYS)
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        # What the portal keeps of a stack's prediction is stored with it; only totals stay.
        peers += len(prediction.peers)
        for verdict, n in prediction.counts.items():
            counts[verdict.value] = counts.get(verdict.value, 0) + n
        del rows, prediction
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": elapsed, "cpu": cpu, "peak_mb": peak_mb, "peers": peers, "counts": counts}
        )
    )


def many_stacks() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, __file__, "--child"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def precheck_partners() -> tuple[float, dict[str, int]]:
    """20 partners in lparsim on loopback (half reject a TLS 1.3 offer), v1's client offer."""
    import yaml

    from attls.ciphers import Protocol
    from fleet.precheck import ClientOffer, PrecheckTarget, precheck
    from lparsim.config import load_config
    from lparsim.runner import SimulatorThread

    with tempfile.TemporaryDirectory() as directory:
        config = {
            "version": 1,
            "sim": {"workdir": "work", "base_port": 0},
            # lparsim needs an LPAR; this one has no service, only the partners matter here.
            "lpars": [{"name": "SYSA", "stacks": [{"name": "TCPIP"}], "services": []}],
            "partners": [
                {
                    "name": f"PARTNER{i:02d}",
                    "port": 20000 + i,
                    "sim": {
                        "tls": {"versions": ["TLSv1.2"], "rejects_tls13_offer": True}
                        if i % 2
                        else {"versions": ["TLSv1.2", "TLSv1.3"]}
                    },
                }
                for i in range(PARTNERS)
            ],
        }
        path = Path(directory) / "partners.yaml"
        path.write_text(yaml.safe_dump(config))
        thread = SimulatorThread(load_config(path), populations=False).start()
        try:
            targets = [
                PrecheckTarget(name, server.config.address, server.config.host_port)
                for name, server in thread.simulator.partners.items()
            ]
            offer = ClientOffer(
                (Protocol.TLSV1_2, Protocol.TLSV1_3),
                ("1301", "1302", "C02B", "C02C", "C02F", "C030"),
            )
            started = time.perf_counter()
            results = precheck(targets, offer, timeout=3, deadline=10)
            elapsed = time.perf_counter() - started
        finally:
            thread.stop()
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return elapsed, outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["1", "2", "3"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        many_stacks_child()
        return 0
    missed = False
    if args.only in (None, "1"):
        seconds, cpu, rows = one_stack()
        ok = seconds <= TARGETS["one stack"]
        missed |= not ok
        print(
            f"{'ok  ' if ok else 'MISS'} one stack: {SERVICES} services, {PEERS:,} peers,"
            f" {rows:,} daily roll-ups: {seconds:.2f} s (target {TARGETS['one stack']:g} s),"
            f" CPU {cpu:.2f} s"
        )
    if args.only in (None, "2"):
        figures = many_stacks()
        seconds = float(str(figures["seconds"]))
        peak = float(str(figures["peak_mb"]))
        ok = seconds <= TARGETS["twenty stacks"] and peak <= MEMORY_LIMIT_MB
        missed |= not ok
        print(
            f"{'ok  ' if ok else 'MISS'} {STACKS} stacks: {STACKS * SERVICES_PER_STACK:,} services,"
            f" {figures['peers']:,} peers, {STACKS * PEERS * DAYS:,} daily roll-ups, by stack:"
            f" {seconds:.2f} s (target {TARGETS['twenty stacks']:g} s), CPU {figures['cpu']:.2f} s,"
            f" peak {peak:.0f} MB"
            f" (limit {MEMORY_LIMIT_MB:g} MB); verdicts {figures['counts']}"
        )
    if args.only in (None, "3"):
        seconds, outcomes = precheck_partners()
        ok = seconds <= TARGETS["pre-check"] and outcomes == {
            "accepted": PARTNERS // 2,
            "refused": PARTNERS // 2,
        }
        missed |= not ok
        print(
            f"{'ok  ' if ok else 'MISS'} pre-check of {PARTNERS} partners (lparsim, loopback):"
            f" {seconds:.2f} s (target {TARGETS['pre-check']:g} s); {outcomes}"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
