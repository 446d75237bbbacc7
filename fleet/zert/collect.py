"""One zERT collection from one LPAR: read the records it has not read yet, store them once.

Two sources (`LparConnection.zert_source`):

- `job`: the IFASMFDL dump job (fleet/zert_jcl.py, the site's template) is submitted through
  z/OSMF, waited for (bounded by settings.ZERT_JOB_TIMEOUT_SECONDS), its spool kept, its
  return code checked, and the dump data set downloaded in binary (RDWs included);
- `sftp`: the dump file is read over SSH (SFTP).

The dump is kept as received, in settings.ZERT_DUMP_DIR under its SHA-256, and named with
that hash in the run's outputs (like every command output of a verification). It is parsed
only when whole: a download that stops in the middle fails the run (transient: the next run
reads it again) and stores nothing. The records are streamed through
`attls.reports.smf119.ZertReader` and stored in batches (fleet/zert/ingest.py), idempotently;
the run's cursor is the SMF time of the newest record read, where the next run starts.

Errors are those of the connectors (transient / permanent, fleet/connectors/base.py) and
`JobFailed` (the job ended with a JCL error, an ABEND or a return code above 4: permanent,
until the template or the LPAR is fixed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from attls.reports import smf119
from fleet import zert_jcl as jcl
from fleet.connectors.base import ConnectorError, FileMissing, PermanentError, Timeouts
from fleet.connectors.factory import ssh_client, zosmf_client
from fleet.connectors.zosmf import JobStatus, SpoolFile, ZosmfClient
from fleet.models import (
    NUL_SHOWN_AS,
    LparConnection,
    RunStatus,
    ZertRun,
    ZertRunDay,
    ZertSource,
)
from fleet.zert import ingest

BATCH = 5000
WARNINGS_KEPT = 200
ACCEPTED_RETURN_CODES = ("CC 0000", "CC 0004")


class JobFailed(PermanentError):
    """The dump job ended without producing a dump to read."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_entry(text: str) -> dict[str, Any]:
    """A text output as verification keeps one (fleet.selectors.output_text reads it): NUL,
    which PostgreSQL's JSON cannot hold, shown as U+2400 and counted; the SHA-256 is always
    that of the text as received."""
    return {
        "text": text.replace("\x00", NUL_SHOWN_AS),
        "nul_shown": text.count("\x00"),
        "sha256": sha256(text.encode()),
    }


def dump_dir() -> Path:
    return Path(settings.ZERT_DUMP_DIR)


def keep_dump(data: bytes) -> tuple[str, str]:
    """Writes the dump under its SHA-256 (once; a second identical dump is the same file)."""
    digest = sha256(data)
    directory = dump_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest}.smf"
    if not path.exists():
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)
    return digest, path.name


def dump_bytes(entry: dict[str, Any]) -> bytes:
    """The dump a run kept, checked against the SHA-256 it recorded."""
    data = (dump_dir() / str(entry["file"])).read_bytes()
    if sha256(data) != entry["sha256"]:
        raise ValueError(f"the kept dump {entry['file']} no longer has its recorded SHA-256")
    return data


# --- the run ----------------------------------------------------------------------------------


def claim(run_id: int) -> ZertRun | None:
    claimed = ZertRun.objects.filter(id=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    return ZertRun.objects.select_related("connection__lpar").get(id=run_id)


class _Steps:
    def __init__(self, run: ZertRun) -> None:
        self.run = run

    def log(self, name: str, *, ok: bool = True, detail: str = "", started: float) -> None:
        self.run.steps.append(
            {
                "name": name,
                "ok": ok,
                "detail": detail[:2000],
                "seconds": round(time.perf_counter() - started, 3),
                "at": timezone.now().isoformat(),
            }
        )
        ZertRun.objects.filter(pk=self.run.pk).update(steps=self.run.steps)


def previous_cursor(connection: LparConnection) -> dt.datetime | None:
    last = (
        ZertRun.objects.filter(
            connection=connection, status=RunStatus.SUCCEEDED, cursor__isnull=False
        )
        .order_by("-cursor")
        .values_list("cursor", flat=True)
        .first()
    )
    return last


def collect(run: ZertRun) -> ZertRun:
    """Runs a claimed run to its end; the run row says how it ended (it never raises for a
    connector error or a failed job)."""
    connection = run.connection
    steps = _Steps(run)
    since = previous_cursor(connection)
    run.since = since
    ZertRun.objects.filter(pk=run.pk).update(since=since, source=connection.zert_source)
    try:
        if connection.zert_source == ZertSource.SFTP:
            data = _read_sftp(run, connection, steps)
        else:
            data = _run_job(run, connection, steps, since)
        started = time.perf_counter()
        digest, name = keep_dump(data)
        run.outputs["dump"] = {"sha256": digest, "bytes": len(data), "file": name}
        ZertRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
        steps.log("keep dump", detail=f"{len(data)} bytes, SHA-256 {digest}", started=started)
        started = time.perf_counter()
        _ingest(run, data, since)
        steps.log(
            "store records",
            detail=f"{run.records_read} read, {run.records_stored} new, "
            f"{run.records_read - run.records_stored - run.records_skipped} already stored, "
            f"{run.records_skipped} skipped",
            started=started,
        )
    except ConnectorError as error:
        return _finish(run, RunStatus.FAILED, _message(error))
    except Exception as error:  # recorded on the run; the worker goes on
        return _finish(run, RunStatus.FAILED, f"internal error: {error!r}")
    LparConnection.objects.filter(pk=connection.pk).update(last_zert_at=timezone.now())
    return _finish(run, RunStatus.SUCCEEDED, "")


def _message(error: ConnectorError) -> str:
    kind = "transient, retried at the next interval" if error.transient else "permanent"
    return f"{error} ({kind})"


def _finish(run: ZertRun, status: str, error: str) -> ZertRun:
    ZertRun.objects.filter(pk=run.pk).update(
        status=status,
        error=error,
        finished_at=timezone.now(),
        steps=run.steps,
        outputs=run.outputs,
        cursor=run.cursor,
        records_read=run.records_read,
        records_stored=run.records_stored,
        records_skipped=run.records_skipped,
        warnings=run.warnings,
    )
    run.refresh_from_db()
    return run


def _timeouts() -> Timeouts:
    return Timeouts(
        connect=settings.ZERT_CONNECT_TIMEOUT_SECONDS,
        read=settings.ZERT_READ_TIMEOUT_SECONDS,
        command=settings.ZERT_READ_TIMEOUT_SECONDS,
    )


def _read_sftp(run: ZertRun, connection: LparConnection, steps: _Steps) -> bytes:
    started = time.perf_counter()
    path = connection.zert_dump_path
    with ssh_client(connection, timeouts=_timeouts()) as client:
        try:
            data = client.read_bytes(path, timeout=settings.ZERT_READ_TIMEOUT_SECONDS)
        except ConnectorError as error:
            steps.log("read dump over SFTP", ok=False, detail=str(error), started=started)
            raise
    run.outputs["source"] = {"sftp": path}
    steps.log("read dump over SFTP", detail=f"{path}: {len(data)} bytes", started=started)
    return data


def _spool_text(files: list[SpoolFile]) -> str:
    return "".join(
        f"--- {f.ddname} ({f.stepname}) ---\n{f.text}{'' if f.text.endswith(chr(10)) else chr(10)}"
        for f in files
    )


def _run_job(
    run: ZertRun, connection: LparConnection, steps: _Steps, since: dt.datetime | None
) -> bytes:
    dsn = connection.zert_dump_dsn
    now = dt.datetime.now()
    # The upper DATE bound is tomorrow: the LPAR's local date may be ahead of the portal's.
    text = jcl.render(
        connection.zert_jcl or jcl.DEFAULT_JCL,
        dsn=dsn,
        since=since,
        until=now + dt.timedelta(days=1),
    )
    run.outputs["jcl"] = text_entry(text)
    with zosmf_client(connection, timeouts=_timeouts()) as client:
        started = time.perf_counter()
        try:
            client.delete_dataset(dsn)
            steps.log("delete old dump", detail=dsn, started=started)
        except FileMissing:
            steps.log("delete old dump", detail=f"{dsn} was not there", started=started)
        started = time.perf_counter()
        job = client.submit_job(text)
        run.outputs["job"] = {"jobname": job.jobname, "jobid": job.jobid}
        steps.log("submit dump job", detail=job.label, started=started)
        started = time.perf_counter()
        job = _wait(client, job)
        spool = client.job_spool(job.jobname, job.jobid)
        spool_text = _spool_text(spool)
        run.outputs["spool"] = text_entry(spool_text)
        run.outputs["job"]["retcode"] = job.retcode
        ok = job.retcode in ACCEPTED_RETURN_CODES
        steps.log("dump job ended", ok=ok, detail=f"{job.label} {job.retcode}", started=started)
        ZertRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
        if not ok:
            messages = [
                line.strip()
                for f in spool
                if f.ddname in ("JESYSMSG", "SYSPRINT")
                for line in f.text.splitlines()
                if line.strip() and not line.startswith("IEF142I")
            ]
            raise JobFailed(
                f"the dump job {job.label} ended with {job.retcode}: "
                + ("; ".join(messages[:6]) or "see its spool")
            )
        started = time.perf_counter()
        try:
            data = client.read_dataset_binary(dsn)
        except ConnectorError as error:
            steps.log("download dump (binary)", ok=False, detail=str(error), started=started)
            raise
        steps.log("download dump (binary)", detail=f"{dsn}: {len(data)} bytes", started=started)
        started = time.perf_counter()
        try:
            client.purge_job(job.jobname, job.jobid)
            client.delete_dataset(dsn)
            steps.log("purge job, delete dump data set", started=started)
        except ConnectorError as error:  # the dump is read; tidying up can wait for next time
            steps.log(
                "purge job, delete dump data set", ok=False, detail=str(error), started=started
            )
    return data


def _wait(client: ZosmfClient, job: JobStatus) -> JobStatus:
    deadline = time.monotonic() + settings.ZERT_JOB_TIMEOUT_SECONDS
    pause = 0.2
    while not job.ended:
        if time.monotonic() > deadline:
            raise JobFailed(
                f"the dump job {job.label} did not end within "
                f"{settings.ZERT_JOB_TIMEOUT_SECONDS} s (status {job.status}); it is left on "
                "the LPAR"
            )
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
        job = client.job_status(job.jobname, job.jobid)
    return job


def _ingest(run: ZertRun, data: bytes, since: dt.datetime | None) -> None:
    mapper = ingest.RecordMapper(run.connection.lpar_id, run_id=run.id)
    reader = smf119.ZertReader(io.BytesIO(data))
    # The minute of the cursor is read again (IFASMFDL selects by the minute); what was
    # stored then is recognised by its natural key.
    floor = since.replace(second=0, microsecond=0, tzinfo=None) if since else None
    newest: dt.datetime | None = since.replace(tzinfo=None) if since else None
    batch: list[ingest.Row] = []
    read = skipped = stored = summaries = before = 0
    landed: ingest.Landed = Counter()
    intervals = ingest.Intervals(mapper, run_id=run.id)
    try:
        for record in reader:
            header = record.header
            if header.date is None:
                if isinstance(record, smf119.ConnectionRecord):
                    read += 1
                    skipped += 1
                continue
            at = dt.datetime.combine(header.date, dt.time()) + dt.timedelta(
                milliseconds=header.time * 10
            )
            if floor is not None and at < floor:
                before += 1  # read by an earlier run (the SFTP source reads the whole file)
                continue
            if not isinstance(record, smf119.ConnectionRecord):
                summaries += 1
                intervals.add(record, at)
                continue
            read += 1
            newest = at if newest is None or at > newest else newest
            row = mapper.row(record)
            if row is None:
                skipped += 1
                continue
            batch.append(row)
            if len(batch) >= BATCH:
                stored += ingest.store_batch(batch, landed=landed)
                batch = []
        stored += ingest.store_batch(batch, landed=landed)
    finally:
        # What was stored is named even when a later batch failed.
        ZertRunDay.objects.bulk_create(
            [
                ZertRunDay(run_id=run.id, stack_id=stack_id, day=day, records=count)
                for (stack_id, day), count in sorted(landed.items())
            ]
        )
    new_intervals = intervals.store()
    run.outputs["reader"] = {
        "subtype_12": summaries,
        "intervals_stored": new_intervals,
        "other_records": reader.other_records,
        "before_cursor": before,
        "bytes_read": reader.bytes_read,
    }
    warnings = [str(w) for w in reader.warnings[:WARNINGS_KEPT]]
    for stack, count in mapper.unknown_stacks.items():
        warnings.append(f"{count} records of stack {stack!r}, which this LPAR does not have")
    run.records_read = read
    run.records_stored = stored
    run.records_skipped = skipped
    run.warnings = warnings
    run.cursor = newest.replace(tzinfo=dt.UTC) if newest else None


def run_request(*, connection: LparConnection) -> ZertRun:
    """A pending run, enqueued once the transaction commits."""
    run = ZertRun.objects.create(connection=connection, source=connection.zert_source)
    # By name, not by import: fleet.tasks runs this module (no import cycle).
    collection = current_app.signature("fleet.tasks.run_zert_collection")
    transaction.on_commit(lambda: collection.delay(run.id))
    return run
