"""Pushing a policy to stacks, one at a time, and undoing it when it does not take.

Per stack (a DeploymentTarget):

1. read the live policy file and keep it as last-known-good (once: a redelivered task
   never takes its own half-done upload for last-known-good);
2. upload the new text — skipped when the live file already has it, so a redelivered task
   never uploads twice;
3. `F PAGENT,REFRESH` on the console, and check PAGENT's answer (EZZ8771I, not EZZ8434I);
4. `pasearch -t`, compared rule by rule with the published model;
5. a verification run.

A refresh error or a mismatch restores last-known-good, refreshes again, checks that
the old policy is back, and marks the target rolled back with the reason; the remaining
stacks are skipped. Transient errors (timeouts, 503) are retried with bounded backoff;
permanent ones (a refused password) fail at once. Every step is a DeploymentStep row.
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
from fleet.connectors.base import Connector, ConnectorError, FileMissing, TransientError
from fleet.models import (
    Deployment,
    DeploymentStep,
    DeploymentTarget,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from policies.models import ChangeRecord

log = logging.getLogger(__name__)
T = TypeVar("T")

# Transient errors: this many tries in all, waiting base * 2**n seconds between them.
RETRIES = 3
BACKOFF_SECONDS = 0.5

REFRESH_OK = "EZZ8771I"
REFRESH_ERRORS = ("EZZ8434I", "EZZ8779I")


class StepFailed(Exception):
    """A step that cannot succeed; the message is the reason shown to the operator."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
        failed = False
        for target in self.deployment.targets.select_related("stack__lpar", "version").order_by(
            "position"
        ):
            if target.status in (TargetStatus.SUCCEEDED, TargetStatus.SKIPPED):
                continue
            if failed:
                DeploymentTarget.objects.filter(pk=target.pk).update(status=TargetStatus.SKIPPED)
                continue
            if target.status in (TargetStatus.FAILED, TargetStatus.ROLLED_BACK):
                failed = True
                continue
            failed = not self.run_target(target)
        self.finish(failed)

    def finish(self, failed: bool) -> None:
        targets = list(self.deployment.targets.all())
        if not failed:
            status, error = RunStatus.SUCCEEDED, ""
        else:
            bad = next(
                t for t in targets if t.status in (TargetStatus.FAILED, TargetStatus.ROLLED_BACK)
            )
            rolled = bad.status == TargetStatus.ROLLED_BACK
            status = RunStatus.ROLLED_BACK if rolled else RunStatus.FAILED
            error = f"{bad.stack.label}: {bad.error}"
        Deployment.objects.filter(pk=self.deployment.pk).update(
            status=status, error=error, finished_at=timezone.now()
        )
        # The record names the deployment by its final state, not the one it was loaded in.
        self.deployment.status, self.deployment.error = status, error
        # The end of a deployment is a state change like its request and approval.
        ChangeRecord.objects.create(
            actor=None,
            action="finish",
            object_type="Deployment",
            object_uuid=self.deployment.uuid,
            object_name=str(self.deployment)[:100],
            before=None,
            after={
                "status": str(status),
                "error": error,
                "targets": [
                    {"stack": t.stack.label, "version": t.version.number, "status": t.status}
                    for t in targets
                ],
            },
        )

    def run_target(self, target: DeploymentTarget) -> bool:
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=TargetStatus.RUNNING, started_at=target.started_at or timezone.now()
        )
        connector = self.connector_for(target)
        try:
            self.push(target, connector)
        except StepFailed as failure:
            self.restore(target, connector, str(failure))
            return False
        finally:
            connector.close()
        return True

    def push(self, target: DeploymentTarget, connector: Connector) -> None:
        path = target.stack.policy_file
        live = self.read_live(target, connector, path)
        if not target.last_known_good_sha256:
            target.last_known_good = live
            target.last_known_good_sha256 = sha256(live)
            DeploymentTarget.objects.filter(pk=target.pk).update(
                last_known_good=live, last_known_good_sha256=target.last_known_good_sha256
            )
            self.step(
                target,
                "keep last-known-good",
                True,
                f"{path}: {len(live)} bytes, sha256 {target.last_known_good_sha256}",
                0,
            )
        if sha256(live) == target.sha256:
            self.step(
                target,
                "upload",
                True,
                f"{path} already holds this text (sha256 {target.sha256[:12]}); not uploaded again",
                0,
            )
        else:
            started = time.perf_counter()
            self.attempt(target, "upload", lambda: connector.put_file(path, target.text))
            DeploymentTarget.objects.filter(pk=target.pk).update(uploaded=True)
            self.step(
                target,
                "upload",
                True,
                f"{path}: {len(target.text)} bytes, sha256 {target.sha256}",
                time.perf_counter() - started,
            )
        self.refresh(target, connector)
        self.check_loaded(target, connector, target.text, "compare loaded policy")
        started = time.perf_counter()
        run = self.verify(target, connector)
        results = run.results or {}
        self.step(
            target,
            "verify",
            True,
            f"verification {run.uuid}: {results.get('connections', 0)} connection(s),"
            f" coverage {results.get('coverage')}",
            time.perf_counter() - started,
        )
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=TargetStatus.SUCCEEDED, finished_at=timezone.now()
        )

    def read_live(self, target: DeploymentTarget, connector: Connector, path: str) -> str:
        def read() -> str:
            try:
                return connector.get_file(path)
            except FileMissing:
                return ""

        return self.attempt(target, "read live file", read)

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
        self, target: DeploymentTarget, connector: Connector, text: str, name: str
    ) -> None:
        stack = target.stack.name
        started = time.perf_counter()
        result = self.attempt(target, name, lambda: connector.run(f"pasearch -t -p {stack}"))
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
                f"the loaded policy differs from the published one in {len(differences)}"
                f" place(s), first: {differences[0]}"
            )
        self.step(target, name, True, f"{len(report.rules)} rule(s) loaded, as published", seconds)

    def restore(self, target: DeploymentTarget, connector: Connector, reason: str) -> None:
        """Puts last-known-good back and checks it took; the target ends rolled back or failed."""
        path = target.stack.policy_file
        target.refresh_from_db()
        if not target.uploaded:
            # Nothing of ours reached the LPAR; there is nothing to undo.
            DeploymentTarget.objects.filter(pk=target.pk).update(
                status=TargetStatus.FAILED, error=reason, finished_at=timezone.now()
            )
            self.step(target, "no rollback needed", True, "the new policy was never uploaded", 0)
            return
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
                f"{path}: sha256 {target.last_known_good_sha256}",
                time.perf_counter() - started,
            )
            self.refresh(target, connector)
            if target.last_known_good.strip():
                self.check_loaded(
                    target, connector, target.last_known_good, "compare restored policy"
                )
        except StepFailed as failure:
            DeploymentTarget.objects.filter(pk=target.pk).update(
                status=TargetStatus.FAILED,
                error=f"{reason}; the rollback failed too: {failure}",
                finished_at=timezone.now(),
            )
            return
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=TargetStatus.ROLLED_BACK, error=reason, finished_at=timezone.now()
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
