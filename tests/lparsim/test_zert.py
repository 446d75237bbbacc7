"""zERT on lparsim: the data plane's connections as SMF 119 records, read back by the attls
parser and held to lparsim's own connection log; the z/OSMF jobs subset that dumps them and the
binary download of the dump, over real sockets."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import ssl
import time
from typing import Any

import httpx
import pytest

from attls.reports import smf119
from lparsim import zert
from tests.lparsim.policies import TN3270, policy
from tests.lparsim.support import USER, Sim, connect, tls_context, wait_for

TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
INIT_AFTER = 0.6  # instead of zERT's 10 s

DUMP_JCL = """\
//ZERTDUMP JOB (ACCT),'ZERT DUMP',CLASS=A,MSGCLASS=H
//* Dump the zERT records (SMF 119 subtypes 11 and 12)
//STEP1    EXEC PGM=IFASMFDL
//OUTDD    DD DSN={dsn},DISP=({disp},CATLG),
//            RECFM=VBS,LRECL=32760,BLKSIZE=27998,SPACE=(CYL,(10,10))
//SYSPRINT DD SYSOUT=*
//SYSIN    DD *
  LSNAME(IFASMF.ZERT,OPTIONS(DUMP))
  OUTDD(OUTDD,TYPE({types}))
/*
"""


def _interval_end(sim: Sim) -> list[smf119.SummaryRecord]:
    async def run() -> list[smf119.SummaryRecord]:
        return sim.lpar().zert.interval_end()

    return sim.thread.call(run())  # type: ignore[no-any-return]


def _sftp_read(sim: Sim, path: str) -> bytes:
    import asyncssh

    async def read() -> bytes:
        async with (
            asyncssh.connect(
                "127.0.0.1",
                sim.lpar().config.ssh_port,
                username=USER,
                client_keys=[sim.key_file],
                known_hosts=None,
                connect_timeout=15,
            ) as connection,
            connection.start_sftp_client() as sftp,
            sftp.open(path, "rb") as file,
        ):
            return bytes(await file.read())

    return asyncio.run(read())


def _kind(record: smf119.ConnectionRecord) -> str:
    # lparsim's convention: AT-TLS reports through System SSL (source 2), the applications'
    # own TLS is observed on the stream (source 1).
    if record.tls is None:
        return "none"
    return "at-tls" if record.tls.source == 2 else "app"


def _from_record(record: smf119.ConnectionRecord) -> tuple[Any, ...]:
    return (
        record.event_name,
        record.connection_id,
        record.jobname,
        record.userid,
        (record.local_address, record.local_port),
        (record.remote_address, record.remote_port),
        _kind(record),
        record.tls.version_name if record.tls else None,
        record.tls.cipher if record.tls else None,
    )


def _from_log(line: dict[str, Any]) -> tuple[Any, ...]:
    return (
        line["event"],
        line["connection_id"],
        line["jobname"],
        line["userid"],
        tuple(line["local"]),
        tuple(line["remote"]),
        line["secured_by"],
        line["protocol"],
        line["cipher"],
    )


@pytest.fixture(scope="module")
def zert_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One short data-plane run with every protection kind, then its SMF recording."""
    from lparsim.config import load_config
    from lparsim.runner import SimulatorThread
    from tests.lparsim.support import base_config, write_config

    config = load_config(write_config(tmp_path_factory.mktemp("zert"), base_config()))
    thread = SimulatorThread(config, populations=False).start()
    sim = Sim(thread)
    sim.lpar().zert.init_after = INIT_AFTER
    tn3270 = sim.service_port("TN3270 Secure")
    ftp = sim.service_port("FTP")
    try:
        # The "before" estate: the application's own TLS, a short connection.
        app = connect(tn3270, tls_context(TLS12, ca_file=sim.ca_file))
        assert app.exchange() == b"TN3270A PING 1\n"
        app.close()
        # Cleartext, a short connection.
        clear = connect(ftp)
        assert clear.exchange() == b"FTPD1 PING 1\n"
        clear.close()
        # A client that waits past the Init record before its handshake: Init (no protection),
        # then a Change record once the application's TLS is up.
        raw = socket.create_connection(("127.0.0.1", tn3270), timeout=10)
        time.sleep(INIT_AFTER + 0.5)
        late = tls_context(TLS12, ca_file=sim.ca_file).wrap_socket(raw)
        late.sendall(b"PING 2\n")
        assert late.recv(100) == b"TN3270A PING 2\n"
        late.close()
        # AT-TLS, a long connection: Init, then Term.
        assert "EZZ8771I" in sim.install(policy(TN3270))
        attls = connect(tn3270, tls_context(TLS12, TLS13, ca_file=sim.ca_file))
        assert attls.exchange() == b"TN3270A PING 1\n"
        time.sleep(INIT_AFTER + 0.5)
        attls.close()
        wait_for(lambda: len(zert.read_connection_log(sim.lpar())) >= 7)
        summaries = _interval_end(sim)
        yield sim, summaries
    finally:
        thread.stop()


def test_every_protection_kind_is_recorded_and_reads_back_as_the_connection_log(
    zert_run: Any,
) -> None:
    sim, summaries = zert_run
    dump = _sftp_read(sim, zert.SMF_RECORDING)  # SSH reads the same recording
    records, warnings = smf119.read_dump(dump)
    assert warnings == []
    detail = [r for r in records if isinstance(r, smf119.ConnectionRecord)]
    log = zert.read_connection_log(sim.lpar())
    assert [_from_record(r) for r in detail] == [_from_log(line) for line in log]
    assert {_kind(r) for r in detail} == {"none", "app", "at-tls"}
    assert {r.event_name for r in detail} == {"ConnInit", "Change", "ConnTerm", "ShortTerm"}
    change = next(r for r in detail if r.event_name == "Change")
    init = next(r for r in detail if r.connection_id == change.connection_id)
    assert (init.event_name, init.protection, change.protection) == ("ConnInit", "none", "TLS")
    attls = [r for r in detail if _kind(r) == "at-tls"]
    assert [r.event_name for r in attls] == ["ConnInit", "ConnTerm"]
    assert all(r.tls and r.tls.protocol is not None for r in attls)
    assert all(r.triplets == 8 and r.ident.component == "STACK" for r in detail)  # z/OS 3.1
    assert attls[-1].ended_at is not None and attls[-1].started_at is not None
    assert attls[-1].ended_at >= attls[-1].started_at
    # The interval's summaries: one per security session, read back from the recording.
    assert [r for r in records if isinstance(r, smf119.SummaryRecord)] == summaries
    assert {s.protection for s in summaries} == {"none", "TLS"}
    assert sum(s.final.connections for s in summaries) == 4
    assert sum(s.final.short_connections for s in summaries) == 2


def _wait_job(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    url = f"/zosmf/restjobs/jobs/{job['jobname']}/{job['jobid']}"

    def done() -> dict[str, Any] | None:
        document = client.get(url).json()
        return document if document["status"] == "OUTPUT" else None

    return wait_for(done, timeout=15, step=0.1)  # type: ignore[no-any-return]


def _submit(client: httpx.Client, jcl: str) -> dict[str, Any]:
    response = client.put(
        "/zosmf/restjobs/jobs", content=jcl.encode(), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] in ("INPUT", "ACTIVE") and job["retcode"] is None
    return _wait_job(client, job)


def _spool(client: httpx.Client, job: dict[str, Any]) -> dict[str, str]:
    files = client.get(job["files-url"]).json()
    return {f["ddname"]: client.get(f["records-url"]).text for f in files}


def test_a_dump_job_through_zosmf_and_the_binary_download_give_the_recorded_records(
    zert_run: Any,
) -> None:
    sim, _ = zert_run
    recording = sim.lpar().fs.host_path(zert.SMF_RECORDING).read_bytes()
    expected, _ = smf119.read_dump(recording)
    with sim.zosmf() as client:
        job = _submit(
            client, DUMP_JCL.format(dsn="ATTLSADM.ZERT.D1", disp="NEW", types="119(11:12)")
        )
        assert job["retcode"] == "CC 0000"
        assert job["owner"] == USER
        spool = _spool(client, job)
        assert re.search(rf"RECORDS WRITTEN TO OUTDD +{len(expected)}\n", spool["SYSPRINT"])
        assert "IEF142I ZERTDUMP STEP1 - STEP WAS EXECUTED - COND CODE 0000" in spool["JESYSMSG"]
        assert "$HASP395 ZERTDUMP ENDED" in spool["JESMSGLG"]
        jcl = client.get(f"{job['files-url']}/JCL/records").text
        assert jcl.startswith("//ZERTDUMP JOB")

        binary = client.get(
            "/zosmf/restfiles/ds/ATTLSADM.ZERT.D1", headers={"X-IBM-Data-Type": "binary"}
        )
        assert binary.status_code == 200
        assert smf119.read_dump(binary.content) == (expected, [])
        record = client.get(
            "/zosmf/restfiles/ds/ATTLSADM.ZERT.D1", headers={"X-IBM-Data-Type": "record"}
        )
        reader = smf119.ZertReader(io.BytesIO(record.content))
        assert list(reader) == expected and reader.framing == "length-prefixed"

        # Only the summaries, into a z/OS UNIX file that SFTP reads.
        only12 = _submit(
            client,
            DUMP_JCL.format(dsn="X", disp="NEW", types="119(12)").replace(
                "DSN=X,DISP=(NEW,CATLG),", "PATH='/u/attlsadm/zert12.smf',"
            ),
        )
        assert only12["retcode"] == "CC 0000"
        summaries, _ = smf119.read_dump(_sftp_read(sim, "/u/attlsadm/zert12.smf"))
        assert summaries and all(isinstance(r, smf119.SummaryRecord) for r in summaries)

        assert client.delete("/zosmf/restfiles/ds/ATTLSADM.ZERT.D1").status_code == 204
        missing = client.get(
            "/zosmf/restfiles/ds/ATTLSADM.ZERT.D1", headers={"X-IBM-Data-Type": "binary"}
        )
        assert missing.status_code == 404 and missing.json()["message"] == "Data set not found"


def test_jobs_that_fail_say_how_as_zos_does(zert_run: Any) -> None:
    sim, _ = zert_run
    with sim.zosmf() as client:
        first = _submit(client, DUMP_JCL.format(dsn="ATTLSADM.ZERT.D2", disp="NEW", types="119"))
        assert first["retcode"] == "CC 0000"
        again = _submit(client, DUMP_JCL.format(dsn="ATTLSADM.ZERT.D2", disp="NEW", types="119"))
        assert again["retcode"] == "JCL ERROR"
        assert (
            "IGD17101I DATA SET ATTLSADM.ZERT.D2 NOT DEFINED" in _spool(client, again)["JESYSMSG"]
        )

        abend = _submit(client, DUMP_JCL.format(dsn="A.B", disp="NEW", types="119").replace(
            "PGM=IFASMFDL", "PGM=IFASMFDX"
        ))  # fmt: skip
        assert abend["retcode"] == "ABEND S806"
        assert "CSV003I REQUESTED MODULE IFASMFDX NOT FOUND" in _spool(client, abend)["JESYSMSG"]

        syntax = _submit(client, "//BADJOB JOB\n//STEP1 EXECUTE PGM=IFASMFDL\n")
        assert syntax["retcode"] == "JCL ERROR"
        assert "IEFC605I" in _spool(client, syntax)["JESYSMSG"]

        control = _submit(client, DUMP_JCL.format(dsn="A.C", disp="NEW", types="119").replace(
            "  LSNAME(IFASMF.ZERT,OPTIONS(DUMP))\n", ""
        ))  # fmt: skip
        assert control["retcode"] == "CC 0008"
        assert "no LSNAME statement" in _spool(client, control)["SYSPRINT"]

        refused = client.put(
            "/zosmf/restjobs/jobs", content=b"not jcl", headers={"Content-Type": "text/plain"}
        )
        assert refused.status_code == 400
        unknown = client.get("/zosmf/restjobs/jobs/NOSUCH/JOB99999")
        assert unknown.status_code == 400
        assert (unknown.json()["category"], unknown.json()["rc"], unknown.json()["reason"]) == (
            6,
            4,
            10,
        )
        purged = client.delete(f"/zosmf/restjobs/jobs/{first['jobname']}/{first['jobid']}")
        assert purged.status_code == 200
        assert client.get(first["url"]).status_code == 400


def test_a_rotated_recording_is_dumped_whole_in_order(start, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(zert, "SMF_LIMIT", 1000)  # about two records per part
    sim: Sim = start()
    ftp = sim.service_port("FTP")
    for number in range(5):
        session = connect(ftp)
        assert session.exchange(b"PING %d\n" % number) == b"FTPD1 PING %d\n" % number
        session.close()
    wait_for(lambda: len(zert.read_connection_log(sim.lpar())) == 5)
    assert sim.lpar().fs.exists(zert.SMF_RECORDING + ".1")
    with sim.zosmf() as client:
        job = _submit(client, DUMP_JCL.format(dsn="ATTLSADM.ZERT.ALL", disp="NEW", types="119"))
        assert job["retcode"] == "CC 0000"
        binary = client.get(
            "/zosmf/restfiles/ds/ATTLSADM.ZERT.ALL", headers={"X-IBM-Data-Type": "binary"}
        )
    records, warnings = smf119.read_dump(binary.content)
    assert warnings == []
    log = zert.read_connection_log(sim.lpar())
    assert [_from_record(r) for r in records if isinstance(r, smf119.ConnectionRecord)] == [
        _from_log(line) for line in log
    ]


def test_a_download_cut_in_the_middle_fails_on_the_client_and_reads_as_cut(zert_run: Any) -> None:
    sim, _ = zert_run
    with sim.zosmf() as client:
        job = _submit(client, DUMP_JCL.format(dsn="ATTLSADM.ZERT.CUT", disp="NEW", types="119"))
        assert job["retcode"] == "CC 0000"
        whole = client.get(
            "/zosmf/restfiles/ds/ATTLSADM.ZERT.CUT", headers={"X-IBM-Data-Type": "binary"}
        ).content
        first = int.from_bytes(whole[:2], "big")
        sim.lpar().jes.cut_next_download = first + 10  # inside the second record
        received = b""
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream(
                "GET",
                "/zosmf/restfiles/ds/ATTLSADM.ZERT.CUT",
                headers={"X-IBM-Data-Type": "binary"},
            ) as response,
        ):
            for chunk in response.iter_bytes():
                received += chunk
    assert len(received) == first + 10
    reader = smf119.ZertReader(io.BytesIO(received))
    assert list(reader) == smf119.read_dump(whole)[0][:1]
    assert reader.truncated and "cut short" in reader.warnings[0].message
