"""The lab phase's candidate: the campaign's production rules, copied onto the lab stack.

When the design phase ends, every service of the campaign's scope is put on the lab stack
(the reference LAB1) with its rule: a service of that name on the lab stack gets the
production rule (priority, actions, TLS overrides) and keeps its own endpoints (the lab's
ports and job names are the lab's); a service the lab lacks is created there as production
has it. A name found on two production stacks is copied from the first (by LPAR and stack
name) and the others are reported, since one lab stack cannot hold two rules of one name.
The lab cohort is then exactly these services, so the lab step deploys and verifies the
production rules before the pilot. Every copy goes through the designer's own services, so it
is validated and in the change log as any edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies.models import Rule, Service, Stack
from policies.services import RULE_FIELDS, service_create, service_update

# The service's own fields a new lab copy takes from production (its stack is the lab's).
SERVICE_FIELDS = (
    "name",
    "description",
    "owner_team",
    "jobname",
    "userid",
    "local_port_low",
    "local_port_high",
    "remote_address",
    "remote_port_low",
    "remote_port_high",
    "direction",
    "tier",
)


@dataclass
class LabCopy:
    services: list[Service] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "SYSB/TCPIP FTP_Server": a name taken


def _rule_fields(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def lab_rules_copy(*, actor: Any, lab: Stack, production: list[Service]) -> LabCopy:
    """Puts each production service's rule on `lab` (see the module); the lab services."""
    copy = LabCopy()
    taken: dict[str, Service] = {}
    ordered = sorted(production, key=lambda s: (s.stack.lpar.name, s.stack.name, s.name))
    existing = {s.name: s for s in lab.services.select_related("rule")}
    for service in ordered:
        if service.name in taken:
            copy.skipped.append(f"{service.stack.label} {service.name}")
            continue
        rule = Rule.objects.filter(service=service).first()
        found = existing.get(service.name)
        if rule is None or (found is not None and not Rule.objects.filter(service=found).exists()):
            copy.skipped.append(f"{service.stack.label} {service.name}: no rule")
            continue
        if found is None:
            fields = {name: getattr(service, name) for name in SERVICE_FIELDS}
            made = service_create(
                actor=actor, fields={**fields, "stack": lab, **_rule_fields(rule)}
            )
            copy.created.append(made.name)
        else:
            made = service_update(
                actor=actor,
                service=found,
                fields={"included": True, **_rule_fields(rule)},
                expected_revision=found.revision,
            )
            copy.updated.append(made.name)
        taken[service.name] = made
        copy.services.append(made)
    return copy
