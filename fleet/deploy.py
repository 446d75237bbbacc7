"""Pushing a policy to stacks, one at a time, and undoing it when it does not take.

Per stack (a DeploymentTarget):

1. read the live policy file; keep last-known-good once per target (a redelivered task
   never takes its own half-done upload for it): the text the portal last verified as
   loaded on the stack, or the stack's baseline — captured now, from the live file, at the
   first contact (fleet.selectors.last_known_good);
2. check the live file is last-known-good (or this target's own text, uploaded by an
   earlier attempt). Anything else is file drift: stop before uploading, unless an operator
   acknowledged overwriting exactly that text;
3. upload the new text — skipped when the live file already has it, so a redelivered task
   never uploads twice;
4. `F PAGENT,REFRESH` on the console, and check PAGENT's answer (EZZ8771I, not EZZ8434I);
5. `pasearch -t`, compared rule by rule with the published model;
6. a verification run, judged against this target's text.

Any failure after the upload began — a refresh error, a mismatch, an exception of any kind
in any step — restores last-known-good, refreshes again, checks that it is loaded, and ends
the target rolled back (or failed, when the restore fails too) with the reason; the step log
names the restored text (version or baseline, and its SHA-256). The remaining stacks are
skipped. Every target and the deployment end in a terminal state, whatever happened.
Transient errors (timeouts, 503) are retried with bounded backoff; permanent ones (a refused
password) fail at once. Every step is a DeploymentStep row.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.db.models import F
from django.utils import timezone

from attls.errors import AttlsError
from attls.policy import parse_policy
from attls.reports.compare import compare_report
from attls.reports.pasearch import parse_pasearch
from fleet.alerts.producers import alert_deployment_failed
from fleet.baselines import stack_baseline_capture
from fleet.connectors.base import (
    Connector,
    ConnectorError,
    FileMissing,
    TransientError,
    command_line,
)
from fleet.models import (
    Deployment,
    DeploymentStep,
    DeploymentTarget,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.selectors import LastKnownGood, last_known_good
from policies.changes import change_record

log = logging.getLogger(__name__)
T = TypeVar("T")

# Transient errors: this many tries in all, waiting base * 2**n seconds between them.
RETRIES = 3
BACKOFF_SECONDS = 0.5

REFRESH_OK = "EZZ8771I"
REFRESH_ERRORS = ("EZZ8434I", "EZZ8779I")


def upload_refusal(target: DeploymentTarget) -> str | None:
    """Why the worker must not upload this target, re-checked just before it would.

    The request was checked too (fleet.services.deployment_request); this catches a stack's
    path or an LPAR's allowed directories changed since, and versions marked untrusted.
    """
    if target.version.text_problem and target.baseline_id is None:
        return f"{target.version} is untrusted and is never deployed: {target.version.text_problem}"
    return target.stack.lpar.connection.policy_file_refusal(target.stack)


class StepFailed(Exception):
    """A step that cannot succeed; the message is the reason shown to the operator."""


class FileDrift(Exception):
    """The live file is not last-known-good: stopped before uploading anything."""


TERMINAL_TARGET = (
    TargetStatus.SUCCEEDED,
    TargetStatus.FAILED,
    TargetStatus.ROLLED_BACK,
    TargetStatus.SKIPPED,
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def verify_summary(results: dict[str, object]) -> str:
    """A verification's figures as the step log states them: whole numbers and a percentage,
    and the refused attempts beside coverage (a refused client never becomes a connection,
    so coverage alone may read well while clients are turned away)."""
    connections = results.get("connections") or 0
    secured = results.get("secured") or 0
    coverage = results.get("coverage")
    share = f"coverage {coverage:.0%}" if isinstance(coverage, int | float) else "no coverage"
    return (
        f"{connections} connection(s), {secured} secured by AT-TLS ({share}),"
        f" {results.get('refused') or 0} refused attempt(s)"
    )


def short(digest: str) -> str:
    return digest[:12]


class Runner:
    """Runs the steps of one deployment with one connector per LPAR."""

    def __init__(
        self,
        deployment: Deployment,
        connector_for: Callable[[DeploymentTarget], Connector],
        verify: Callable[[DeploymentTarget, Connector], VerificationRun],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.deployment = deployment
        self.connector_for = connector_for
        self.verify = verify
        self.sleep = sleep
        # The step under way, named in the reason when something unexpected escapes it.
        self.current = ""

    # -- logging and retries ---------------------------------------------------------------

    def step(
        self, target: DeploymentTarget | None, name: str, ok: bool, output: str, seconds: float
    ) -> None:
        DeploymentStep.objects.create(
            deployment=self.deployment,
            target=target,
            name=name,
            ok=ok,
            output=output[:20000],
            seconds=round(seconds, 3),
        )
        Deployment.objects.filter(pk=self.deployment.pk).update(heartbeat_at=timezone.now())

    def attempt(self, target: DeploymentTarget, name: str, action: Callable[[], T]) -> T:
        """Runs `action`, retrying transient errors with backoff; logs each failure."""
        self.current = name
        for attempt in range(1, RETRIES + 1):
            started = time.perf_counter()
            try:
                return action()
            except TransientError as error:
                seconds = time.perf_counter() - started
                if attempt == RETRIES:
                    self.step(
                        target, name, False, f"{error} (gave up after {attempt} tries)", seconds
                    )
                    raise StepFailed(
                        f"{name}: {error}; still failing after {RETRIES} tries"
                    ) from error
                wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
                self.step(target, name, False, f"{error}; retrying in {wait:.1f} s", seconds)
                self.sleep(wait)
            except ConnectorError as error:
                self.step(target, name, False, str(error), time.perf_counter() - started)
                raise StepFailed(f"{name}: {error}") from error
        raise AssertionError("unreachable")

    # -- the deployment --------------------------------------------------------------------

    def run(self) -> None:
        """Every target and the deployment end in a terminal state, whatever escapes."""
        failed = False
        try:
            for target in self.deployment.targets.select_related(
                "stack__lpar__connection", "version", "deployment"
            ).order_by("position"):
                if target.status in (TargetStatus.SUCCEEDED, TargetStatus.SKIPPED):
                    continue
                if failed:
                    DeploymentTarget.objects.filter(pk=target.pk).update(
                        status=TargetStatus.SKIPPED
                    )
                    continue
                if target.status in (TargetStatus.FAILED, TargetStatus.ROLLED_BACK):
                    failed = True
                    continue
                failed = not self.run_target(target)
        except Exception as error:  # outside any one target's steps (the database, say)
            log.exception("deployment %s: unexpected error between targets", self.deployment.uuid)
            abandon(self.deployment, f"internal error: {error!r}")
            return
        self.finish(failed)

    def give_up(self, reason: str) -> None:
        """Ends a deployment its workers kept stopping in the middle of (claimed too often):
        the target that was running is restored to its last-known-good, the waiting ones are
        skipped, and the deployment ends failed with `reason`. Never pushes again."""
        self.step(None, "given up", False, reason, 0)
        for target in self.deployment.targets.select_related(
            "stack__lpar__connection", "version", "deployment"
        ).order_by("position"):
            if target.status == TargetStatus.WAITING:
                DeploymentTarget.objects.filter(pk=target.pk).update(status=TargetStatus.SKIPPED)
            elif target.status == TargetStatus.RUNNING:
                connector: Connector | None = None
                try:
                    connector = self.connector_for(target)
                    self.restore(target, connector, reason)
                finally:
                    if connector is not None:
                        connector.close()
        self.finish(True)

    def finish(self, failed: bool) -> None:
        targets = list(self.deployment.targets.select_related("stack__lpar", "version"))
        if not failed:
            status, error = RunStatus.SUCCEEDED, ""
        else:
            bad = next(
                (t for t in targets if t.status in (TargetStatus.FAILED, TargetStatus.ROLLED_BACK)),
                None,
            )
            rolled = bad is not None and bad.status == TargetStatus.ROLLED_BACK
            status = RunStatus.ROLLED_BACK if rolled else RunStatus.FAILED
            error = f"{bad.stack.label}: {bad.error}" if bad is not None else "failed"
        Deployment.objects.filter(pk=self.deployment.pk).update(
            status=status, error=error, finished_at=timezone.now()
        )
        # The record names the deployment by its final state, not the one it was loaded in.
        self.deployment.status, self.deployment.error = status, error
        _record_finish(self.deployment, status, error, targets)
        if failed:
            alert_deployment_failed(self.deployment, targets)

    def run_target(self, target: DeploymentTarget) -> bool:
        """Pushes one target; False when it failed (it is then in a terminal state)."""
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=TargetStatus.RUNNING, started_at=target.started_at or timezone.now()
        )
        connector: Connector | None = None
        try:
            connector = self.connector_for(target)
            self.push(target, connector)
        except FileDrift as drift:
            self.end_target(target, TargetStatus.FAILED, str(drift))
            return False
        except StepFailed as failure:
            self.restore(target, connector, str(failure))
            return False
        except Exception as error:  # any step, any cause: the stack must not stay half-done
            log.exception("deployment %s: %s failed unexpectedly", self.deployment.uuid, target)
            where = self.current or "preparing the connection"
            self.step(target, where, False, f"internal error: {error!r}", 0)
            self.restore(target, connector, f"internal error in step {where!r}: {error}")
            return False
        finally:
            if connector is not None:
                try:
                    connector.close()
                except Exception:  # closing must not turn a result into a crash
                    log.warning("deployment %s: closing the connector failed", exc_info=True)
        return True

    def end_target(self, target: DeploymentTarget, status: str, error: str) -> None:
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=status, error=error, finished_at=timezone.now()
        )

    def push(self, target: DeploymentTarget, connector: Connector) -> None:
        path = target.stack.policy_file
        refusal = upload_refusal(target)
        if refusal is not None:
            self.step(target, "check target", False, refusal, 0)
            raise StepFailed(refusal)
        live, existed = self.read_live(target, connector, path)
        self.current = "keep last-known-good"
        self.keep_last_known_good(target, path, live, existed)
        self.current = "check live file"
        self.check_live(target, path, live)
        if sha256(live) == target.sha256:
            self.step(
                target,
                "upload",
                True,
                f"{path} already holds this text (sha256 {short(target.sha256)});"
                " not uploaded again",
                0,
            )
        else:
            # From here on the file may be ours: any failure restores last-known-good.
            DeploymentTarget.objects.filter(pk=target.pk).update(uploaded=True)
            started = time.perf_counter()
            self.attempt(target, "upload", lambda: connector.put_file(path, target.text))
            self.step(
                target,
                "upload",
                True,
                f"{path}: {len(target.text)} bytes, sha256 {target.sha256}",
                time.perf_counter() - started,
            )
        self.refresh(target, connector)
        self.check_loaded(
            target,
            connector,
            target.text,
            "compare loaded policy",
            f"as the baseline it restores, sha256 {target.sha256}"
            if target.baseline_id is not None
            else f"as published (v{target.version.number}, sha256 {short(target.sha256)})",
        )
        self.current = "verify"
        started = time.perf_counter()
        run = self.verify(target, connector)
        results = run.results or {}
        not_probed = sorted(
            name
            for name, figures in (results.get("services") or {}).items()
            if figures.get("not_probed")
        )
        self.step(
            target,
            "verify",
            True,
            f"verification {run.uuid}: {verify_summary(results)}"
            + (f"; not probed: {', '.join(not_probed)}" if not_probed else ""),
            time.perf_counter() - started,
        )
        self.end_target(target, TargetStatus.SUCCEEDED, "")

    def read_live(
        self, target: DeploymentTarget, connector: Connector, path: str
    ) -> tuple[str, bool]:
        """The live policy file's text, and whether it exists."""

        def read() -> tuple[str, bool]:
            try:
                return connector.get_file(path), True
            except FileMissing:
                return "", False

        return self.attempt(target, "read live file", read)

    def keep_last_known_good(
        self, target: DeploymentTarget, path: str, live: str, existed: bool
    ) -> None:
        """Fixes the target's last-known-good once (a resumed run keeps the first one)."""
        if target.last_known_good_sha256:
            return
        good = last_known_good(target.stack)
        if good is None:
            # The first contact with this stack: the live file is the pre-portal state.
            baseline = stack_baseline_capture(
                stack=target.stack,
                path=path,
                text=live,
                existed=existed,
                captured_by=f"deployment {str(self.deployment.uuid)[:8]}",
            )
            good = LastKnownGood.of_baseline(baseline)
            self.step(
                target,
                "capture baseline",
                True,
                f"first contact with {target.stack.label}: {path} stored as its baseline,"
                f" {len(baseline.text)} bytes, sha256 {baseline.sha256}",
                0,
            )
        target.last_known_good = good.text
        target.last_known_good_sha256 = good.sha256
        target.last_known_good_source = good.label[:300]
        DeploymentTarget.objects.filter(pk=target.pk).update(
            last_known_good=good.text,
            last_known_good_sha256=good.sha256,
            last_known_good_source=target.last_known_good_source,
        )
        self.step(
            target,
            "keep last-known-good",
            True,
            f"{good.label}: {len(good.text)} bytes, sha256 {good.sha256}",
            0,
        )

    def check_live(self, target: DeploymentTarget, path: str, live: str) -> None:
        """File drift stops the target before anything is uploaded, unless acknowledged."""
        found = sha256(live)
        if found == target.last_known_good_sha256:
            self.step(
                target,
                "check live file",
                True,
                f"{path} is last-known-good, {target.last_known_good_source}"
                f" (sha256 {short(found)})",
                0,
            )
            return
        if found == target.sha256:
            # An earlier attempt of this deployment uploaded it (or the same text was put
            # there otherwise): the stack is not on last-known-good, so a failure restores.
            DeploymentTarget.objects.filter(pk=target.pk).update(uploaded=True)
            self.step(
                target,
                "check live file",
                True,
                f"{path} already holds this deployment's text (sha256 {short(found)}),"
                " not last-known-good: a failure from here restores last-known-good",
                0,
            )
            return
        target.refresh_from_db(
            fields=[
                "overwrite_acknowledged_sha256",
                "overwrite_acknowledged_by",
                "overwrite_comment",
            ]
        )
        if target.overwrite_acknowledged_sha256 == found:
            self.step(
                target,
                "check live file",
                True,
                f"file drift: {path} (sha256 {short(found)}) is not last-known-good,"
                f" {target.last_known_good_source} (sha256"
                f" {short(target.last_known_good_sha256)}); {target.overwrite_acknowledged_by}"
                f" acknowledged overwriting it: {target.overwrite_comment or '(no comment)'}",
                0,
            )
            return
        DeploymentTarget.objects.filter(pk=target.pk).update(
            file_drift_sha256=found, file_drift_text=live
        )
        reason = (
            f"file drift: {path} on {target.stack.label} (sha256 {short(found)}) is not the text"
            f" the portal last verified there, {target.last_known_good_source} (sha256"
            f" {short(target.last_known_good_sha256)}). Nothing was uploaded; an operator may"
            " acknowledge overwriting it and run the deployment again."
        )
        self.step(target, "check live file", False, reason, 0)
        raise FileDrift(reason)

    def refresh(self, target: DeploymentTarget, connector: Connector) -> None:
        command = f"F {target.stack.lpar.connection.pagent_procname},REFRESH"
        started = time.perf_counter()
        response = self.attempt(target, "refresh PAGENT", lambda: connector.console(command))
        text = "\n".join(response.lines)
        seconds = time.perf_counter() - started
        errors = [line for line in response.lines if any(code in line for code in REFRESH_ERRORS)]
        if errors:
            self.step(target, "refresh PAGENT", False, text, seconds)
            raise StepFailed(f"PAGENT refused the policy: {errors[0].strip()}")
        if not any(REFRESH_OK in line for line in response.lines):
            self.step(target, "refresh PAGENT", False, text, seconds)
            raise StepFailed(f"PAGENT did not confirm the refresh ({REFRESH_OK} missing)")
        self.step(target, "refresh PAGENT", True, text, seconds)

    def check_loaded(
        self, target: DeploymentTarget, connector: Connector, text: str, name: str, what: str
    ) -> None:
        """`pasearch -t` compared with `text`; `what` names that text in the step log."""
        stack = target.stack.name
        started = time.perf_counter()
        command = command_line("pasearch", "-t", "-p", stack)
        result = self.attempt(target, name, lambda: connector.run(command))
        seconds = time.perf_counter() - started
        try:
            # A report of several images is read for this stack's image only.
            report = parse_pasearch(result.stdout, image=stack)
            differences = compare_report(parse_policy(text), report, image=stack)
        except AttlsError as error:
            self.step(target, name, False, f"pasearch output not understood: {error}", seconds)
            raise StepFailed(f"{name}: the pasearch output could not be read ({error})") from error
        if differences:
            listing = "\n".join(str(d) for d in differences[:40])
            self.step(target, name, False, listing, seconds)
            raise StepFailed(
                f"the loaded policy differs from {what.removeprefix('as ')} in"
                f" {len(differences)} place(s), first: {differences[0]}"
            )
        self.step(target, name, True, f"{len(report.rules)} rule(s) loaded, {what}", seconds)

    def restore(self, target: DeploymentTarget, connector: Connector | None, reason: str) -> None:
        """Puts last-known-good back and checks it took; the target ends rolled back or failed.

        Never raises: whatever happens here, the target ends in a terminal state.
        """
        try:
            self._restore(target, connector, reason)
        except Exception as error:
            log.exception("deployment %s: the restore of %s failed", self.deployment.uuid, target)
            self.end_target(
                target,
                TargetStatus.FAILED,
                f"{reason}; restoring last-known-good failed too: internal error: {error};"
                f" {target.stack.policy_file} on {target.stack.lpar.name} may hold neither text:"
                " check it before anything else is deployed",
            )

    def _restore(self, target: DeploymentTarget, connector: Connector | None, reason: str) -> None:
        path = target.stack.policy_file
        target.refresh_from_db()
        if not target.uploaded:
            # Nothing of ours reached the LPAR; there is nothing to undo.
            self.end_target(target, TargetStatus.FAILED, reason)
            self.step(
                target,
                "no rollback needed",
                True,
                f"the new policy was never uploaded: {path} was not changed by this deployment",
                0,
            )
            return
        named = (
            f"last-known-good, {target.last_known_good_source}"
            f" (sha256 {target.last_known_good_sha256})"
        )
        if connector is None:
            raise StepFailed(f"no connection to {target.stack.lpar.name} to restore {named}")
        try:
            started = time.perf_counter()
            self.attempt(
                target,
                "restore last-known-good",
                lambda: connector.put_file(path, target.last_known_good),
            )
            self.step(
                target,
                "restore last-known-good",
                True,
                f"{path}: put back {named}, {len(target.last_known_good)} bytes",
                time.perf_counter() - started,
            )
            self.refresh(target, connector)
            if target.last_known_good.strip():
                self.check_loaded(
                    target,
                    connector,
                    target.last_known_good,
                    "compare restored policy",
                    f"as {named}",
                )
        except StepFailed as failure:
            self.end_target(
                target,
                TargetStatus.FAILED,
                # "Rollback" is a kind of deployment; this is the restore of one that failed.
                f"{reason}; restoring last-known-good failed too: {failure}; {path} on"
                f" {target.stack.lpar.name} may hold neither text: check it before anything"
                " else is deployed",
            )
            return
        self.end_target(target, TargetStatus.ROLLED_BACK, f"{reason}; restored {named}")


def _record_finish(
    deployment: Deployment, status: str, error: str, targets: list[DeploymentTarget]
) -> None:
    # The end of a deployment is a state change like its request and approval.
    change_record(
        actor=None,
        action="finish",
        obj=deployment,
        after={
            "status": str(status),
            "error": error,
            "targets": [
                {"stack": t.stack.label, "version": t.version.number, "status": t.status}
                for t in targets
            ],
        },
    )


def abandon(deployment: Deployment, reason: str) -> None:
    """Ends a deployment that cannot go on: a target left running fails with `reason`, the
    waiting ones are skipped, the deployment fails. The last resort when something escaped
    the steps' own handling; it does not talk to the LPAR."""
    now = timezone.now()
    DeploymentTarget.objects.filter(deployment=deployment, status=TargetStatus.RUNNING).update(
        status=TargetStatus.FAILED, error=reason, finished_at=now
    )
    DeploymentTarget.objects.filter(deployment=deployment, status=TargetStatus.WAITING).update(
        status=TargetStatus.SKIPPED
    )
    DeploymentStep.objects.create(deployment=deployment, name="abandoned", ok=False, output=reason)
    Deployment.objects.filter(pk=deployment.pk).update(
        status=RunStatus.FAILED, error=reason, finished_at=now
    )
    deployment.refresh_from_db()
    _record_finish(
        deployment,
        RunStatus.FAILED,
        reason,
        list(deployment.targets.select_related("stack__lpar", "version")),
    )


def claim(deployment_id: int, worker: str, *, stale_after: float) -> Deployment | None:
    """Takes an approved deployment, or one whose worker stopped beating; None otherwise.

    Both are compare-and-swap updates, so two workers never run the same deployment.
    """
    now = timezone.now()
    fresh = Deployment.objects.filter(id=deployment_id, status=RunStatus.APPROVED).update(
        status=RunStatus.RUNNING,
        claimed_by=worker,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if fresh:
        return Deployment.objects.get(id=deployment_id)
    stale = now - timedelta(seconds=stale_after)
    previous = (
        Deployment.objects.filter(id=deployment_id).values_list("claimed_by", flat=True).first()
    )
    taken = Deployment.objects.filter(
        id=deployment_id, status=RunStatus.RUNNING, heartbeat_at__lt=stale
    ).update(claimed_by=worker, heartbeat_at=now, attempts=F("attempts") + 1)
    if not taken:
        return None
    deployment = Deployment.objects.get(id=deployment_id)
    DeploymentStep.objects.create(
        deployment=deployment,
        name="resumed",
        ok=True,
        output=f"worker {previous or '?'} stopped mid-deployment (no heartbeat for"
        f" {stale_after:.0f} s); {worker} carries on from the last completed step",
    )
    return deployment
