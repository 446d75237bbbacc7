"""Writes to the design. Views, the API, the importer and the seed all call these.

Every write validates the whole row first (nothing partial is saved), runs in one
transaction and leaves a ChangeRecord with the object before and after. Saves of
shared objects and services carry the revision the editor started from: when someone
else saved in between, the save is refused with StaleEdit instead of overwriting.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F

from attls.lint import Finding
from attls.policy import Policy, render_policy
from attls.policy.render_check import stored_text_problem, text_model_differences
from attls.policy.serialize import policy_to_dict
from attls.releases import DEFAULT_RELEASE
from attls.values import ValueRefused
from policies.changes import change_record
from policies.generation import stack_policy
from policies.lint import design_lint
from policies.models import (
    ChangeRecord,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Lpar,
    PolicyVersion,
    Rule,
    Service,
    Stack,
)

Actor = AbstractBaseUser | AnonymousUser | None
M = TypeVar("M", bound=models.Model)


class StaleEdit(Exception):
    """The object changed since the editor loaded it."""

    def __init__(self, obj: models.Model, expected: int, current: int) -> None:
        self.obj = obj
        self.expected = expected
        self.current = current
        super().__init__(
            f"{obj} was changed by someone else while you were editing (you started from"
            f" revision {expected}, it is now at revision {current}). Reload it, check their"
            " change and make yours again."
        )


class PublishRefused(Exception):
    """Publication refused: lint errors, or warnings not acknowledged."""

    def __init__(self, message: str, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__(message)


# --- snapshots for the change log ---------------------------------------------------------


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The row as JSON-ready data: foreign keys by name, many-to-many by name, sorted."""
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in ("id",):
            continue
        value = getattr(obj, field.name)
        if field.is_relation:
            value = str(value) if value is not None else None
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif field.name == "uuid":
            value = str(value)
        data[field.name] = value
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            data[field.name] = sorted(str(item) for item in getattr(obj, field.name).all())
    return data


def _record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    note: str = "",
) -> ChangeRecord:
    return change_record(actor=actor, action=action, obj=obj, before=before, after=after, note=note)


def _apply(obj: M, fields: dict[str, Any]) -> M:
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    return obj


# --- LPARs and stacks ---------------------------------------------------------------------


@transaction.atomic
def lpar_create(
    *, actor: Actor, name: str, kind: str = "production", description: str = ""
) -> Lpar:
    lpar = _apply(Lpar(), {"name": name, "kind": kind, "description": description})
    lpar.save()
    _record(actor=actor, action="create", obj=lpar, before=None, after=snapshot(lpar))
    return lpar


@transaction.atomic
def stack_create(
    *,
    actor: Actor,
    lpar: Lpar,
    name: str,
    policy_file: str,
    zos_release: str = DEFAULT_RELEASE,
) -> Stack:
    stack = _apply(
        Stack(),
        {"lpar": lpar, "name": name, "policy_file": policy_file, "zos_release": zos_release},
    )
    stack.save()
    _record(actor=actor, action="create", obj=stack, before=None, after=snapshot(stack))
    return stack


@transaction.atomic
def stack_release_set(*, actor: Actor, stack: Stack, zos_release: str) -> Stack:
    """Declares the z/OS release a stack runs: its defaults and cipher support follow it."""
    current = Stack.objects.select_for_update().get(pk=stack.pk)
    before = snapshot(current)
    _apply(current, {"zos_release": zos_release})
    current.save(update_fields=["zos_release"])
    _record(actor=actor, action="update", obj=current, before=before, after=snapshot(current))
    return current


# --- shared objects -----------------------------------------------------------------------


@transaction.atomic
def shared_object_create(*, actor: Actor, model: type[M], fields: dict[str, Any]) -> M:
    obj = _apply(model(), fields)
    obj.save()
    _record(actor=actor, action="create", obj=obj, before=None, after=snapshot(obj))
    return obj


@transaction.atomic
def shared_object_update(
    *, actor: Actor, obj: M, fields: dict[str, Any], expected_revision: int
) -> M:
    """Saves `fields` onto `obj` if nobody saved it since `expected_revision`."""
    model = type(obj)
    current = model.objects.select_for_update().get(pk=obj.pk)
    before = snapshot(current)
    if current.revision != expected_revision:  # type: ignore[attr-defined]
        raise StaleEdit(current, expected_revision, current.revision)  # type: ignore[attr-defined]
    _apply(current, fields)
    current.revision = expected_revision + 1  # type: ignore[attr-defined]
    current.save()
    _record(actor=actor, action="update", obj=current, before=before, after=snapshot(current))
    return current


@transaction.atomic
def shared_object_delete(*, actor: Actor, obj: models.Model) -> None:
    """Deletes an object nothing uses; models.ProtectedError says what still uses it."""
    before = snapshot(obj)
    obj.delete()
    _record(actor=actor, action="delete", obj=obj, before=before, after=None)


# --- services and their rules -------------------------------------------------------------

RULE_FIELDS = (
    "priority",
    "group_action",
    "environment_action",
    "connection_action",
    "override_tlsv1_2",
    "override_tlsv1_3",
    "override_cipher_set",
)


def _split(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any] | None]:
    service_fields = {k: v for k, v in fields.items() if k not in RULE_FIELDS and k != "owners"}
    rule_fields = {k: v for k, v in fields.items() if k in RULE_FIELDS}
    owners = fields.get("owners")
    return service_fields, rule_fields, owners


def _service_snapshot(service: Service) -> dict[str, Any]:
    data = snapshot(service)
    rule = Rule.objects.filter(service=service).first()
    if rule is not None:
        data["rule"] = {k: v for k, v in snapshot(rule).items() if k != "service"}
    return data


@transaction.atomic
def service_create(*, actor: Actor, fields: dict[str, Any]) -> Service:
    """Creates a service and its rule. Validation errors of both come together."""
    service_fields, rule_fields, owners = _split(fields)
    service = Service(**service_fields)
    rule = Rule(**rule_fields)
    errors: dict[str, list[str]] = {}
    try:
        service.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        rule.full_clean(exclude=["service"])
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    service.save()
    rule.service = service
    rule.save()
    if owners is not None:
        service.owners.set(owners)
    _record(
        actor=actor, action="create", obj=service, before=None, after=_service_snapshot(service)
    )
    return service


@transaction.atomic
def service_update(
    *, actor: Actor, service: Service, fields: dict[str, Any], expected_revision: int
) -> Service:
    current = Service.objects.select_for_update().get(pk=service.pk)
    if current.revision != expected_revision:
        raise StaleEdit(current, expected_revision, current.revision)
    before = _service_snapshot(current)
    service_fields, rule_fields, owners = _split(fields)
    rule = current.rule
    errors: dict[str, list[str]] = {}
    for obj, values, exclude in ((current, service_fields, None), (rule, rule_fields, ["service"])):
        for name, value in values.items():
            setattr(obj, name, value)
        try:
            obj.full_clean(exclude=exclude)
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    current.revision = expected_revision + 1
    current.save()
    rule.save()
    if owners is not None:
        current.owners.set(owners)
    _record(
        actor=actor, action="update", obj=current, before=before, after=_service_snapshot(current)
    )
    return current


@transaction.atomic
def service_delete(*, actor: Actor, service: Service) -> None:
    before = _service_snapshot(service)
    service.delete()
    _record(actor=actor, action="delete", obj=service, before=before, after=None)


@transaction.atomic
def services_assign(
    *,
    actor: Actor,
    services: Iterable[Service],
    group_action: GroupAction | None = None,
    environment_action: EnvironmentAction | None = None,
    connection_action: ConnectionAction | None = None,
    clear_connection_action: bool = False,
) -> int:
    """Points the rules of many services at the given shared objects. Returns how many changed."""
    changes: dict[str, Any] = {}
    if group_action is not None:
        changes["group_action"] = group_action
    if environment_action is not None:
        changes["environment_action"] = environment_action
    if connection_action is not None:
        changes["connection_action"] = connection_action
    elif clear_connection_action:
        changes["connection_action"] = None
    if not changes:
        return 0
    count = 0
    for service in Service.objects.select_for_update().filter(pk__in=[s.pk for s in services]):
        before = _service_snapshot(service)
        Rule.objects.filter(service=service).update(**changes)
        Service.objects.filter(pk=service.pk).update(revision=F("revision") + 1)
        service.refresh_from_db()
        _record(
            actor=actor,
            action="update",
            obj=service,
            before=before,
            after=_service_snapshot(service),
            note="bulk assignment",
        )
        count += 1
    return count


# --- publication --------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What publishing a stack now would freeze, and how it differs from the last version."""

    stack: Stack
    policy: Policy
    text: str
    sha256: str
    findings: list[Finding]
    published: PolicyVersion | None
    # Why the design cannot be written as a policy file (a value the renderer refuses);
    # then `text` is empty and nothing can be published.
    unwritable: str | None = None

    @property
    def changed(self) -> bool:
        return self.published is None or self.published.sha256 != self.sha256

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def diff(self) -> str:
        before = self.published.text if self.published is not None else ""
        label = f"v{self.published.number}" if self.published is not None else "(nothing)"
        return "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=f"{self.stack.label} {label}",
                tofile=f"{self.stack.label} draft",
            )
        )


def policy_header(stack: Stack) -> str:
    return (
        f"AT-TLS policy for {stack.label}, file {stack.policy_file}\n"
        "Generated by attls-portal from its design; edit the design, not this file."
    )


def stack_draft(*, stack: Stack, exclude_services: Collection[int] = ()) -> Draft:
    """The stack's design as a policy; `exclude_services` (ids) leaves their rules out."""
    policy = stack_policy(stack, exclude=exclude_services)
    unwritable: str | None = None
    try:
        text = render_policy(policy, header=policy_header(stack))
    except ValueRefused as refusal:
        # Only rows saved before the design's validators existed (or written around them)
        # can get here; the draft says so instead of failing the page.
        text, unwritable = "", str(refusal)
    return Draft(
        stack=stack,
        policy=policy,
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        findings=design_lint(policy, release=stack.zos_release),
        published=stack.versions.order_by("-number").first(),
        unwritable=unwritable,
    )


@transaction.atomic
def policy_version_publish(
    *,
    stack: Stack,
    actor: Actor,
    note: str,
    acknowledge_warnings: bool = False,
    exclude_services: Collection[int] = (),
) -> PolicyVersion:
    """Freezes the stack's draft as its next version.

    Refused when the design cannot be written as a policy file, when the written text does
    not read back as the design (what is published is what was designed: the text is parsed
    again and compared statement by statement), when lint finds errors, when there are
    warnings the publisher did not acknowledge, when the note is empty, or when nothing
    changed since the last version.
    """
    if actor is None or not actor.is_authenticated:
        raise PermissionError("publishing needs a signed-in user")
    Stack.objects.select_for_update().get(pk=stack.pk)  # one publisher per stack at a time
    # A rollout campaign publishes the design less its later cohorts' rules.
    draft = stack_draft(stack=stack, exclude_services=exclude_services)
    if not note.strip():
        raise PublishRefused("Say in the note what this version changes and why.", [])
    if draft.unwritable is not None:
        raise PublishRefused(
            f"The design cannot be written as a policy file: {draft.unwritable}."
            " Correct that value in the design, then publish.",
            [],
        )
    if draft.errors:
        raise PublishRefused(
            f"The draft has {len(draft.errors)} lint error(s); fix them before publishing.",
            draft.errors,
        )
    if draft.warnings and not acknowledge_warnings:
        raise PublishRefused(
            f"The draft has {len(draft.warnings)} lint warning(s); acknowledge them to publish.",
            draft.warnings,
        )
    # What is published is what was designed: the text must read back as the model.
    model = policy_to_dict(draft.policy)
    differences = text_model_differences(draft.text, model, policy=draft.policy)
    if differences:
        raise PublishRefused(
            "The policy text would not read back as the design, so it is not published: "
            + "; ".join(differences)
            + ".",
            [],
        )
    if not draft.changed:
        assert draft.published is not None
        raise PublishRefused(
            f"Nothing changed since v{draft.published.number}; there is nothing to publish.", []
        )
    version = PolicyVersion.objects.create(
        stack=stack,
        number=(draft.published.number + 1) if draft.published else 1,
        text=draft.text,
        sha256=draft.sha256,
        model=model,
        author=actor,
        note=note.strip(),
        parent=draft.published,
        lint=[finding_to_dict(f) for f in draft.findings],
    )
    _record(
        actor=actor,
        action="publish",
        obj=version,
        before={"sha256": draft.published.sha256} if draft.published else None,
        after={"sha256": version.sha256, "number": version.number},
        note=version.note,
    )
    return version


@transaction.atomic
def policy_versions_check(*, actor: Actor = None) -> list[PolicyVersion]:
    """Reads every stored version's text again; marks those that are not their model.

    The same check publishing makes, for versions stored before it existed (the data
    migration policies 0004 ran it once) or restored from elsewhere. A version's
    `text_problem` is the only thing that ever changes on it, and every change is recorded.
    Returns the versions whose mark changed.
    """
    changed: list[PolicyVersion] = []
    for version in PolicyVersion.objects.select_related("stack__lpar").order_by("pk").iterator():
        problem = stored_text_problem(version.text, version.model) or ""
        if problem == version.text_problem:
            continue
        before = version.text_problem
        PolicyVersion.objects.filter(pk=version.pk).update(text_problem=problem)
        version.text_problem = problem
        _record(
            actor=actor,
            action="mark",
            obj=version,
            before={"text_problem": before},
            after={"text_problem": problem},
            note="re-read of stored versions",
        )
        changed.append(version)
    return changed


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity,
        "code": finding.code,
        "message": finding.message,
        "statement": list(finding.statement) if finding.statement else None,
        "controls": list(getattr(finding, "controls", ())),
    }
