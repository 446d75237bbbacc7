"""lparsim benchmark: start-up, 1,000 TLS sessions with netstat, console latency, handshake cost.

Targets (issue 4):
  * the reference data center (3 LPARs, 30+ services, client populations) ready to serve
    in <= 3 s, from launching the process on a fresh work directory;
  * 1,000 concurrent TLS sessions held on one LPAR; `netstat -x CONN` over SSH listing them
    in <= 300 ms round trip;
  * z/OSMF console round trip <= 30 ms at the median, 20 requests in parallel;
  * handshake time of the AT-TLS path vs cleartext on the same port: printed (the published
    field figure is about 3 ms added).

lparsim runs as its own process (`python -m lparsim run`), as the demo runs it; the clients
run here. Prints the figures; exits 1 when a target is missed.

    .venv/bin/python bench/lparsim_bench.py
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenario" / "reference-datacenter.yaml"
START_TARGET = 3.0
NETSTAT_TARGET = 0.300
CONSOLE_TARGET = 0.030
SESSIONS = 1000
PARALLEL = 20
CONSOLE_REQUESTS = 400
HANDSHAKES = 200
USER, PASSWORD = "BENCH", "bench-only"

POLICY = """\
TTLSGroupAction               gAct_MASTER
{
  TTLSEnabled                 %s
}
TTLSEnvironmentAction         eAct_TLS12_13
{
  HandshakeRole               Server
  TTLSKeyringParms
  {
    Keyring                   ATTLS/SharedRing
  }
  TTLSEnvironmentAdvancedParms
  {
    TLSv1                     Off
    TLSv1.1                   Off
    TLSv1.2                   On
    TLSv1.3                   On
  }
  TTLSCipherParms
  {
    V3CipherSuites4Char       13011302C02BC02CC02FC030
  }
}
TTLSRule                      rule_BENCH
{
  LocalPortRange              8443
  Jobname                     BENCHSRV
  Direction                   Inbound
  Priority                    100
  TTLSGroupActionRef          gAct_MASTER
  TTLSEnvironmentActionRef    eAct_TLS12_13
}
"""


def bench_config(directory: Path) -> Path:
    data = {
        "version": 1,
        "sim": {
            "workdir": str(directory / "work"),
            "base_port": 0,
            "users": [{"name": USER, "password": PASSWORD, "generate_key": True}],
        },
        "lpars": [
            {
                "name": "BENCH1",
                "release": "3.1",
                "stacks": [{"name": "TCPIP"}],
                "key_rings": [
                    {
                        "name": "ATTLS/SharedRing",
                        "certificates": [{"label": "BENCH1.ATTLS", "common_name": "bench1.test"}],
                    }
                ],
                "services": [
                    {
                        "name": "Bench service",
                        "jobname": "BENCHSRV",
                        "port": 8443,
                        "direction": "Inbound",
                        "criticality": "low",
                        "owner": "bench",
                    }
                ],
            }
        ],
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Lparsim:
    """`python -m lparsim run` as a child process, stopped with SIGTERM."""

    def __init__(self, config: Path, *extra: str) -> None:
        self.began = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lparsim", "run", str(config), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def wait_ready(self, timeout: float = 60) -> float:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"lparsim exited: {self.process.stderr.read() if self.process.stderr else ''}"
                )
            self.lines.append(line.rstrip())
            if "LPAR(s) ready in" in line:
                return time.perf_counter() - self.began
        raise TimeoutError("lparsim did not become ready")

    def state(self, workdir: Path) -> dict[str, Any]:
        return dict(json.loads((workdir / "lparsim-state.json").read_text()))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def client_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    return context


# --- 1. start-up ---------------------------------------------------------------------------------


def bench_startup(directory: Path) -> tuple[float, float]:
    workdir = directory / "reference"
    sim = Lparsim(REFERENCE, "--workdir", str(workdir), "--base-port", "0")
    try:
        wall = sim.wait_ready()
        internal = float(sim.lines[-1].split("ready in ")[1].split(" s")[0])
        state = sim.state(workdir)
        # Serving: z/OSMF answers and a service completes a handshake.
        sysa = state["lpars"]["SYSA"]
        response = httpx.get(
            f"https://127.0.0.1:{sysa['zosmf']}/zosmf/info",
            verify=client_context(state["ca_file"]),
            auth=("ATTLSADM", "attls-demo"),
            headers={"X-CSRF-ZOSMF-HEADER": ""},
            timeout=10,
        )
        response.raise_for_status()
        return wall, internal
    finally:
        sim.stop()


# --- 2..4 on one LPAR -----------------------------------------------------------------------------


async def open_sessions(
    port: int, context: ssl.SSLContext, count: int
) -> list[asyncio.StreamWriter]:
    gate = asyncio.Semaphore(100)
    writers: list[asyncio.StreamWriter] = []

    async def one(index: int) -> None:
        async with gate:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=context), 30
            )
            writer.write(b"PING %d\n" % index)
            await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), 30)
            if not reply:
                raise RuntimeError("session closed by the server")
            writers.append(writer)

    await asyncio.gather(*(one(index) for index in range(count)))
    return writers


def zosmf_console(base: str, ca_file: str) -> list[float]:
    """PARALLEL workers, each with its own keep-alive connection (as portal workers would have),
    issue console commands until CONSOLE_REQUESTS are done; the latency of each.

    Synchronous httpx clients in threads: httpx's AsyncClient adds a long client-side tail on
    this machine (measured p95 about 200 ms against the same server), which is not lparsim's.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [CONSOLE_REQUESTS]

    def worker() -> None:
        with httpx.Client(
            base_url=base,
            verify=client_context(ca_file),
            auth=(USER, PASSWORD),
            headers={"X-CSRF-ZOSMF-HEADER": ""},
            timeout=30,
        ) as client:
            client.get("/zosmf/info").raise_for_status()  # connect and handshake first
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                began = time.perf_counter()
                response = client.put(
                    "/zosmf/restconsoles/consoles/defcn", json={"cmd": "D TCPIP,,NETSTAT,TTLS"}
                )
                elapsed = time.perf_counter() - began
                response.raise_for_status()
                assert "EZD0101I" in response.json()["cmd-response"]
                with lock:
                    latencies.append(elapsed)

    with ThreadPoolExecutor(PARALLEL) as pool:
        for future in [pool.submit(worker) for _ in range(PARALLEL)]:
            future.result()
    return latencies


async def handshakes(port: int, context: ssl.SSLContext | None, count: int) -> list[float]:
    """Connect (and TLS handshake) plus one exchanged line, sequentially."""
    times: list[float] = []
    for index in range(count):
        began = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"PING %d\n" % index)
        await writer.drain()
        reply = await reader.readline()
        times.append(time.perf_counter() - began)
        if not reply:
            raise RuntimeError("handshake refused")
        writer.close()
    return times


async def console(base: str, ca_file: str, command: str) -> str:
    async with httpx.AsyncClient(
        base_url=base,
        verify=client_context(ca_file),
        auth=(USER, PASSWORD),
        headers={"X-CSRF-ZOSMF-HEADER": ""},
        timeout=30,
    ) as client:
        response = await client.put("/zosmf/restconsoles/consoles/defcn", json={"cmd": command})
        response.raise_for_status()
        return str(response.json()["cmd-response"])


async def write_policy(base: str, ca_file: str, text: str) -> None:
    async with httpx.AsyncClient(
        base_url=base,
        verify=client_context(ca_file),
        auth=(USER, PASSWORD),
        headers={"X-CSRF-ZOSMF-HEADER": ""},
        timeout=30,
    ) as client:
        response = await client.put("/zosmf/restfiles/fs/etc/pagent/TCPIP.policy", content=text)
        response.raise_for_status()
    answer = await console(base, ca_file, "F PAGENT,REFRESH")
    if "EZZ8771I" not in answer:
        raise RuntimeError(f"refresh failed: {answer}")


async def one_lpar(state: dict[str, Any]) -> dict[str, Any]:
    lpar = state["lpars"]["BENCH1"]
    ca_file = state["ca_file"]
    base = f"https://127.0.0.1:{lpar['zosmf']}"
    port = lpar["services"]["Bench service"]["host_port"]
    results: dict[str, Any] = {}

    # Handshake cost on one port: cleartext (rule with TTLSEnabled Off) vs AT-TLS (On).
    await write_policy(base, ca_file, POLICY % "Off")
    await handshakes(port, None, 20)  # warm-up
    results["cleartext"] = await handshakes(port, None, HANDSHAKES)
    await write_policy(base, ca_file, POLICY % "On")
    context = client_context(ca_file)
    await handshakes(port, context, 20)
    results["attls"] = await handshakes(port, context, HANDSHAKES)
    tls12 = client_context(ca_file)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    results["attls12"] = await handshakes(port, tls12, HANDSHAKES)

    # 1,000 concurrent TLS sessions, then netstat -x CONN over SSH.
    began = time.perf_counter()
    writers = await open_sessions(port, context, SESSIONS)
    results["open_seconds"] = time.perf_counter() - began
    key = state["user_keys"][USER]
    try:
        async with asyncssh.connect(
            "127.0.0.1", lpar["ssh"], username=USER, client_keys=[key], known_hosts=None
        ) as connection:
            await connection.run("netstat -x")  # warm the channel path
            netstat: list[float] = []
            listed = 0
            for _ in range(10):
                began = time.perf_counter()
                result = await connection.run("netstat -x CONN", timeout=30)
                netstat.append(time.perf_counter() - began)
                listed = str(result.stdout).count("ConnID:")
            results["netstat"] = netstat
            results["netstat_listed"] = listed
            began = time.perf_counter()
            detail = await connection.run("netstat -x CONN DETAIL", timeout=30)
            results["netstat_detail"] = time.perf_counter() - began
            results["netstat_detail_bytes"] = len(str(detail.stdout))
        began = time.perf_counter()
        async with asyncssh.connect(
            "127.0.0.1", lpar["ssh"], username=USER, client_keys=[key], known_hosts=None
        ) as connection:
            await connection.run("netstat -x CONN", timeout=30)
        results["netstat_with_login"] = time.perf_counter() - began

        # Console latency with the sessions still held.
        results["console"] = await asyncio.to_thread(zosmf_console, base, ca_file)
    finally:
        for writer in writers:
            writer.close()
    return results


def main() -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lparsim-bench-") as temp:
        directory = Path(temp)
        wall, internal = bench_startup(directory)
        print(
            f"start-up, reference data center (fresh work dir): {wall:.2f} s from launch "
            f"(in-process {internal:.2f} s); target <= {START_TARGET:.1f} s"
        )
        if wall > START_TARGET:
            failures.append("start-up")

        config = bench_config(directory)
        sim = Lparsim(config, "--no-populations")
        try:
            sim.wait_ready()
            results = asyncio.run(one_lpar(sim.state(directory / "work")))
        finally:
            sim.stop()

    cleartext = statistics.median(results["cleartext"]) * 1000
    attls = statistics.median(results["attls"]) * 1000
    attls12 = statistics.median(results["attls12"]) * 1000
    print(
        f"connect + first line, same port, {HANDSHAKES} sequential each (median): "
        f"cleartext {cleartext:.2f} ms, AT-TLS TLS 1.3 {attls:.2f} ms "
        f"(+{attls - cleartext:.2f} ms), AT-TLS TLS 1.2 {attls12:.2f} ms "
        f"(+{attls12 - cleartext:.2f} ms); field figure about +3 ms"
    )
    print(f"{SESSIONS} concurrent TLS sessions opened in {results['open_seconds']:.2f} s")
    netstat = results["netstat"]
    netstat_median = statistics.median(netstat)
    print(
        f"netstat -x CONN over SSH listing {results['netstat_listed']} connections: "
        f"median {netstat_median * 1000:.0f} ms, max {max(netstat) * 1000:.0f} ms "
        f"(with SSH login {results['netstat_with_login'] * 1000:.0f} ms; DETAIL "
        f"{results['netstat_detail'] * 1000:.0f} ms, {results['netstat_detail_bytes']} bytes); "
        f"target <= {NETSTAT_TARGET * 1000:.0f} ms"
    )
    if results["netstat_listed"] < SESSIONS or netstat_median > NETSTAT_TARGET:
        failures.append("netstat")
    console_times = sorted(results["console"])
    console_median = statistics.median(console_times)
    p95 = console_times[int(len(console_times) * 0.95) - 1]
    print(
        f"z/OSMF console round trip, {PARALLEL} in parallel, {len(console_times)} requests: "
        f"median {console_median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; "
        f"target median <= {CONSOLE_TARGET * 1000:.0f} ms"
    )
    if console_median > CONSOLE_TARGET:
        failures.append("console")
    print(f"host: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}")
    if failures:
        print(f"MISSED: {', '.join(failures)}")
        return 1
    print("all lparsim targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
