"""zERT on the simulated stack: SMF 119 subtype 11 and 12 records of every data-plane connection.

zERT discovery, as IBM describes it [doc: "How does zERT discovery provide the information?"]:
a connection that lives 10 seconds gets a Connection Init record (event 1) with its protection
at that moment; a change of protection after that gets a Change record (2); its end gets a
Connection Term record (3), or, when it ended before the 10 seconds, a single Short Connection
Term record (4) and no Init. zERT aggregation writes one summary record (subtype 12) per
security session per SMF interval.

The records are rendered with `attls.reports.smf119` (one layout in one place) and appended,
with their RDWs, to the LPAR's SMF recording: `SMF_RECORDING` in its z/OS UNIX files, the
stand-in for the SMF log stream that the IFASMFDL dump job (`lparsim.jobs`) reads. SFTP reads
the same file.

Beside it lparsim keeps its own connection log (`CONNECTION_LOG`, JSON lines): what the data
plane actually negotiated, one line per zERT event, written from the connection table's row,
not from the SMF record, so a test can hold the parsed records to it.

What lparsim does not know and writes as zero ("unknown" where the code has that meaning):
byte and segment counts, key exchange and certificate algorithm codes (their ECDHE/ECDSA values
are not established publicly), session IDs. The applications' own TLS is written as zERT's
stream observation (TLS_Source 1, provider 'Observation'), AT-TLS as System SSL's report
(TLS_Source 2, 'IBM System SSL') [inferred: an application using System SSL itself would also
report through the provider].
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attls.ciphers import Protocol
from attls.reports import smf119
from lparsim.dataplane import cipher_code

if TYPE_CHECKING:
    from lparsim.dataplane import ConnRecord
    from lparsim.lpar import Lpar

SMF_RECORDING = "/var/smf/zert.smf"
CONNECTION_LOG = "/var/smf/connections.jsonl"
SMF_LIMIT = 64 * 1024 * 1024  # bytes before the recording is rotated to <name>.1
INIT_AFTER_SECONDS = 10.0  # [doc] the Init record is written after 10 s of connection life
INTERVAL_SECONDS = 900.0  # the SMF interval of the summary records (SMFPRMxx INTVAL default 30
# min is [doc]; 15 min is this simulator's choice, shorter is set by tests)
SMF_FLAGS = 0x5E  # SMF119FLG: subtypes used, version bits [inferred typical value]
TOD_MICROSECOND = 1 << 12  # bit 51 of the TOD clock is one microsecond [doc]

EVENT_INIT, EVENT_CHANGE, EVENT_TERM, EVENT_SHORT = 1, 2, 3, 4


def _hundredths(moment: dt.datetime) -> int:
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return int((moment - midnight).total_seconds() * 100)


@dataclass
class Tracked:
    """A connection zERT follows: when it started and what was last recorded for it."""

    record: ConnRecord
    started: dt.datetime
    handle: asyncio.TimerHandle | None = None
    init_written: bool = False
    recorded: tuple[str, str | None, str | None] | None = None  # protection at the last record


@dataclass
class Session:
    """One zERT security session for the summary records: its lifetime counters."""

    key: tuple[Any, ...]
    connections: int = 0
    short: int = 0
    active: int = 0
    at_interval_start: tuple[int, int, int, int] = (0, 0, 0, 0)
    touched: bool = False


@dataclass
class ZertRecorder:
    """The zERT function of one LPAR's stacks."""

    lpar: Lpar
    init_after: float = INIT_AFTER_SECONDS
    interval: float = INTERVAL_SECONDS
    tracked: dict[tuple[str, int], Tracked] = field(default_factory=dict)
    sessions: dict[tuple[Any, ...], Session] = field(default_factory=dict)
    written: int = 0
    _task: asyncio.Task[None] | None = None
    _interval_started: float = field(default_factory=time.monotonic)

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._intervals())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _intervals(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.interval_end()
            except Exception as error:  # the recorder must never stop the LPAR
                self.lpar.note(f"zERT summary interval failed: {error!r}")

    # --- the data plane's hooks ------------------------------------------------------------------

    def opened(self, record: ConnRecord) -> None:
        key = (record.stack, record.conn_id)
        tracked = Tracked(record, dt.datetime.now(dt.UTC))
        self.tracked[key] = tracked
        with contextlib.suppress(RuntimeError):  # no running loop: no Init timer
            tracked.handle = asyncio.get_running_loop().call_later(self.init_after, self._init, key)

    def protected(self, record: ConnRecord) -> None:
        """The connection's protection is known (handshake done, or cleartext chosen)."""
        tracked = self.tracked.get((record.stack, record.conn_id))
        if tracked is None or not tracked.init_written:
            return
        if _protection(record) != tracked.recorded:
            self._safely(self._write, tracked, EVENT_CHANGE)

    def closed(self, record: ConnRecord) -> None:
        tracked = self.tracked.pop((record.stack, record.conn_id), None)
        if tracked is None:
            return
        if tracked.handle is not None:
            tracked.handle.cancel()
        ended = dt.datetime.now(dt.UTC)
        self._safely(
            self._write, tracked, EVENT_TERM if tracked.init_written else EVENT_SHORT, ended
        )
        session = self._session(tracked.record)
        session.connections += 1
        session.short += 0 if tracked.init_written else 1
        session.active = max(0, session.active - (1 if tracked.init_written else 0))
        session.touched = True

    def _init(self, key: tuple[str, int]) -> None:
        tracked = self.tracked.get(key)
        if tracked is None:
            return
        tracked.handle = None
        tracked.init_written = True
        self._safely(self._write, tracked, EVENT_INIT)
        session = self._session(tracked.record)
        session.active += 1
        session.touched = True

    def _safely(self, write: Any, *args: Any) -> None:
        # The hooks run inside the data plane's connection handling: a record that cannot be
        # written (a full disk, a value the layout cannot hold) is noted, never raised there.
        try:
            write(*args)
        except Exception as error:
            self.lpar.note(f"zERT record not written: {error!r}")

    # --- records ---------------------------------------------------------------------------------

    def _ident(self, stack: str, reason: int) -> smf119.Identification:
        major, _, minor = self.lpar.config.release.partition(".")
        return smf119.Identification(
            system=self.lpar.name,
            sysplex=self.lpar.config.sysplex or "",
            stack=stack,
            release=f"V{major}R{minor}",  # [inferred] the release string's form is not published
            component="STACK",  # [doc] zERT records are written by the stack component
            address_space=stack,
            userid=stack,
            asid=0x1E,
            reason=reason,
            record_id=0,
        )

    def _header(self) -> smf119.SmfHeader:
        local = dt.datetime.now().astimezone()
        return smf119.SmfHeader(SMF_FLAGS, _hundredths(local), local.date(), self.lpar.name[:4], "")

    def _write(
        self, tracked: Tracked, event: int, ended: dt.datetime | None = None
    ) -> smf119.ConnectionRecord:
        record = tracked.record
        protection = _protection(record)
        tracked.recorded = protection
        secured_by, protocol, code = protection
        tls = _tls(record, secured_by, protocol, code)
        ipv6 = ":" in record.local[0]
        zert = smf119.ConnectionRecord(
            header=self._header(),
            ident=self._ident(record.stack, 0x08),  # [doc] X'08': event record
            event=event,
            security_protocols=0x80 if tls is not None else 0x00,
            flags=smf119.FLAG_IPV6 if ipv6 else 0,
            security_flags=0,
            ip_protocol=6,
            jobname=record.jobname,
            jobid=_jobid(record.jobname),
            userid=record.userid,
            start_time=_hundredths(tracked.started),
            start_date=tracked.started.date(),
            end_time=_hundredths(ended) if ended else 0,
            end_date=ended.date() if ended else None,
            remote_address=record.remote[0],
            local_address=record.local[0],
            remote_port=record.remote[1],
            local_port=record.local[1],
            connection_id=record.conn_id,
            in_bytes=0,
            out_bytes=0,
            in_segments=0,
            out_segments=0,
            tls=tls,
            triplets=8 if self.lpar.config.release >= "2.5" else 7,  # [doc] TRN 8 from z/OS 2.5
        )
        self._append([smf119.render_record(zert)])
        self._log(record, event, tracked.started, ended, protection)
        return zert

    def interval_end(self) -> list[smf119.SummaryRecord]:
        """Writes the summary records of the interval just ended (sessions with activity)."""
        now = time.monotonic()
        duration = int((now - self._interval_started) * 1_000_000) * TOD_MICROSECOND
        self._interval_started = now
        summaries = []
        for session in self.sessions.values():
            counts = (session.connections, 0, session.short, session.active)
            if not session.touched and session.active == 0:
                continue
            stack, job, user, server, client, port, secured_by, protocol, code, inbound = (
                session.key
            )
            tls = _tls_summary(secured_by, protocol, code)
            start, final = session.at_interval_start, counts
            summaries.append(
                smf119.SummaryRecord(
                    header=self._header(),
                    ident=self._ident(stack, 0xC0),  # [doc] X'C0': interval record, more follow
                    interval=duration,
                    event=1,
                    flags=(smf119.SUMMARY_FLAG_SERVER if inbound else smf119.SUMMARY_FLAG_CLIENT)
                    | (smf119.FLAG_IPV6 if ":" in server else 0),
                    security_protocols=0x80 if tls is not None else 0x00,
                    jobname=job,
                    userid=user,
                    ip_protocol=6,
                    server_address=server,
                    client_address=client,
                    server_port_start=port,
                    server_port_end=port,
                    session_id="",  # the SASessionID grammar is not established publicly
                    initial=smf119.SummaryCounts(*start, 0, 0, 0, 0),
                    final=smf119.SummaryCounts(*final, 0, 0, 0, 0),
                    tls=tls,
                )
            )
            session.at_interval_start = counts
            session.touched = False
        if summaries:
            # [doc] X'C0' interval record, more follow; X'80' the interval's last record.
            summaries[-1] = summaries[-1]._replace(ident=summaries[-1].ident._replace(reason=0x80))
            self._append([smf119.render_record(s) for s in summaries])
        return summaries

    def _session(self, record: ConnRecord) -> Session:
        secured_by, protocol, code = _protection(record)
        inbound = record.direction == "Inbound"
        server, client = (record.local, record.remote) if inbound else (record.remote, record.local)
        key = (
            record.stack,
            record.jobname,
            record.userid,
            server[0],
            client[0],
            server[1],
            secured_by,
            protocol,
            code,
            inbound,
        )
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = Session(key)
        return session

    # --- files -----------------------------------------------------------------------------------

    def _append(self, rendered: list[bytes]) -> None:
        host = self.lpar.fs.host_path(SMF_RECORDING)
        host.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if host.stat().st_size > SMF_LIMIT:
                # Like a log stream's retention: the older half is kept, the oldest dropped.
                host.replace(host.with_name(host.name + ".1"))
        with host.open("ab") as file:
            for data in rendered:
                file.write(data)
        self.written += len(rendered)

    def _log(
        self,
        record: ConnRecord,
        event: int,
        started: dt.datetime,
        ended: dt.datetime | None,
        protection: tuple[str, str | None, str | None],
    ) -> None:
        secured_by, protocol, code = protection
        line = {
            "event": smf119.EVENT_NAMES[event],
            "stack": record.stack,
            "connection_id": record.conn_id,
            "service": record.service,
            "jobname": record.jobname,
            "userid": record.userid,
            "direction": record.direction,
            "local": [record.local[0], record.local[1]],
            "remote": [record.remote[0], record.remote[1]],
            "secured_by": secured_by,  # at-tls | app | none
            "protocol": protocol,  # TLSv1.2 ...
            "cipher": code,  # 4-hex code
            "rule": record.rule,
            "started": started.isoformat(),
            "ended": ended.isoformat() if ended else None,
        }
        with contextlib.suppress(OSError):
            host = self.lpar.fs.host_path(CONNECTION_LOG)
            if host.stat().st_size > SMF_LIMIT:
                host.replace(host.with_name(host.name + ".1"))
        self.lpar.fs.append_text(CONNECTION_LOG, json.dumps(line) + "\n")


def _protection(record: ConnRecord) -> tuple[str, str | None, str | None]:
    if record.secured_by == "none" or record.protocol is None:
        return ("none", None, None)
    code, _ = cipher_code(record.cipher)
    return (record.secured_by, record.protocol, code or record.cipher)


def _tls(
    record: ConnRecord, secured_by: str, protocol: str | None, code: str | None
) -> smf119.TlsAttributes | None:
    if protocol is None:
        return None
    at_tls = secured_by == "at-tls"
    server = record.direction == "Inbound"
    return smf119.TlsAttributes(
        version_code=smf119.TLS_VERSION_CODES[Protocol(protocol)],
        cipher=code or "",
        key_exchange=0,
        encryption=0,
        message_auth=0,
        source=2 if at_tls else 1,
        crypto_flags=0,
        server_certificate=None,
        client_certificate=None,
        handshake_type=1,
        handshake_role=2 if server else 1,
        provider="IBM System SSL" if at_tls else "Observation",
    )


def _tls_summary(
    secured_by: str, protocol: str | None, code: str | None
) -> smf119.TlsAttributes | None:
    if protocol is None:
        return None
    return smf119.TlsAttributes(
        version_code=smf119.TLS_VERSION_CODES[Protocol(protocol)],
        cipher=code or "",
        key_exchange=0,
        encryption=0,
        message_auth=0,
        source=2 if secured_by == "at-tls" else 1,
        crypto_flags=0,
        server_certificate=None,
        client_certificate=None,
    )


def _jobid(jobname: str) -> str:
    """A stable started-task id per job name (STCnnnnn), as JES would show it."""
    return f"STC{zlib.crc32(jobname.encode()) % 100000:05d}"


def read_connection_log(lpar: Lpar) -> list[dict[str, Any]]:
    """lparsim's own log of what the data plane negotiated (for tests and the demo), the
    rotated older part first."""
    lines: list[dict[str, Any]] = []
    for path in (CONNECTION_LOG + ".1", CONNECTION_LOG):
        try:
            text = lpar.fs.read_text(path)
        except OSError:
            continue
        lines += [json.loads(line) for line in text.splitlines() if line.strip()]
    return lines
