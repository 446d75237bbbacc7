"""Writes of the fleet: deployments (request, approve, roll back, remove a rule) and connections.

Four eyes on production: whoever approves a deployment must not be the author of any
version it deploys. Approval enqueues the task after the transaction commits, with the
deployment's id only. Every write leaves a change record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from accounts.roles import Capability, has_capability
from attls.policy import parse_policy, render_policy
from fleet import secrets
from fleet.models import (
    Deployment,
    DeploymentKind,
    DeploymentTarget,
    Incident,
    IncidentKind,
    LparConnection,
    RunStatus,
)
from fleet.selectors import remove_rule_plan
from fleet.tasks import run_deployment
from fleet.verify import deployed_target
from policies.models import ChangeRecord, Lpar, PolicyVersion, Stack
from policies.services import (
    policy_header,
    policy_version_publish,
    service_update,
    snapshot,
)

User = AbstractBaseUser | AnonymousUser


class DeploymentRefused(Exception):
    """A deployment that may not be requested or approved; the message says why."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _record(actor: User, action: str, obj: Any, after: dict[str, Any], note: str = "") -> None:
    ChangeRecord.objects.create(
        actor=actor if actor.is_authenticated else None,
        action=action,
        object_type=type(obj).__name__,
        object_uuid=getattr(obj, "uuid", None),
        object_name=str(obj)[:100],
        before=None,
        after=after,
        note=note,
    )


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
) -> Deployment:
    """A pending deployment of versions to stacks, in the given order.

    `texts` maps a stack id to (text, removed rule) when the text differs from the version's.
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
    deployment = Deployment.objects.create(
        kind=kind, requested_by=actor, note=note, rollback_of=rollback_of
    )
    for position, (stack, version) in enumerate(targets):
        text, removed = (texts or {}).get(stack.id, (version.text, ""))
        DeploymentTarget.objects.create(
            deployment=deployment,
            position=position,
            stack=stack,
            version=version,
            text=text,
            sha256=_sha(text),
            removed_rule=removed,
        )
    _record(actor, "request", deployment, _deployment_summary(deployment), note)
    return deployment


@transaction.atomic
def deployment_approve(*, deployment: Deployment, actor: User) -> Deployment:
    """Four eyes: the approver authored none of the versions. Enqueues on commit."""
    _require_operator(actor)
    locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
    if locked.status != RunStatus.PENDING:
        raise DeploymentRefused(f"this deployment is {locked.get_status_display().lower()}")
    authors = {
        target.version.author_id: target.version
        for target in locked.targets.select_related("version__stack__lpar")
    }
    if actor.pk in authors:
        version = authors[actor.pk]
        raise DeploymentRefused(
            f"you published {version} yourself; another operator must approve its deployment"
        )
    locked.status = RunStatus.APPROVED
    locked.approved_by = actor  # type: ignore[assignment]
    locked.approved_at = timezone.now()
    locked.save(update_fields=["status", "approved_by", "approved_at"])
    _record(actor, "approve", locked, _deployment_summary(locked))

    transaction.on_commit(lambda: run_deployment.delay(locked.id))
    return locked


def _current(stack: Stack) -> DeploymentTarget:
    target = deployed_target(stack)
    if target is None:
        raise DeploymentRefused(f"nothing has been deployed to {stack.label} yet")
    return target


@transaction.atomic
def rollback_to_previous(*, actor: User, stack: Stack, note: str = "") -> Deployment:
    """Redeploys the version before the one currently deployed, approved by `actor`."""
    current = _current(stack)
    previous = (
        PolicyVersion.objects.filter(stack=stack, number__lt=current.version.number)
        .order_by("-number")
        .first()
    )
    if previous is None:
        raise DeploymentRefused(f"v{current.version.number} is the first version of {stack.label}")
    deployment = deployment_request(
        actor=actor,
        targets=[(stack, previous)],
        note=note
        or f"roll back {stack.label} from v{current.version.number} to v{previous.number}",
        kind=DeploymentKind.ROLLBACK,
        rollback_of=current.deployment,
    )
    return deployment_approve(deployment=deployment, actor=actor)


@transaction.atomic
def remove_rule(*, actor: User, stack: Stack, rule: str, note: str = "") -> Deployment:
    """Deploys the current version without one service's rule: the account's quick rollback."""
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
    # The version's author may be the operator; removing a rule only narrows what is secured,
    # and it is the emergency path, so it is approved by the operator who asks for it.
    deployment.status = RunStatus.APPROVED
    deployment.approved_by = actor  # type: ignore[assignment]
    deployment.approved_at = timezone.now()
    deployment.save(update_fields=["status", "approved_by", "approved_at"])
    _record(actor, "approve", deployment, _deployment_summary(deployment))

    transaction.on_commit(lambda: run_deployment.delay(deployment.id))
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
