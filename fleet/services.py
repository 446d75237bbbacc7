"""Writes of the fleet: deployments (request, approve, reject, cancel, roll back, remove a rule)
and connections.

Four eyes on production: whoever approves a deployment must be neither its requester nor the
author of any version it deploys, through any of their accounts (accounts.identity.same_person:
a local account and directory identities of one person are one person); refused, nothing
changes (DeploymentForbidden, a 403). A
deployment that went stale since its request is approved only on a second confirmation.
Approval enqueues the task after the transaction commits, with the deployment's id only.
Every write leaves a change record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.identity import same_person
from accounts.roles import Capability, has_capability
from attls.policy import parse_policy, render_policy
from fleet import secrets, selectors
from fleet.impact.models import ImpactAcknowledgement
from fleet.impact.predict import breaks, prediction_store
from fleet.models import (
    Deployment,
    DeploymentKind,
    DeploymentTarget,
    DriftEvent,
    Incident,
    IncidentKind,
    LparConnection,
    RunStatus,
    StackBaseline,
    TargetStatus,
)
from fleet.selectors import remove_rule_plan
from fleet.tasks import run_deployment
from fleet.verify import deployed_target
from policies.changes import change_record
from policies.models import Lpar, PolicyVersion, Service, Stack
from policies.services import (
    policy_header,
    policy_version_publish,
    service_update,
    snapshot,
)

User = AbstractBaseUser | AnonymousUser


class DeploymentRefused(Exception):
    """A deployment that may not be requested or approved; the message says why."""

    http_status = 409  # a conflict with the deployment's state, as pages and the API answer


class DeploymentPending(DeploymentRefused):
    """A stack already has a pending request; `pending` is that deployment."""

    def __init__(self, message: str, pending: Deployment) -> None:
        super().__init__(message)
        self.pending = pending


class DeploymentForbidden(PermissionError):
    """An action this person may not take on this deployment (four eyes); nothing changed."""


class DeploymentImpactUnacknowledged(DeploymentRefused):
    """The deployment's prediction names peers that will break: approving needs a reason."""

    http_status = 400  # the request lacks the acknowledgement

    def __init__(self, peers: Sequence[dict[str, Any]], *, blank: bool = False) -> None:
        self.peers = list(peers)
        shown = "; ".join(
            f"{p['stack']} {p['service']} {p['remote_address']}" for p in self.peers[:5]
        )
        more = f" and {len(self.peers) - 5} more" if len(self.peers) > 5 else ""
        # Said apart: the form's `required` lets spaces through, and they say nothing.
        given = " (the acknowledgement given was blank)" if blank else ""
        super().__init__(
            f"the prediction says {len(self.peers)} peer(s) will break ({shown}{more}):"
            f" approve with an acknowledgement that says why{given}, or exclude their services"
        )


class DeploymentNeedsConfirmation(DeploymentRefused):
    """The deployment went stale since its request: approving needs a second confirmation."""

    def __init__(self, staleness: Sequence[selectors.Staleness], token: str) -> None:
        self.staleness = list(staleness)
        self.token = token
        super().__init__(
            "what this deployment would change is not what was requested: "
            + " ".join(s.message for s in staleness)
            + " Confirm to approve it anyway."
        )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _record(actor: User, action: str, obj: Any, after: dict[str, Any], note: str = "") -> None:
    change_record(actor=actor, action=action, obj=obj, after=after, note=note)


def _require_operator(actor: User) -> None:
    if not has_capability(actor, Capability.OPERATE):
        raise PermissionError("only an operator may deploy, approve or roll back")


def _deployment_summary(deployment: Deployment) -> dict[str, Any]:
    return {
        "kind": deployment.kind,
        "status": deployment.status,
        "targets": [
            {
                "stack": t.stack.label,
                "version": t.version.number,
                "sha256": t.sha256,
                "removed_rule": t.removed_rule,
                "baseline": bool(t.baseline_id),
            }
            for t in deployment.targets.select_related("stack__lpar", "version")
        ],
    }


@transaction.atomic
def deployment_request(
    *,
    actor: User,
    targets: Sequence[tuple[Stack, PolicyVersion]],
    note: str = "",
    kind: str = DeploymentKind.DEPLOY,
    rollback_of: Deployment | None = None,
    texts: dict[int, tuple[str, str]] | None = None,
    baselines: dict[int, StackBaseline] | None = None,
) -> Deployment:
    """A pending deployment of versions to stacks, in the given order.

    `texts` maps a stack id to (text, removed rule) when the text differs from the version's;
    `baselines` maps a stack id to the baseline whose text it restores instead.
    """
    _require_operator(actor)
    if not targets:
        raise DeploymentRefused("a deployment needs at least one stack")
    for stack, version in targets:
        if version.stack_id != stack.id:
            raise DeploymentRefused(
                f"v{version.number} is a version of {version.stack}, not {stack}"
            )
        if not hasattr(stack.lpar, "connection"):
            raise DeploymentRefused(f"{stack.lpar.name} has no LPAR connection configured")
        # The deployment fence: only a sound version, only into an allowed directory.
        if version.text_problem and stack.id not in (baselines or {}):
            raise DeploymentRefused(
                f"{version} cannot be deployed: it is untrusted. {version.text_problem}"
            )
        refusal = stack.lpar.connection.policy_file_refusal(stack)
        if refusal is not None:
            raise DeploymentRefused(refusal)
    _refuse_second_pending([stack for stack, _ in targets])
    deployment = Deployment.objects.create(
        kind=kind, requested_by=actor, note=note, rollback_of=rollback_of
    )
    predictions = {}
    for position, (stack, version) in enumerate(targets):
        text, removed = (texts or {}).get(stack.id, (version.text, ""))
        baseline = (baselines or {}).get(stack.id)
        if baseline is not None:
            text, removed = baseline.text, ""
        target = DeploymentTarget.objects.create(
            baseline=baseline,
            deployment=deployment,
            position=position,
            stack=stack,
            version=version,
            text=text,
            sha256=_sha(text),
            removed_rule=removed,
        )
        # Every request carries its prediction (fleet.impact), whoever or whatever asks.
        prediction = prediction_store(target)
        predictions[stack.label] = prediction.error or prediction.counts
    _record(
        actor,
        "request",
        deployment,
        {**_deployment_summary(deployment), "predictions": predictions},
        note,
    )
    return deployment


def breaking_peers(deployment: Deployment) -> list[dict[str, Any]]:
    """The peers the deployment's stored predictions say will break, with their stack."""
    found = []
    for target in deployment.targets.select_related("stack__lpar", "prediction"):
        prediction = getattr(target, "prediction", None)
        if prediction is None:
            continue
        found += [{"stack": target.stack.label, **p} for p in prediction.peers if breaks(p)]
    return found


def _refuse_second_pending(stacks: Sequence[Stack]) -> None:
    """One pending request per stack: a second would be reviewed against a stack the first
    may change, and approving both pushes whichever runs last. The stacks are locked so two
    requests at once cannot both pass."""
    ids = [stack.id for stack in stacks]
    list(Stack.objects.select_for_update().filter(id__in=ids).values_list("id"))
    waiting = (
        DeploymentTarget.objects.filter(stack_id__in=ids, deployment__status=RunStatus.PENDING)
        .select_related("deployment__requested_by", "stack__lpar", "version")
        .order_by("deployment__created_at")
        .first()
    )
    if waiting is not None:
        other = waiting.deployment
        raise DeploymentPending(
            f"{waiting.stack.label} already has a pending deployment request:"
            f" {str(other.uuid)[:8]} ({waiting.what}, requested by {other.requested_by}"
            f" {other.created_at:%Y-%m-%d %H:%M} UTC). Have it approved or rejected, or cancel"
            " it, before requesting another.",
            other,
        )


def _pending(deployment: Deployment) -> Deployment:
    """The deployment locked for this transaction; refused unless it still waits for review."""
    locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
    if locked.status != RunStatus.PENDING:
        raise DeploymentRefused(f"this deployment is {locked.get_status_display().lower()}")
    return locked


def _refuse_own_versions(deployment: Deployment, actor: User) -> None:
    for target in deployment.targets.select_related("version__stack__lpar", "version__author"):
        if target.baseline_id is not None or target.removed_rule:
            # The pre-portal file (nobody published it), or a version that went live with
            # four eyes minus one rule: no publisher of this text to keep out.
            continue
        if same_person(target.version.author, actor):
            raise DeploymentForbidden(
                f"you published {target.version} yourself; another operator must approve its"
                " deployment"
            )


def _approve(deployment: Deployment, actor: User, after: dict[str, Any] | None = None) -> None:
    deployment.status = RunStatus.APPROVED
    deployment.approved_by = actor  # type: ignore[assignment]
    deployment.approved_at = timezone.now()
    deployment.save(update_fields=["status", "approved_by", "approved_at"])
    _record(actor, "approve", deployment, {**_deployment_summary(deployment), **(after or {})})
    transaction.on_commit(lambda: run_deployment.delay(deployment.id))


@transaction.atomic
def deployment_approve(
    *, deployment: Deployment, actor: User, confirm_stale: str = "", acknowledge_impact: str = ""
) -> Deployment:
    """Four eyes: the approver neither requested the deployment nor published any version it
    deploys. Enqueues on commit.

    When the stored prediction names peers that will break, the approval is refused unless
    `acknowledge_impact` says why they may (stored with the deployment and in the change log).

    When a target's version is no longer its stack's latest, or another deployment went live
    on one of its stacks since the request, the approval is refused with what changed until
    `confirm_stale` is the token of exactly those warnings (selectors.staleness_token).
    """
    _require_operator(actor)
    locked = _pending(deployment)
    if same_person(locked.requested_by, actor):
        raise DeploymentForbidden(
            "you requested this deployment yourself; another operator must approve it"
        )
    _refuse_own_versions(locked, actor)
    staleness = selectors.deployment_staleness(locked)
    token = selectors.staleness_token(staleness)
    if staleness and confirm_stale != token:
        raise DeploymentNeedsConfirmation(staleness, token)
    after: dict[str, Any] = {"confirmed": [s.message for s in staleness]} if staleness else {}
    breaking = breaking_peers(locked)
    if breaking:
        reason = acknowledge_impact.strip()
        if not reason:
            raise DeploymentImpactUnacknowledged(breaking, blank=bool(acknowledge_impact))
        accepted = [
            {k: p.get(k) for k in ("stack", "service", "remote_address", "verdict", "reason")}
            for p in breaking
        ]
        ImpactAcknowledgement.objects.create(
            deployment=locked, by=actor, at=timezone.now(), reason=reason, peers=accepted
        )
        after["impact_acknowledged"] = {"reason": reason, "will_break": len(accepted)}
    _approve(locked, actor, after or None)
    return locked


@transaction.atomic
def deployment_reject(*, deployment: Deployment, actor: User, reason: str) -> Deployment:
    """A reviewer turns a pending deployment down, saying why; it never runs."""
    _require_operator(actor)
    locked = _pending(deployment)
    if same_person(locked.requested_by, actor):
        raise DeploymentForbidden(
            "you requested this deployment yourself; cancel it instead of rejecting it"
        )
    if not reason.strip():
        raise ValidationError({"reason": "Say why the deployment is rejected."})
    return _close(locked, actor, RunStatus.REJECTED, "reject", reason.strip())


@transaction.atomic
def deployment_cancel(*, deployment: Deployment, actor: User, reason: str = "") -> Deployment:
    """The requester, or any operator, withdraws a pending deployment; it never runs."""
    locked = _pending(deployment)
    if locked.requested_by_id != actor.pk and not has_capability(actor, Capability.OPERATE):
        raise DeploymentForbidden("only its requester or an operator may cancel a deployment")
    return _close(locked, actor, RunStatus.CANCELLED, "cancel", reason.strip())


def _close(
    deployment: Deployment, actor: User, status: str, action: str, reason: str
) -> Deployment:
    deployment.status = status
    deployment.closed_by = actor  # type: ignore[assignment]
    deployment.closed_at = timezone.now()
    deployment.close_reason = reason
    deployment.finished_at = deployment.closed_at
    deployment.save(
        update_fields=["status", "closed_by", "closed_at", "close_reason", "finished_at"]
    )
    DeploymentTarget.objects.filter(deployment=deployment).update(status=TargetStatus.NOT_RUN)
    _record(actor, action, deployment, _deployment_summary(deployment), reason)
    return deployment


def _current(stack: Stack) -> DeploymentTarget:
    target = deployed_target(stack)
    if target is None:
        raise DeploymentRefused(f"nothing has been deployed to {stack.label} yet")
    return target


@transaction.atomic
def rollback_to_previous(*, actor: User, stack: Stack, note: str = "") -> Deployment:
    """Requests the redeployment of the version deployed before the current one or, when no
    earlier version went live there, of the stack's baseline (selectors.rollback_plan).
    Another operator approves it."""
    _current(stack)
    plan = selectors.rollback_plan(stack=stack)
    if plan.refusal:
        raise DeploymentRefused(plan.refusal)
    current = plan.current
    assert current is not None  # no refusal: something is deployed
    deployment = deployment_request(
        actor=actor,
        # A baseline restore names the version it rolls back from: a target needs a version.
        targets=[(stack, plan.previous or current.version)],
        note=note or f"roll back {stack.label} from {current.what} to {plan.to_label}",
        kind=DeploymentKind.ROLLBACK,
        rollback_of=current.deployment,
        baselines={stack.id: plan.baseline} if plan.to_baseline and plan.baseline else None,
    )
    # Pending like any deployment: another operator approves it (four eyes hold on the way
    # back too; deployment_approve). Its publisher may not approve it either.
    return deployment


@transaction.atomic
def restore_versions(
    *, actor: User, targets: Sequence[tuple[Stack, PolicyVersion]], note: str
) -> Deployment:
    """Requests the redeployment of versions that went live before (a rollout campaign's
    abort), as a rollback. Pending like rollback_to_previous: another operator approves it,
    neither `actor` nor the publisher of a version it restores (deployment_approve). There is
    no emergency path around four eyes: the way back is a change like any other.
    """
    current = deployed_target(targets[0][0]) if targets else None
    return deployment_request(
        actor=actor,
        targets=targets,
        note=note,
        kind=DeploymentKind.ROLLBACK,
        rollback_of=current.deployment if current is not None else None,
    )


@transaction.atomic
def remove_rule(*, actor: User, stack: Stack, rule: str, note: str = "") -> Deployment:
    """Requests the current version without one service's rule: the account's quick
    rollback. Another operator approves it."""
    current = _current(stack)
    policy = parse_policy(current.text)
    if rule not in policy.rules:
        raise DeploymentRefused(f"the policy deployed to {stack.label} has no rule {rule}")
    del policy.rules[rule]
    text = render_policy(
        policy,
        header=policy_header(stack)
        + f"\nv{current.version.number} without rule {rule} (removed by {actor})",
    )
    deployment = deployment_request(
        actor=actor,
        targets=[(stack, current.version)],
        note=note or f"remove rule {rule} from {stack.label}",
        kind=DeploymentKind.REMOVE_RULE,
        rollback_of=current.deployment,
        texts={stack.id: (text, rule)},
    )
    # Pending: another operator approves it (deployment_approve). Its text is a version that
    # went live with four eyes, minus one rule, so that version's publisher may approve it.
    return deployment


@transaction.atomic
def lpar_connection_save(
    *,
    actor: User,
    lpar: Lpar,
    fields: dict[str, Any],
    password: str | None = None,
    ssh_key: str | None = None,
) -> LparConnection:
    """Creates or updates an LPAR's connection; secrets are stored only encrypted."""
    connection = LparConnection.objects.filter(lpar=lpar).first() or LparConnection(lpar=lpar)
    for name, value in fields.items():
        setattr(connection, name, value)
    if password is not None:
        connection.password_encrypted = secrets.encrypt(password)
    if ssh_key is not None:
        connection.ssh_key_encrypted = secrets.encrypt(ssh_key)
    connection.full_clean()
    connection.save()
    after = {k: v for k, v in snapshot(connection).items() if "encrypted" not in k}
    after["password set"] = bool(connection.password_encrypted)
    after["ssh key set"] = bool(connection.ssh_key_encrypted)
    _record(actor, "update", connection, after)
    return connection


@transaction.atomic
def deployment_acknowledge_overwrite(
    *, deployment: Deployment, actor: User, comment: str
) -> Deployment:
    """An operator accepts overwriting the drifted policy file(s) a deployment stopped on:
    not its requester, through any of their accounts (four eyes, as for an approval).

    The acknowledgement is for exactly the text found (its SHA-256): if the file changes
    again before the run, the deployment stops again. The stopped and skipped targets wait
    again and the deployment is enqueued; last-known-good stays what the portal verified.
    """
    _require_operator(actor)
    comment = comment.strip()
    if not comment:
        raise DeploymentRefused("say why the live file may be overwritten (it is recorded)")
    locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
    drifted = list(
        locked.targets.select_related("stack__lpar")
        .filter(status=TargetStatus.FAILED)
        .exclude(file_drift_sha256="")
    )
    if locked.status != RunStatus.FAILED or not drifted:
        raise DeploymentRefused("this deployment did not stop on file drift")
    if same_person(locked.requested_by, actor):
        raise DeploymentForbidden(
            "you requested this deployment yourself; another operator must acknowledge"
            " overwriting the live file"
        )
    now = timezone.now()
    for target in drifted:
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=TargetStatus.WAITING,
            error="",
            finished_at=None,
            overwrite_acknowledged_sha256=target.file_drift_sha256,
            overwrite_acknowledged_by=actor,
            overwrite_acknowledged_at=now,
            overwrite_comment=comment,
        )
    locked.targets.filter(status=TargetStatus.SKIPPED).update(status=TargetStatus.WAITING)
    locked.status = RunStatus.APPROVED
    locked.error = ""
    locked.finished_at = None
    locked.save(update_fields=["status", "error", "finished_at"])
    _record(
        actor,
        "ack-overwrite",
        locked,
        {
            "overwrite": [
                {
                    "stack": t.stack.label,
                    "path": t.stack.policy_file,
                    "live_sha256": t.file_drift_sha256,
                    "last_known_good_sha256": t.last_known_good_sha256,
                    "last_known_good": t.last_known_good_source,
                }
                for t in drifted
            ]
        },
        comment,
    )
    transaction.on_commit(lambda: run_deployment.delay(locked.id))
    return locked


@transaction.atomic
def drift_event_acknowledge(*, event: DriftEvent, actor: User, comment: str) -> DriftEvent:
    """An operator records that a drift event was seen and why it stands; it stays open
    until a verification no longer finds its condition."""
    _require_operator(actor)
    comment = comment.strip()
    if not comment:
        raise DeploymentRefused("a comment is needed to acknowledge drift (it is recorded)")
    locked = DriftEvent.objects.select_for_update().get(pk=event.pk)
    if locked.acknowledged_at is not None:
        raise DeploymentRefused(
            f"already acknowledged by {locked.acknowledged_by} at"
            f" {locked.acknowledged_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    locked.acknowledged_by = actor  # type: ignore[assignment]
    locked.acknowledged_at = timezone.now()
    locked.acknowledgement = comment
    locked.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgement"])
    _record(
        actor,
        "acknowledge",
        locked,
        {"stack": locked.stack.label, "kind": locked.kind, "key": locked.key},
        comment,
    )
    return locked


# --- incidents ------------------------------------------------------------------------------


@transaction.atomic
def incident_remove_rule(
    *, incident: Incident, actor: User, note: str = ""
) -> tuple[PolicyVersion, Deployment | None]:
    """ "Remove this service's rule": the normal path, with four eyes.

    Excludes the incident's service from the design, publishes the stack's next version
    (the deployed one without that rule: see fleet.selectors.remove_rule_plan) as `actor`,
    and, when `actor` is also an operator, requests its deployment. Another operator must
    approve it, as for any deployment; the publisher and the requester may not.
    """
    if not has_capability(actor, Capability.PUBLISH):
        raise PermissionError("only an architect may publish a version without the rule")
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.kind != IncidentKind.REFUSED_CLIENTS:
        raise DeploymentRefused("only a refused-clients incident names a rule to remove")
    plan = remove_rule_plan(incident=locked)
    if plan.refusal:
        raise DeploymentRefused(plan.refusal)
    service, stack = locked.service, locked.stack
    assert service is not None and plan.latest is not None
    why = note.strip() or f"clients refused by AT-TLS (incident {str(locked.uuid)[:8]})"
    service_update(
        actor=actor,
        service=service,
        fields={"included": False},
        expected_revision=service.revision,
    )
    version = policy_version_publish(
        stack=stack,
        actor=actor,
        note=f"v{plan.latest.number} without rule {service.name}: {why}",
        # The warnings are those of the version already deployed, less this rule's.
        acknowledge_warnings=True,
    )
    deployment = None
    if has_capability(actor, Capability.OPERATE):
        deployment = deployment_request(
            actor=actor,
            targets=[(stack, version)],
            note=f"remove rule {service.name} from {stack.label}: {why}",
        )
    details = dict(locked.details or {})
    details["remove_rule"] = {
        "version": version.number,
        "deployment": str(deployment.uuid) if deployment is not None else None,
        "by": actor.get_username(),
    }
    Incident.objects.filter(pk=locked.pk).update(details=details)
    _record(actor, "remove rule", locked, details["remove_rule"], why)
    return version, deployment


# --- change impact: excluding the services whose peers would break ----------------------------


class ExclusionRefused(Exception):
    """Nothing to exclude, or the design no longer matches the deployment; nothing changed."""


@transaction.atomic
def deployment_exclude_breaking(
    *, deployment: Deployment, actor: User, note: str = ""
) -> tuple[list[PolicyVersion], Deployment | None]:
    if not has_capability(actor, Capability.PUBLISH):
        raise PermissionError("only an architect may publish a version without those services")
    per_stack: dict[int, set[str]] = {}
    targets = list(deployment.targets.select_related("stack__lpar", "prediction"))
    for target in targets:
        prediction = getattr(target, "prediction", None)
        if prediction is None:
            continue
        names = {p["service"] for p in prediction.peers if breaks(p)}
        if names:
            per_stack[target.stack_id] = names
    if not per_stack:
        raise ExclusionRefused("the prediction names no peer that will break: nothing to exclude")
    why = note.strip() or f"peers predicted to break (deployment {str(deployment.uuid)[:8]})"
    versions = []
    for target in targets:
        names = per_stack.get(target.stack_id)
        if not names:
            continue
        services = list(Service.objects.filter(stack=target.stack, name__in=names, included=True))
        if not services:
            raise ExclusionRefused(
                f"{', '.join(sorted(names))} on {target.stack.label} are not in its design"
                " (or are excluded already)"
            )
        for service in services:
            service_update(
                actor=actor,
                service=service,
                fields={"included": False},
                expected_revision=service.revision,
            )
        versions.append(
            policy_version_publish(
                stack=target.stack,
                actor=actor,
                note=f"without {', '.join(sorted(names))}: {why}",
                acknowledge_warnings=True,
            )
        )
    replacement = None
    if has_capability(actor, Capability.OPERATE):
        by_stack = {v.stack_id: v for v in versions}
        # Cancelled first: a stack takes one pending request at a time.
        deployment_cancel(
            deployment=deployment,
            actor=actor,
            reason="superseded by a request without the services whose peers would break",
        )
        replacement = deployment_request(
            actor=actor,
            targets=[(t.stack, by_stack.get(t.stack_id, t.version)) for t in targets],
            note=f"{deployment.note} (without the services that would break: {why})".strip(),
        )
    change_record(
        actor=actor,
        action="exclude breaking services",
        obj=deployment,
        after={
            "excluded": {
                t.stack.label: sorted(per_stack[t.stack_id])
                for t in targets
                if t.stack_id in per_stack
            },
            "versions": [f"{v.stack.label} v{v.number}" for v in versions],
            "replacement": str(replacement.uuid) if replacement is not None else None,
        },
        note=why,
    )
    return versions, replacement
