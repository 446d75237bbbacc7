"""Batch jobs and MVS data sets on the simulated LPAR: the z/OSMF jobs REST subset, a JES that
runs IFASMFDL (and IEFBR14), and the data set download.

The z/OSMF interfaces [doc: IBM z/OSMF "z/OS jobs REST interface", "z/OS data set and file
REST interface"]:

* `PUT /zosmf/restjobs/jobs` (the JCL as text/plain): 201 and the job document (`jobid`,
  `jobname`, `owner`, `status` INPUT, `retcode` null, `url`, `files-url`, `job-correlator`...);
* `GET /zosmf/restjobs/jobs/<jobname>/<jobid>`: the job document, `status` INPUT, ACTIVE or
  OUTPUT, `retcode` `CC nnnn`, `JCL ERROR` or `ABEND Sxxx` once it ended;
* `GET .../<jobname>/<jobid>/files`: the spool files (`id`, `ddname`, `stepname`,
  `records-url`, `byte-count`, ...); `GET .../files/<id>/records` and `.../files/JCL/records`;
* `DELETE /zosmf/restjobs/jobs/<jobname>/<jobid>`: purge;
* `GET /zosmf/restfiles/ds/<dsn>` with `X-IBM-Data-Type: binary`: the records with their RDWs,
  as the data set holds them; with `record`: each record's data after a 4-byte length [doc];
* `DELETE /zosmf/restfiles/ds/<dsn>`: 204.

The JES runs a job in the background a moment after submission. IFASMFDL [doc: z/OS MVS System
Management Facilities, "Using the IFASMFDL program"] reads the LPAR's SMF recording (the one
`lparsim.zert` writes; any `LSNAME` names it) and copies the records its `OUTDD(dd,TYPE(...))`
selects, within `DATE(yyyyddd,yyyyddd)`, `START(hhmm)` and `END(hhmm)` (the SMF header's local
date and time), to the data set (`DSN=`) or z/OS UNIX file (`PATH=`) of that DD.

Failures as z/OS shows them: a JCL statement JES cannot read, or `DISP=NEW` for a data set that
exists, ends the job with `JCL ERROR` (IEFC605I / IGD17101I, IEF453I); a program that is not
there ends it with `ABEND S806` (CSV003I); IFASMFDL control statements it cannot read end it
with `CC 0008` (the messages in SYSPRINT are lparsim's own wording, not IBM's).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from lparsim import zert
from lparsim.fsys import normalise

if TYPE_CHECKING:
    from lparsim.lpar import Lpar
    from lparsim.zosmf import ZosmfFront

# The signed-in z/OSMF user of a request: zosmf.py's authentication stores it, the REST jobs
# interface here reads it (defined here because zosmf.py imports this module, not back).
USER_KEY = web.RequestKey("user", str)
RUN_DELAY_SECONDS = 0.2  # INPUT -> ACTIVE -> OUTPUT, so a client sees the job progress
KEEP_JOBS = 500
NAME = r"[A-Z@#$][A-Z0-9@#$]{0,7}"
DSN_RE = re.compile(rf"^{NAME}(\.{NAME})*$")
PROGRAMS = ("IFASMFDL", "IEFBR14")


class JclError(Exception):
    """A JCL problem: the job ends with JCL ERROR and these messages."""

    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(messages))


@dataclass
class Dd:
    name: str
    dsn: str | None = None
    path: str | None = None
    disp: str = "SHR"
    sysout: bool = False
    instream: list[str] = field(default_factory=list)


@dataclass
class Step:
    name: str
    program: str
    dds: dict[str, Dd] = field(default_factory=dict)


@dataclass
class Job:
    jobid: str
    jobname: str
    owner: str
    jcl: str
    correlator: str
    status: str = "INPUT"
    retcode: str | None = None
    spool: dict[str, list[str]] = field(default_factory=dict)  # ddname -> lines
    steps: list[Step] = field(default_factory=list)

    def document(self, base: str, system: str) -> dict[str, Any]:
        url = f"{base}/zosmf/restjobs/jobs/{self.jobname}/{self.jobid}"
        phase = {"INPUT": (10, "Job is queued for execution"), "ACTIVE": (14, "Job is active")}
        number, name = phase.get(self.status, (20, "Job is on the hard copy queue"))
        return {
            "owner": self.owner,
            "phase": number,
            "subsystem": "JES2",
            "phase-name": name,
            "job-correlator": self.correlator,
            "type": "JOB",
            "url": url,
            "jobid": self.jobid,
            "class": "A",
            "files-url": f"{url}/files",
            "jobname": self.jobname,
            "status": self.status,
            "retcode": self.retcode,
            "exec-system": system,
            "exec-member": system,
        }


# --- JCL ------------------------------------------------------------------------------------------


def _statements(jcl: str) -> list[tuple[str, str, str, list[str]]]:
    """(name, operation, operands, instream lines) for each statement; continuations joined."""
    lines = jcl.replace("\r\n", "\n").split("\n")
    statements: list[tuple[str, str, str, list[str]]] = []
    index = 0
    while index < len(lines):
        line = lines[index].rstrip()[:72]
        index += 1
        if not line or line.startswith("//*"):
            continue
        if line == "//":
            break
        if not line.startswith("//"):
            raise JclError(f"IEFC605I UNIDENTIFIED OPERATION FIELD: {line[:20]}")
        match = re.match(r"^//(\S*)\s+(\S+)\s*(.*)$", line)
        if match is None:
            raise JclError(f"IEFC605I UNIDENTIFIED OPERATION FIELD: {line[:20]}")
        name, operation, operands = match.group(1), match.group(2), match.group(3).split(" ")[0]
        while operands.endswith(",") and index < len(lines) and lines[index].startswith("// "):
            operands += lines[index][2:72].strip().split(" ")[0]
            index += 1
        instream: list[str] = []
        if operation == "DD" and operands in ("*", "DATA"):
            while index < len(lines) and not lines[index].startswith(("/*", "//")):
                instream.append(lines[index].rstrip())
                index += 1
            if index < len(lines) and lines[index].startswith("/*"):
                index += 1
        statements.append((name, operation, operands, instream))
    return statements


def _keywords(operands: str) -> dict[str, str]:
    """`PGM=X,DISP=(NEW,CATLG)` -> {PGM: X, DISP: (NEW,CATLG)} (commas inside parentheses kept)."""
    result: dict[str, str] = {}
    depth = 0
    current = ""
    parts = []
    for char in operands:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    for part in parts:
        key, sep, value = part.partition("=")
        result[key.upper()] = value if sep else ""
    return result


def parse_jcl(jcl: str) -> tuple[str, list[Step]]:
    """The job name and steps; raises JclError as JES's converter would."""
    statements = _statements(jcl)
    if not statements or statements[0][1] != "JOB":
        raise JclError("IEFC605I UNIDENTIFIED OPERATION FIELD: the first statement is not JOB")
    jobname = statements[0][0].upper()
    if not re.fullmatch(NAME, jobname):
        raise JclError(f"IEFC662I INVALID LABEL: {jobname or '(none)'}")
    steps: list[Step] = []
    for name, operation, operands, instream in statements[1:]:
        if operation == "EXEC":
            keywords = _keywords(operands)
            program = keywords.get("PGM", "").upper()
            if not program:
                raise JclError(f"IEFC630I UNIDENTIFIED KEYWORD ON THE EXEC STATEMENT {name}")
            steps.append(Step(name.upper() or f"STEP{len(steps) + 1}", program))
        elif operation == "DD":
            if not steps:
                raise JclError(f"IEFC605I UNIDENTIFIED OPERATION FIELD: DD {name} before EXEC")
            keywords = _keywords(operands)
            dd = Dd(name.upper(), instream=instream)
            if "DSN" in keywords or "DSNAME" in keywords:
                dd.dsn = (keywords.get("DSN") or keywords.get("DSNAME", "")).upper()
                if not DSN_RE.fullmatch(dd.dsn) or len(dd.dsn) > 44:
                    raise JclError(f"IEFC622I UNBALANCED PARENTHESIS OR INVALID DSNAME {dd.dsn}")
            if "PATH" in keywords:
                dd.path = keywords["PATH"].strip("'")
            disp = keywords.get("DISP", "SHR").strip("()").split(",")[0].upper()
            dd.disp = disp or "NEW"
            dd.sysout = "SYSOUT" in keywords
            steps[-1].dds[dd.name] = dd
        else:
            raise JclError(f"IEFC605I UNIDENTIFIED OPERATION FIELD {operation}")
    if not steps:
        raise JclError("IEFC607I JOB HAS NO STEPS")
    return jobname, steps


# --- IFASMFDL -------------------------------------------------------------------------------------

_TYPE = re.compile(r"^(\d+)(?:\((\d+)(?:([:,])(\d+))?\))?$")


class ControlError(Exception):
    pass


@dataclass
class DumpRequest:
    outdd: str
    types: list[tuple[int, int | None, int | None]]  # type, first subtype, last subtype
    dates: tuple[dt.date, dt.date] | None = None
    start: int = 0  # hhmm
    end: int = 2400


def parse_ifasmfdl(lines: list[str]) -> DumpRequest:
    text = " ".join(line.strip() for line in lines if line.strip() and not line.startswith("*"))
    statements = re.findall(r"([A-Z]+)\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)", text.upper())
    seen = {name for name, _ in statements}
    if "LSNAME" not in seen:
        raise ControlError("no LSNAME statement: the log stream to dump is not named")
    outdd = next((args for name, args in statements if name == "OUTDD"), None)
    if outdd is None:
        raise ControlError("no OUTDD statement")
    match = re.fullmatch(r"(\w+),TYPE\((.+)\)", outdd)
    if match is None:
        raise ControlError(f"OUTDD({outdd}) is not OUTDD(ddname,TYPE(...))")
    types = []
    for item in re.split(r",(?![^()]*\))", match.group(2)):
        parsed = _TYPE.match(item)
        if parsed is None:
            raise ControlError(f"TYPE value {item} cannot be read")
        first = int(parsed.group(2)) if parsed.group(2) else None
        last = int(parsed.group(4)) if parsed.group(4) else first
        if parsed.group(3) == ",":  # a list of two subtypes
            types.append((int(parsed.group(1)), first, first))
            types.append((int(parsed.group(1)), last, last))
        else:
            types.append((int(parsed.group(1)), first, last))
    request = DumpRequest(match.group(1), types)
    for name, args in statements:
        try:
            if name == "DATE":
                first_text, last_text = args.split(",")
                request.dates = (
                    dt.datetime.strptime(first_text, "%Y%j").date(),
                    dt.datetime.strptime(last_text, "%Y%j").date(),
                )
            elif name == "START":
                request.start = int(args)
            elif name == "END":
                request.end = int(args)
        except ValueError:
            raise ControlError(f"{name}({args}) cannot be read") from None
    return request


def record_selected(request: DumpRequest, record: bytes) -> bool:
    rtype = record[5]
    subtype = struct.unpack_from(">H", record, 22)[0]
    if not any(
        t == rtype and (first is None or (first <= subtype <= (last or first)))
        for t, first, last in request.types
    ):
        return False
    time, date_packed = struct.unpack_from(">II", record, 6)
    digits = f"{date_packed:08X}"
    if request.dates is not None and digits[:-1].isdigit():
        date = dt.date(1900 + 100 * int(digits[1]) + int(digits[2:4]), 1, 1) + dt.timedelta(
            days=int(digits[4:7]) - 1
        )
        if not request.dates[0] <= date <= request.dates[1]:
            return False
    hhmm = (time // 360000) * 100 + (time // 6000) % 60
    return request.start <= hhmm < request.end or (request.end == 2400 and hhmm >= request.start)


def dump_records(source: Path, request: DumpRequest) -> tuple[bytes, int, int]:
    """The selected records of an SMF recording (RDW-framed), and how many were read/written."""
    data = b""
    for path in (source.with_name(source.name + ".1"), source):  # the older part first
        with contextlib.suppress(FileNotFoundError):
            data += path.read_bytes()
    out = []
    read = 0
    pos = 0
    while pos + 4 <= len(data):
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 28 or pos + length > len(data):
            break
        record = data[pos : pos + length]
        pos += length
        read += 1
        if record_selected(request, record):
            out.append(record)
    return b"".join(out), read, len(out)


# --- JES ------------------------------------------------------------------------------------------


class Jes:
    """The jobs of one LPAR."""

    def __init__(self, lpar: Lpar) -> None:
        self.lpar = lpar
        self.jobs: dict[str, Job] = {}
        self._numbers = itertools.count(secrets.randbelow(9000) + 100)
        self.tasks: set[asyncio.Task[None]] = set()
        # A fault for the collector's tests: the next data set download stops after this many
        # bytes and the connection is closed (a download cut in the middle).
        self.cut_next_download: int | None = None

    @property
    def datasets(self) -> Path:
        return self.lpar.directory / "datasets"

    def dataset_path(self, dsn: str) -> Path:
        if not DSN_RE.fullmatch(dsn) or len(dsn) > 44:
            raise ValueError(f"{dsn} is not a data set name")
        return self.datasets / dsn

    def submit(self, jcl: str, owner: str) -> Job:
        match = re.match(r"^//(\S+)\s+JOB\b", jcl.lstrip("\n"))
        jobname = match.group(1).upper()[:8] if match else "UNKNOWN"
        jobid = f"JOB{next(self._numbers) % 100000:05d}"
        correlator = f"J{jobid[3:]:0>7}{self.lpar.name:.<8}{secrets.token_hex(8).upper()}"
        job = Job(jobid, jobname, owner.upper(), jcl, correlator)
        self.jobs[jobid] = job
        while len(self.jobs) > KEEP_JOBS:
            self.jobs.pop(next(iter(self.jobs)))
        task = asyncio.ensure_future(self._run(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)

    async def _run(self, job: Job) -> None:
        await asyncio.sleep(RUN_DELAY_SECONDS / 2)
        job.status = "ACTIVE"
        await asyncio.sleep(RUN_DELAY_SECONDS / 2)
        stamp = dt.datetime.now().astimezone()
        log = [f"{stamp:%H.%M.%S} {job.jobid}  $HASP373 {job.jobname} STARTED - INIT 1"]
        sysmsg: list[str] = []
        try:
            job.retcode = await self._execute(job, log, sysmsg)
        except JclError as error:
            sysmsg.extend(error.messages)
            sysmsg.append(f"IEF453I {job.jobname} - JOB FAILED - JCL ERROR")
            job.retcode = "JCL ERROR"
        except Exception as error:  # a simulator bug must still end the job
            sysmsg.append(f"lparsim: the job failed in the simulator: {error!r}")
            job.retcode = "SYS FAIL"
        log.append(f"{dt.datetime.now():%H.%M.%S} {job.jobid}  $HASP395 {job.jobname} ENDED")
        job.spool = {
            "JESMSGLG": log,
            "JESJCL": job.jcl.splitlines(),
            "JESYSMSG": sysmsg,
            **job.spool,
        }
        job.status = "OUTPUT"

    async def _execute(self, job: Job, log: list[str], sysmsg: list[str]) -> str:
        _, steps = parse_jcl(job.jcl)
        job.steps = steps
        for step in steps:
            for dd in step.dds.values():
                if dd.dsn and dd.disp == "NEW" and self.dataset_path(dd.dsn).exists():
                    raise JclError(
                        f"IGD17101I DATA SET {dd.dsn} NOT DEFINED BECAUSE DUPLICATE NAME EXISTS "
                        "IN CATALOG",
                        f"IEF344I {job.jobname} {step.name} {dd.name} - ALLOCATION FAILED DUE TO "
                        "DATA FACILITY SYSTEM ERROR",
                    )
                if (
                    dd.dsn
                    and dd.disp in ("SHR", "OLD", "MOD")
                    and not (self.dataset_path(dd.dsn).exists())
                ):
                    raise JclError(
                        f"IEF212I {job.jobname} {step.name} {dd.name} - DATA SET NOT FOUND"
                    )
        highest = 0
        for step in steps:
            if step.program not in PROGRAMS:
                sysmsg.append(f"CSV003I REQUESTED MODULE {step.program} NOT FOUND")
                sysmsg.append("IEA995I SYMPTOM DUMP OUTPUT SYSTEM COMPLETION CODE=806")
                log.append(f"IEF450I {job.jobname} {step.name} - ABEND=S806 U0000 REASON=00000004")
                return "ABEND S806"
            code = 0
            if step.program == "IFASMFDL":
                code = await asyncio.to_thread(self._ifasmfdl, job, step)
            else:
                for dd in step.dds.values():
                    if dd.dsn and dd.disp == "NEW":
                        self._write_dataset(dd.dsn, b"")
            sysmsg.append(
                f"IEF142I {job.jobname} {step.name} - STEP WAS EXECUTED - COND CODE {code:04d}"
            )
            highest = max(highest, code)
        return f"CC {highest:04d}"

    def _ifasmfdl(self, job: Job, step: Step) -> int:
        report: list[str] = []
        job.spool[f"SYSPRINT:{step.name}"] = report
        sysin = step.dds.get("SYSIN")
        try:
            if sysin is None:
                raise ControlError("no SYSIN DD: there are no control statements")
            request = parse_ifasmfdl(sysin.instream)
            target = step.dds.get(request.outdd)
            if target is None or not (target.dsn or target.path):
                raise ControlError(f"OUTDD {request.outdd} names no DD with DSN= or PATH=")
        except ControlError as error:
            report.append(f"IFASMFDL (lparsim): {error}; nothing was dumped")
            return 8
        source = self.lpar.fs.host_path(zert.SMF_RECORDING)
        data, read, written = dump_records(source, request)
        if target.dsn:
            self._write_dataset(target.dsn, data, append=target.disp == "MOD")
        else:
            assert target.path is not None
            self.lpar.fs.write_bytes(normalise(target.path), data, make_parents=True)
        report += [
            "SUMMARY ACTIVITY REPORT",
            f"  RECORDS READ {read:>12}",
            f"  RECORDS WRITTEN TO {request.outdd:<8} {written:>12}",
            f"  OUTPUT {target.dsn or target.path}",
        ]
        return 0

    def _write_dataset(self, dsn: str, data: bytes, *, append: bool = False) -> None:
        path = self.dataset_path(dsn)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab" if append else "wb") as file:
            file.write(data)


# --- the REST front -------------------------------------------------------------------------------


def _error(status: int, category: int, rc: int, reason: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"category": category, "rc": rc, "reason": reason, "message": message}),
        content_type="application/json",
    )


class JobsApi:
    """The jobs and data set routes of one LPAR's z/OSMF front."""

    def __init__(self, front: ZosmfFront) -> None:
        self.front = front
        self.lpar = front.lpar

    def register(self, app: web.Application) -> None:
        app.router.add_put("/zosmf/restjobs/jobs", self.submit)
        app.router.add_get("/zosmf/restjobs/jobs/{jobname}/{jobid}", self.status)
        app.router.add_delete("/zosmf/restjobs/jobs/{jobname}/{jobid}", self.purge)
        app.router.add_get("/zosmf/restjobs/jobs/{jobname}/{jobid}/files", self.files)
        app.router.add_get(
            "/zosmf/restjobs/jobs/{jobname}/{jobid}/files/{file}/records", self.records
        )
        app.router.add_get("/zosmf/restfiles/ds/{dsn}", self.read_dataset)
        app.router.add_delete("/zosmf/restfiles/ds/{dsn}", self.delete_dataset)

    def _base(self, request: web.Request) -> str:
        return f"https://{request.host}"

    def _job(self, request: web.Request) -> Job | web.Response:
        jobname = request.match_info["jobname"].upper()
        jobid = request.match_info["jobid"].upper()
        job = self.lpar.jes.jobs.get(jobid)
        if job is None or job.jobname != jobname:
            # The z/OSMF jobs interface's "no job" error (category 6, rc 4, reason 10).
            return _error(400, 6, 4, 10, f"No job found for reference: '{jobname}({jobid})'")
        return job

    async def submit(self, request: web.Request) -> web.Response:
        if request.content_type != "text/plain":
            return _error(
                400, 6, 4, 1, "lparsim accepts the JCL in the request body (text/plain) only"
            )
        jcl = (await request.read()).decode("utf-8", errors="replace")
        if not jcl.lstrip("\n").startswith("//"):
            return _error(400, 6, 4, 7, "Submit input data does not start with a slash")
        job = self.lpar.jes.submit(jcl, request[USER_KEY])
        return web.json_response(job.document(self._base(request), self.lpar.name), status=201)

    async def status(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        return web.json_response(job.document(self._base(request), self.lpar.name))

    async def purge(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        self.lpar.jes.jobs.pop(job.jobid, None)
        return web.json_response(
            {
                "jobid": job.jobid,
                "jobname": job.jobname,
                "original-jobid": job.jobid,
                "owner": job.owner,
                "member": "JES2",
                "sysname": self.lpar.name,
                "job-correlator": job.correlator,
                "status": "0",
            }
        )

    def _spool(self, job: Job) -> list[tuple[int, str, str, list[str]]]:
        files = []
        for index, (key, lines) in enumerate(job.spool.items(), start=2):
            ddname, _, step = key.partition(":")
            files.append((index, ddname, step or "JES2", lines))
        return files

    async def files(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        base = f"{self._base(request)}/zosmf/restjobs/jobs/{job.jobname}/{job.jobid}/files"
        return web.json_response(
            [
                {
                    "recfm": "UA",
                    "records-url": f"{base}/{number}/records",
                    "subsystem": "JES2",
                    "job-correlator": job.correlator,
                    "byte-count": sum(len(line) + 1 for line in lines),
                    "lrecl": 133,
                    "jobid": job.jobid,
                    "ddname": ddname,
                    "id": number,
                    "record-count": len(lines),
                    "class": "H",
                    "jobname": job.jobname,
                    "stepname": step,
                    "procstep": None,
                }
                for number, ddname, step, lines in self._spool(job)
            ]
        )

    async def records(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        wanted = request.match_info["file"].upper()
        if wanted == "JCL":
            return web.Response(text=job.jcl, content_type="text/plain")
        for number, _, _, lines in self._spool(job):
            if str(number) == wanted:
                return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
        return _error(
            400, 6, 4, 12, f"No spool file with id {wanted} for {job.jobname}({job.jobid})"
        )

    async def read_dataset(self, request: web.Request) -> web.StreamResponse:
        dsn = request.match_info["dsn"].upper().strip("'")
        try:
            path = self.lpar.jes.dataset_path(dsn)
            data = path.read_bytes()
        except (ValueError, FileNotFoundError):
            return web.Response(
                status=404,
                text=json.dumps(
                    {
                        "category": 1,
                        "rc": 4,
                        "reason": 8,
                        "message": "Data set not found",
                        "details": [f"ISRZ002 Data set not cataloged - '{dsn}' was not found."],
                    }
                ),
                content_type="application/json",
            )
        mode = request.headers.get("X-IBM-Data-Type", "text").lower()
        records = _records(data)
        if mode.startswith("record"):
            # Each record's data after a 4-byte length [doc]; the RDW itself is not data
            # [inferred: as record-mode reads of variable-length records present them].
            body = b"".join(struct.pack(">I", len(r) - 4) + r[4:] for r in records)
            return await self._binary(request, body)
        if mode.startswith("binary"):
            return await self._binary(request, data)
        # text: each record converted from EBCDIC, one line each (what a text download of
        # binary records looks like; nobody should ask for it).
        text = "\n".join(r[4:].decode("cp037", errors="replace") for r in records)
        return web.Response(text=text, content_type="text/plain")

    async def _binary(self, request: web.Request, body: bytes) -> web.StreamResponse:
        cut = self.lpar.jes.cut_next_download
        if cut is None:
            return web.Response(body=body, content_type="application/octet-stream")
        self.lpar.jes.cut_next_download = None
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:cut])
        if request.transport is not None:
            request.transport.close()  # the promised length never arrives
        return response

    async def delete_dataset(self, request: web.Request) -> web.Response:
        dsn = request.match_info["dsn"].upper().strip("'")
        try:
            self.lpar.jes.dataset_path(dsn).unlink()
        except (ValueError, FileNotFoundError):
            return _error(404, 1, 4, 8, f"Data set {dsn} not found")
        return web.Response(status=204)


def _records(data: bytes) -> list[bytes]:
    records = []
    pos = 0
    while pos + 4 <= len(data):
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 4:
            break
        records.append(data[pos : pos + length])
        pos += length
    return records
