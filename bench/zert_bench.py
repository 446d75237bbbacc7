"""Benchmark of the zERT reader (issue 14's first figure): parse 1,000,000 SMF 119 subtype 11
records in at most 10 s with a peak memory of at most 300 MB.

The dump is generated first, untimed, into a temporary file: z/OS 2.5-shaped records (8
triplets) written by `attls.reports.smf119.render_record`, with every record's connection id,
ports, remote address and times different, 60% protected by TLS (four versions, six suites)
and half of those with their own random TLS session ID, so no cache of the reader sees the
same record twice more than real dumps would. The parse runs in a child process that reads
the file as a stream, tallies every record by protection, version and cipher (what a consumer
does) and reports its wall and CPU time and its peak RSS (`resource.getrusage`, the whole
child: interpreter included).

The issue's other figures (ingest into PostgreSQL with roll-ups, the inventory page over
100,000 peers) belong to its second half (the fleet collector and the inventory page) and
are not measured here.

    python bench/zert_bench.py [--records N]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORDS = 1_000_000
TARGET_SECONDS = 10.0
MEMORY_LIMIT_MB = 300.0
SEED = 14


def _templates() -> list[bytes]:
    from attls.reports import smf119 as z

    ident = z.Identification("SYSA", "PLEXA", "TCPIP", "V3R1", "STACK", "TCPIP", "TCPIP", 30, 8, 0)
    header = z.SmfHeader(0x5E, 0, dt.date(2026, 12, 6), "SYSA", "")
    jobs = ["TN3270A", "FTPD1", "MQP1CHIN", "CICSPRD1", "DB2PDIST", "IZUSVR1"]
    suites = ["C02F", "C030", "C02B", "1301", "1302", "0035"]
    versions = [0x0301, 0x0302, 0x0303, 0x0304]
    templates = []
    for index in range(60):
        job = jobs[index % len(jobs)]
        tls = None
        if index % 10 >= 4:
            tls = z.TlsAttributes(
                version_code=versions[index % len(versions)],
                cipher=suites[index % len(suites)],
                key_exchange=0,
                encryption=0,
                message_auth=0,
                source=2 if index % 2 else 1,
                crypto_flags=0,
                server_certificate=z.CertificateFacts(7, 2, 6, 2, 2048),
                client_certificate=None,
                handshake_type=1,
                handshake_role=2,
                session_id=bytes(32),
                provider="IBM System SSL" if index % 2 else "Observation",
            )
        record = z.ConnectionRecord(
            header=header,
            ident=ident,
            event=(3, 4, 1)[index % 3],
            security_protocols=0x80 if tls else 0,
            flags=0,
            security_flags=0,
            ip_protocol=6,
            jobname=job,
            jobid="STC00042",
            userid=job,
            start_time=0,
            start_date=dt.date(2026, 12, 6),
            end_time=0,
            end_date=dt.date(2026, 12, 6),
            remote_address="192.0.2.1",
            local_address="10.1.1.1",
            remote_port=0,
            local_port=(992, 21, 1416, 443)[index % 4],
            connection_id=0,
            in_bytes=1000,
            out_bytes=2000,
            in_segments=10,
            out_segments=20,
            tls=tls,
            triplets=8,
        )
        templates.append(z.render_record(record))
    return templates


def generate(path: Path, count: int) -> int:
    """Writes `count` records; returns the file size. Varies the fields of each record in place
    at their layout offsets (ID section at 92 with 8 triplets, common section at 156)."""
    rng = random.Random(SEED)
    templates = _templates()
    common = 92 + 64
    tls_at = common + 128
    with path.open("wb", buffering=1 << 20) as out:
        for number in range(count):
            record = bytearray(templates[number % len(templates)])
            struct.pack_into(">I", record, common + 32, rng.randrange(8_640_000))  # start
            struct.pack_into(">I", record, common + 40, rng.randrange(8_640_000))  # end
            struct.pack_into(">4s", record, common + 48, rng.randbytes(4))  # remote IPv4
            struct.pack_into(">H", record, common + 80, rng.randrange(1024, 65536))  # port
            struct.pack_into(">I", record, common + 84, number)  # connection id
            if len(record) > tls_at and number % 2:
                record[tls_at + 7] = 32
                record[tls_at + 8 : tls_at + 40] = rng.randbytes(32)  # session ID
            out.write(record)
    return path.stat().st_size


def child(path: str) -> None:
    """Parses the dump as a stream; prints the figures as JSON."""
    from attls.reports.smf119 import ZertReader

    tally: dict[tuple[str, str, str], int] = {}
    wall = time.perf_counter()
    cpu = time.process_time()
    with open(path, "rb") as stream:
        reader = ZertReader(stream)
        for record in reader:
            tls = record.tls
            key = (
                record.protection,
                tls.version_name if tls else "-",
                tls.cipher if tls else "-",
            )
            tally[key] = tally.get(key, 0) + 1
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(
        json.dumps(
            {
                "records": reader.records,
                "warnings": len(reader.warnings),
                "seconds": wall,
                "cpu_seconds": cpu,
                "peak_mb": peak_kb / 1024,
                "kinds": len(tally),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=RECORDS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="zert-bench-") as directory:
        path = Path(directory) / "zert.smf"
        started = time.perf_counter()
        size = generate(path, args.records)
        print(
            f"generated {args.records:,} subtype 11 records, {size / 2**20:.0f} MiB,"
            f" in {time.perf_counter() - started:.1f} s (untimed)"
        )
        result = subprocess.run(
            [sys.executable, "-m", "bench.zert_bench", "--child", str(path)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 1
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    target = TARGET_SECONDS * args.records / RECORDS
    read_ok = figures["records"] == args.records and figures["warnings"] == 0
    time_ok = figures["seconds"] <= target
    memory_ok = figures["peak_mb"] <= MEMORY_LIMIT_MB
    print(
        f"parse {figures['records']:,} subtype 11 records: {figures['seconds']:.2f} s wall"
        f" ({figures['cpu_seconds']:.2f} s CPU; target {target:.1f} s)"
        f" {'ok' if time_ok else 'MISSED'}"
    )
    print(
        f"peak memory of the parsing process: {figures['peak_mb']:.0f} MB"
        f" (limit {MEMORY_LIMIT_MB:.0f} MB) {'ok' if memory_ok else 'MISSED'}"
    )
    if not read_ok:
        print(
            f"MISSED: {figures['records']:,} records read, {figures['warnings']} warning(s);"
            f" {args.records:,} expected and none"
        )
    return 0 if read_ok and time_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
