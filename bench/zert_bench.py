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

The issue's other two figures run on PostgreSQL (ZERT_BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/postgres: a scratch database is created beside it, migrated,
and dropped afterwards), in a second child process:

- ingest the same dump with roll-ups (<= 60 s): parsed as a stream, mapped to rows
  (fleet.zert.ingest.RecordMapper) and stored in batches by `store_batch` (COPY into a temporary
  table, insert what is new into the monthly partition, add the new rows to the daily
  roll-ups), exactly as the collector does; then the same dump again, which must add nothing;
- the inventory page over 100,000 peers (<= 300 ms): the roll-ups replaced by 100,000 peers
  over four services (two days, mixed protections), the page rendered for an architect through
  Django's test client, the median of 5 requests after one warm-up.

Without PostgreSQL those two are reported as not measured (and the bench fails).

    python bench/zert_bench.py [--records N] [--peers N]

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
PEERS = 100_000
INGEST_TARGET_SECONDS = 60.0
PAGE_TARGET_MS = 300.0
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


def _django(database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "0",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": "zert-bench-" + "x" * 40,
            "FLEET_SECRETS_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ingest_child(path: str, peers: int) -> None:
    """Stores the dump twice (the second adds nothing), then times the inventory page."""
    _django(os.environ["ZERT_BENCH_URL"])
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from accounts.roles import Role, ensure_role_groups
    from attls.reports.smf119 import ConnectionRecord, ZertReader
    from fleet.models import ZertDaily, ZertPeer, ZertRecord
    from fleet.zert import ingest
    from policies.models import Lpar, Service, Stack

    lpar = Lpar.objects.create(name="SYSA")
    stack = Stack.objects.create(lpar=lpar, name="TCPIP")
    services = [
        Service.objects.create(
            stack=stack, name=name, jobname=job, local_port_low=port, local_port_high=port
        )
        for name, job, port in (
            ("TN3270", "TN3270A", 992),
            ("FTP", "FTPD1", 21),
            ("MQ", "MQP1CHIN", 1416),
            ("ZOSMF", "IZUSVR1", 443),
        )
    ]

    storing = [0.0]

    def timed_store(batch: list[tuple[object, ...]]) -> int:
        started = time.perf_counter()
        try:
            return ingest.store_batch(batch)
        finally:
            storing[0] += time.perf_counter() - started

    def store() -> tuple[float, int, int]:
        started = time.perf_counter()
        mapper = ingest.RecordMapper(lpar.id)
        batch: list[tuple[object, ...]] = []
        read = stored = 0
        with open(path, "rb") as stream:
            for record in ZertReader(stream):
                if not isinstance(record, ConnectionRecord):
                    continue
                read += 1
                row = mapper.row(record)
                if row is not None:
                    batch.append(row)
                if len(batch) >= 20_000:
                    stored += timed_store(batch)
                    batch = []
        stored += timed_store(batch)
        return time.perf_counter() - started, read, stored

    cpu = time.process_time()
    seconds, read, stored = store()
    cpu = time.process_time() - cpu
    database_seconds = storing[0]
    again_seconds, _, again = store()
    raw = ZertRecord.objects.count()
    rolled = sum(ZertDaily.objects.values_list("records", flat=True))
    per_peer = sum(ZertPeer.objects.values_list("records", flat=True))
    partitions = ingest.partitions()

    # The page: 100,000 peers in the roll-ups.
    # A fresh inventory (TRUNCATE, not DELETE: the million rows just deleted would otherwise
    # stay as dead tuples until autovacuum, and every scan of the page would read them).
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE fleet_zertdaily, fleet_zertpeer")
    today = dt.datetime.now(dt.UTC).date()
    protections = [("none", "", ""), ("app-tls", "TLSv1.2", "C02F"), ("app-tls", "TLSv1", "002F")]
    protections.append(("at-tls", "TLSv1.3", "1302"))
    with connection.cursor() as cursor:
        raw_cursor = cursor.cursor
        columns = (
            "day, stack_id, service_id, service_key, peer, protection, protocol, cipher,"
            " connections, changed, records"
        )
        with raw_cursor.copy(f"COPY fleet_zertdaily ({columns}) FROM STDIN") as copy:
            for number in range(peers):
                service = services[number % len(services)]
                peer = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
                for back in (0, 1):
                    protection, protocol, cipher = protections[(number + back) % 4]
                    copy.write_row(
                        (
                            today - dt.timedelta(days=back),
                            stack.id,
                            service.id,
                            service.id,
                            peer,
                            protection,
                            protocol,
                            cipher,
                            1 + number % 7,
                            0,
                            2 + number % 7,
                        )
                    )
        # The per-peer rows as ingestion keeps them: the sums of the daily rows.
        cursor.execute(
            "INSERT INTO fleet_zertpeer (stack_id, service_id, service_key, peer, connections,"
            " cleartext, app_tls, at_tls, other, deprecated, records, first_day, last_day)"
            " SELECT stack_id, min(service_id), service_key, peer, sum(connections),"
            " coalesce(sum(connections) FILTER (WHERE protection = 'none'), 0),"
            " coalesce(sum(connections) FILTER (WHERE protection = 'app-tls'), 0),"
            " coalesce(sum(connections) FILTER (WHERE protection = 'at-tls'), 0), 0,"
            " coalesce(sum(connections) FILTER (WHERE protocol IN ('TLSv1', 'TLSv1.1')), 0),"
            " sum(records), min(day), max(day)"
            " FROM fleet_zertdaily GROUP BY stack_id, service_key, peer"
        )
        cursor.execute("ANALYZE fleet_zertdaily")
        cursor.execute("ANALYZE fleet_zertpeer")
    groups = ensure_role_groups()
    architect = User.objects.create_user("architect", password="x")
    architect.groups.set([groups[Role.ARCHITECT]])
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    client = Client()
    client.force_login(architect)
    url = reverse("fleet:inventory")
    first = client.get(url)
    assert first.status_code == 200, first.status_code
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    timings.sort()
    if os.environ.get("ZERT_BENCH_QUERIES"):  # where the page's time goes
        from django.db import connection as db
        from django.db import reset_queries

        reset_queries()
        client.get(url)
        for query in sorted(db.queries, key=lambda q: -float(q["time"]))[:8]:
            print(query["time"], query["sql"][:300], file=sys.stderr)
    print(
        json.dumps(
            {
                "ingest_seconds": seconds,
                "database_seconds": database_seconds,
                "python_cpu_seconds": cpu,
                "read": read,
                "stored": stored,
                "again_seconds": again_seconds,
                "again_stored": again,
                "raw_rows": raw,
                "rolled_records": rolled,
                "per_peer_records": per_peer,
                "partitions": partitions,
                "page_ms": timings[len(timings) // 2],
                "page_ms_all": [round(t, 1) for t in timings],
                "page_bytes": len(first.content),
            }
        )
    )


def _postgres(args: argparse.Namespace, path: Path, root: Path) -> bool:
    """The ingest and page figures on a scratch PostgreSQL database; True when both are met."""
    import psycopg

    admin_url = os.environ.get(
        "ZERT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    name = f"zert_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        print(f"ingest and page: NOT MEASURED, no PostgreSQL at {admin_url} ({error})")
        return False
    base = admin_url.rsplit("/", 1)[0]
    try:
        admin.execute(f"CREATE DATABASE {name}")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.zert_bench",
                "--ingest-child",
                str(path),
                "--peers",
                str(args.peers),
            ],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root), "ZERT_BENCH_URL": f"{base}/{name}"},
            capture_output=True,
            text=True,
            check=False,
            timeout=1200,
        )
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
    if result.returncode != 0 or os.environ.get("ZERT_BENCH_QUERIES"):
        print(result.stderr[-3000:], file=sys.stderr)
    if result.returncode != 0:
        return False
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    target = INGEST_TARGET_SECONDS * args.records / RECORDS
    stored_ok = figures["stored"] == figures["read"] == args.records
    stored_ok = stored_ok and figures["again_stored"] == 0
    stored_ok = stored_ok and figures["raw_rows"] == figures["rolled_records"] == args.records
    stored_ok = stored_ok and figures["per_peer_records"] == args.records
    ingest_ok = figures["ingest_seconds"] <= target
    page_ok = figures["page_ms"] <= PAGE_TARGET_MS
    print(
        f"ingest {figures['read']:,} subtype 11 records into PostgreSQL with daily roll-ups:"
        f" {figures['ingest_seconds']:.1f} s (target {target:.0f} s)"
        f" {'ok' if ingest_ok else 'MISSED'}; of which storing (COPY, insert, roll-ups)"
        f" {figures['database_seconds']:.1f} s; this process's CPU"
        f" {figures['python_cpu_seconds']:.1f} s; partitions {', '.join(figures['partitions'])}"
    )
    print(
        f"the same dump again: {figures['again_stored']} stored in"
        f" {figures['again_seconds']:.1f} s; {figures['raw_rows']:,} raw rows,"
        f" {figures['rolled_records']:,} records in the roll-ups"
        f" {'ok' if stored_ok else 'MISSED'}"
    )
    print(
        f"inventory page over {args.peers:,} peers: median {figures['page_ms']:.0f} ms"
        f" of {figures['page_ms_all']} (target {PAGE_TARGET_MS:.0f} ms)"
        f" {'ok' if page_ok else 'MISSED'}"
    )
    return stored_ok and ingest_ok and page_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=RECORDS)
    parser.add_argument("--peers", type=int, default=PEERS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    if args.ingest_child:
        ingest_child(args.ingest_child, args.peers)
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
        report = _report_parse(json.loads(result.stdout.strip().splitlines()[-1]), args)
        postgres_ok = _postgres(args, path, root)
    return 0 if report and postgres_ok else 1


def _report_parse(figures: dict[str, float], args: argparse.Namespace) -> bool:
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
    return read_ok and time_ok and memory_ok


if __name__ == "__main__":
    sys.exit(main())
