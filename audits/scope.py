"""What an assessment's scope holds: its services, their stacks, and the facts about them.

One place answers "is this row about the scope?" for the assessment engine
(audits/assessment/), the PDF (audits/evidence.py) and the OSCAL file (audits/oscal/): every
query of history or observations that can name a service goes through a `Scope`, so what a
pack holds is what its scope holds, and nothing is filtered at print time.

An estate or LPAR scope covers whole stacks. A service scope (an app owner's pack) covers some
services of stacks that also carry other teams' services; there each fact is cut to the scope:

- a verification run's results: the figures of the in-scope services only, the totals summed
  from them, handshake failures and probe results of in-scope rules only;
- certificates: those an in-scope rule presents, with only the in-scope rules and the ports of
  in-scope services;
- drift: events of in-scope services, and stack-wide events (the policy file as a whole);
- deployments: those with a target on an in-scope stack, listing only those targets; the
  removal of a rule outside the scope is not a change of the scope and is left out;
- incidents: those of a certificate an in-scope rule presents, their summary written for the
  in-scope rules and their failing handshakes those of in-scope rules (an incident that names
  no certificate cannot be attributed to a service and is left out);
- stored text (drift detail, a target's removed rule, a deployment's error) that names a
  service outside the scope: the line is left out when it is only about other services, and
  the name replaced by OUTSIDE when the line is about an in-scope service too.

The rows returned are the database's rows with those fields cut down in memory; they are
read-only views for one assessment or one pack and are never saved.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from audits.models import ScopeKind
from fleet.models import Certificate, Deployment, DeploymentTarget, DriftEvent, Incident
from policies.models import ChangeRecord, Lpar, PolicyVersion, Service, Stack

# What a name outside the scope reads as, where a line about the scope also named it.
OUTSIDE = "[a service outside this scope]"
# Characters of a rule or service name: a name is matched only as a whole word (AT-TLS rule
# names are case-sensitive).
_NAME_CHARS = r"A-Za-z0-9@#$_"
# Keys of a verification run's results that hold no service's data, kept as they are.
RESULT_KEYS_KEPT = ("loaded_rules",)


class ScopeError(ValueError):
    """A scope that names nothing, or something that does not exist."""


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def scope_services(scope_kind: str, scope: Mapping[str, Any] | None) -> QuerySet[Service]:
    """The services an assessment of this scope judges; ScopeError when it names nothing."""
    scope = dict(scope or {})
    services = Service.objects.select_related("stack__lpar")
    if scope_kind == ScopeKind.ESTATE:
        return services
    if scope_kind == ScopeKind.LPAR:
        names = [str(n).strip() for n in (scope.get("lpars") or [scope.get("lpar")]) if n]
        if not names:
            raise ScopeError('an LPAR scope needs {"lpar": "<system name>"}')
        uuids = [u for n in names if (u := _uuid(n)) is not None]
        matched = services.filter(Q(stack__lpar__name__in=names) | Q(stack__lpar__uuid__in=uuids))
        if not matched.exists():
            raise ScopeError(f"LPAR {', '.join(names)} has no services (or does not exist)")
        return matched
    if scope_kind in (ScopeKind.SERVICES, ScopeKind.SERVICE):
        wanted = scope.get("services")
        if wanted is None and scope.get("service"):
            wanted = [scope["service"]]
        if isinstance(wanted, str):
            wanted = [wanted]
        if not wanted:
            raise ScopeError('a service scope needs {"service": uuid} or {"services": [uuid, ...]}')
        if scope_kind == ScopeKind.SERVICE and len(wanted) != 1:
            raise ScopeError("a one-service scope names exactly one service")
        uuids = {str(u) for u in wanted}
        for value in uuids:
            if _uuid(value) is None:
                raise ScopeError(f"{value!r} is not a service UUID")
        matched = services.filter(uuid__in=uuids)
        found = {str(u) for u in matched.values_list("uuid", flat=True)}
        if found != uuids:
            raise ScopeError(f"no such service(s): {', '.join(sorted(uuids - found))}")
        return matched
    raise ScopeError(f"unknown scope kind {scope_kind!r}")


def _words(names: Iterable[str]) -> re.Pattern[str]:
    """Any of `names` as a whole word."""
    # Longest first, so CICSWEB10 is not read as CICSWEB1 followed by a 0.
    words = "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))
    return re.compile(rf"(?<![{_NAME_CHARS}])(?:{words})(?![{_NAME_CHARS}])")


def scoped_targets(deployment: Deployment) -> list[DeploymentTarget]:
    """The targets of a deployment that `Scope.deployments` returned, cut to the scope."""
    targets: list[DeploymentTarget] = deployment.scoped_targets  # type: ignore[attr-defined]
    return targets


@dataclass
class Scope:
    kind: str
    services: list[Service]
    stacks: list[Stack]
    # Per stack of the scope: the names of its services outside the scope (none for whole
    # stacks). Text naming one of them is cut (`redact`).
    outside: dict[int, frozenset[str]] = field(default_factory=dict)
    label: str = ""
    # The services as a query, for subqueries that should not carry a list of ids.
    query: QuerySet[Service] | None = None

    @property
    def whole_stacks(self) -> bool:
        """Estate and LPAR scopes cover whole stacks: every fact of their stacks is theirs."""
        return self.kind in (ScopeKind.ESTATE, ScopeKind.LPAR)

    @property
    def service_ids(self) -> list[int]:
        return [service.pk for service in self.services]

    @property
    def stack_ids(self) -> list[int]:
        return [stack.pk for stack in self.stacks]

    @cached_property
    def names(self) -> dict[int, frozenset[str]]:
        """Per stack: the names of its in-scope services (their AT-TLS rules' names)."""
        found: dict[int, set[str]] = defaultdict(set)
        for service in self.services:
            found[service.stack_id].add(service.name)
        return {stack_id: frozenset(names) for stack_id, names in found.items()}

    @cached_property
    def _local_ports(self) -> dict[int, list[tuple[int, int]]]:
        found: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for service in self.services:
            found[service.stack_id].append((service.local_port_low, service.local_port_high))
        return found

    @cached_property
    def _outside_pattern(self) -> dict[int, re.Pattern[str] | None]:
        patterns: dict[int, re.Pattern[str] | None] = {}
        for stack_id, names in self.outside.items():
            patterns[stack_id] = _words(names) if names else None
        return patterns

    # --- names and text ---------------------------------------------------------------------

    def holds_rule(self, stack_id: int, name: str) -> bool:
        return self.whole_stacks or name in self.names.get(stack_id, frozenset())

    def rule_name(self, stack_id: int, name: str) -> str:
        """`name`, or OUTSIDE when it is the rule of a service outside the scope."""
        return name if not name or self.holds_rule(stack_id, name) else OUTSIDE

    def holds_port(self, stack_id: int, port: int) -> bool:
        if self.whole_stacks:
            return True
        return any(low <= int(port) <= high for low, high in self._local_ports.get(stack_id, []))

    @cached_property
    def _any_outside(self) -> frozenset[str]:
        return frozenset().union(*self.outside.values()) - frozenset().union(*self.names.values())

    def redact_text(self, text: str) -> str:
        """Free text about the scope's stacks as a whole (a note): each name of a service
        outside the scope replaced by OUTSIDE."""
        if self.whole_stacks or not text or not self._any_outside:
            return text
        return _words(self._any_outside).sub(OUTSIDE, text)

    def names_outside(self, stack_id: int, text: str) -> bool:
        pattern = self._outside_pattern.get(stack_id)
        return pattern is not None and pattern.search(text) is not None

    def redact_lines(self, stack_id: int, lines: Iterable[str]) -> list[str]:
        """The lines that name no service outside the scope."""
        return [line for line in lines if not self.names_outside(stack_id, line)]

    def redact(self, stack_id: int, text: str) -> str:
        """`text` with what it says about services outside the scope taken out.

        The first line (what happened) and a line that also names an in-scope service are
        kept, with the names of services outside the scope replaced by OUTSIDE; any other line
        naming a service outside the scope is left out, and the lines left out are counted.
        """
        pattern = self._outside_pattern.get(stack_id)
        if self.whole_stacks or pattern is None or not pattern.search(text):
            return text
        inside = self.names.get(stack_id, frozenset())
        lines = text.splitlines()
        kept: list[str] = []
        dropped = 0
        for index, line in enumerate(lines):
            if not pattern.search(line):
                kept.append(line)
            elif index == 0 or (inside and _words(inside).search(line)):
                kept.append(pattern.sub(OUTSIDE, line))
            else:
                dropped += 1
        if dropped:
            kept.append(f"({dropped} line(s) about services outside this scope left out)")
        return "\n".join(kept)

    # --- observations -------------------------------------------------------------------------

    def run_results(self, stack_id: int, results: Mapping[str, Any]) -> dict[str, Any]:
        """A verification run's results cut to the scope's services of `stack_id`.

        Whole stacks keep the run's own totals (they count connections no service matched,
        too); otherwise the totals are the sums over the in-scope services' figures.
        """
        if self.whole_stacks:
            return dict(results)
        inside = self.names.get(stack_id, frozenset())
        services = {
            name: self._entry(stack_id, entry)
            for name, entry in (results.get("services") or {}).items()
            if name in inside and isinstance(entry, dict)
        }
        connections = sum(int(e.get("connections") or 0) for e in services.values())
        secured = sum(int(e.get("secured") or 0) for e in services.values())
        protocols: dict[str, int] = {}
        for entry in services.values():
            for protocol, count in (entry.get("protocols") or {}).items():
                protocols[protocol] = protocols.get(protocol, 0) + int(count or 0)
        scoped: dict[str, Any] = {k: results[k] for k in RESULT_KEYS_KEPT if k in results}
        return scoped | {
            "connections": connections,
            "handshakes_pending": sum(
                int(e.get("handshakes_pending") or 0) for e in services.values()
            ),
            "secured": secured,
            "coverage": round(secured / connections, 4) if connections else None,
            "protocols": dict(sorted(protocols.items())),
            "services": services,
            "handshake_failures_total": self._by_rule(
                stack_id, results.get("handshake_failures_total")
            ),
            "probe_refusals_total": self._by_rule(stack_id, results.get("probe_refusals_total")),
        }

    def _entry(self, stack_id: int, entry: Mapping[str, Any]) -> dict[str, Any]:
        """One service's figures; a connection secured by another service's rule keeps its
        connection id, the rule's name becomes OUTSIDE."""
        unexpected = [
            {**item, "rule": self.rule_name(stack_id, str(item.get("rule") or ""))}
            for item in entry.get("unexpected_rule") or []
            if isinstance(item, dict)
        ]
        return {**entry, "unexpected_rule": unexpected}

    def _by_rule(self, stack_id: int, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            return {}
        return {rule: counts for rule, counts in value.items() if self.holds_rule(stack_id, rule)}

    def probe_results(self, stack_id: int, probe: Mapping[str, Any]) -> dict[str, Any]:
        """A run's probe results (by rule name) cut to the scope's rules."""
        return {name: r for name, r in (probe or {}).items() if self.holds_rule(stack_id, name)}

    # --- history ------------------------------------------------------------------------------

    def drift(self, start: datetime, end: datetime) -> list[DriftEvent]:
        """Drift events open at some time in [start, end]: of in-scope services, and of the
        stacks' policy files as a whole; their detail cut to the scope."""
        events = DriftEvent.objects.filter(stack_id__in=self.stack_ids, opened_at__lte=end).filter(
            Q(resolved_at__isnull=True) | Q(resolved_at__gte=start)
        )
        if not self.whole_stacks:
            events = events.filter(Q(service__isnull=True) | Q(service_id__in=self.service_ids))
        rows = list(
            events.select_related("stack__lpar", "service", "opened_by_run").order_by(
                "opened_at", "id"
            )
        )
        for event in rows:
            event.key = self.redact(event.stack_id, event.key)  # unexpected-rule:MQCHIN:TN3270S
            event.detail = self.redact(event.stack_id, event.detail)
        return rows

    def deployments(self, when: Q, *, limit: int | None = None) -> list[Deployment]:
        """Deployments matching `when` with a target on an in-scope stack, oldest first.

        Each carries `scoped_targets` (read it with `scoped_targets(deployment)`): its targets
        on in-scope stacks. A rule removal of a service outside the scope is left out.
        """
        stack_ids = set(self.stack_ids)
        found = (
            Deployment.objects.filter(targets__stack_id__in=stack_ids)
            .filter(when)
            .distinct()
            .select_related("requested_by", "approved_by", "rollback_of")
            .prefetch_related(
                Prefetch(
                    "targets",
                    queryset=DeploymentTarget.objects.select_related(
                        "stack__lpar", "version__author"
                    ).defer("text", "last_known_good", "version__text", "version__model"),
                )
            )
            .order_by("created_at", "id")
        )
        rows = []
        for deployment in found if limit is None else found[:limit]:
            everything = list(deployment.targets.all())
            targets = [
                t
                for t in everything
                if t.stack_id in stack_ids
                and (not t.removed_rule or self.holds_rule(t.stack_id, t.removed_rule))
            ]
            if not targets:
                continue
            if len(targets) < len(everything):
                # Its error names the stack that failed, which may be outside the scope.
                deployment.error = ""
            deployment.note = self.redact_text(deployment.note)
            deployment.scoped_targets = targets  # type: ignore[attr-defined]
            rows.append(deployment)
        return rows

    def change_records(
        self, start: datetime, end: datetime, deployments: Iterable[Deployment], *, limit: int
    ) -> tuple[list[ChangeRecord], int]:
        """Design changes in [start, end] to the scope's services, stacks, LPARs, policy
        versions and the shared objects its rules use, and to its deployments (the first
        `limit`, and how many there are); notes cut to the scope."""
        records = ChangeRecord.objects.filter(at__gte=start, at__lte=end).select_related("actor")
        if self.kind != ScopeKind.ESTATE:
            uuids: set[Any] = {service.uuid for service in self.services}
            uuids |= {stack.uuid for stack in self.stacks}
            uuids |= set(Lpar.objects.filter(stacks__in=self.stacks).values_list("uuid", flat=True))
            uuids |= set(
                PolicyVersion.objects.filter(stack__in=self.stacks).values_list("uuid", flat=True)
            )
            uuids |= {deployment.uuid for deployment in deployments}
            for service in self.services:
                rule = getattr(service, "rule", None)
                if rule is None:
                    continue
                for shared in (rule.group_action, rule.environment_action, rule.connection_action):
                    if shared is not None:
                        uuids.add(shared.uuid)
            records = records.filter(object_uuid__in=uuids)
        total = records.count()
        rows = list(records.order_by("at", "id")[:limit])
        for record in rows:
            record.note = self.redact_text(record.note)
        return rows, total

    def certificates(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[Certificate]:
        """Certificates seen on the scope's stacks (within [start, end] when given) that an
        in-scope rule presents, with only the in-scope rules and ports."""
        found = Certificate.objects.filter(stack_id__in=self.stack_ids)
        if end is not None:
            found = found.filter(first_seen__lte=end)
        if start is not None:
            found = found.filter(last_seen__gte=start)
        rows = []
        for certificate in found.select_related("stack__lpar").order_by("not_after", "id"):
            if self._cut_certificate(certificate):
                rows.append(certificate)
        return rows

    def _cut_certificate(self, certificate: Certificate) -> bool:
        """Cuts the rules and ports of `certificate` to the scope; False if none is left."""
        if self.whole_stacks:
            return True
        stack_id = certificate.stack_id
        rules = [r for r in certificate.rules or [] if self.holds_rule(stack_id, str(r))]
        if not rules:
            return False
        certificate.rules = rules
        certificate.ports = [p for p in certificate.ports or [] if self.holds_port(stack_id, p)]
        return True

    def incidents(self, start: datetime, end: datetime) -> list[Incident]:
        """Incidents open at some time in [start, end] of the scope's certificates."""
        found = (
            Incident.objects.filter(stack_id__in=self.stack_ids, opened_at__lte=end)
            .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=start))
            .select_related("stack__lpar", "certificate")
            .order_by("opened_at", "id")
        )
        if self.whole_stacks:
            return list(found)
        rows = []
        for incident in found:
            certificate = incident.certificate
            if certificate is None or not self._cut_certificate(certificate):
                continue
            stack_id = incident.stack_id
            incident.failing_handshakes = self.redact_lines(
                stack_id, [str(line) for line in incident.failing_handshakes or []]
            )
            if incident.kind == "certificate-expired":
                # fleet.verify writes this summary for every rule of the certificate.
                incident.summary = (
                    f"The certificate {certificate.subject} used by"
                    f" {', '.join(certificate.rules)} on {incident.stack.label} expired on"
                    f" {certificate.not_after:%Y-%m-%d %H:%M} UTC;"
                    f" {len(incident.failing_handshakes)} failing handshake(s) of"
                    f" {'this rule' if len(certificate.rules) == 1 else 'these rules'} logged."
                )
            else:
                incident.summary = self.redact(stack_id, incident.summary)
            rows.append(incident)
        return rows


def resolve(
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    *,
    related: Sequence[str] = (),
    empty_stacks: bool = False,
) -> Scope:
    """The scope's services (ordered by LPAR, stack, name) and stacks; ScopeError if none.

    `empty_stacks`: an estate or LPAR scope also holds its stacks without services (the PDF
    lists them); otherwise the stacks are those of the services.
    """
    query = scope_services(scope_kind, scope)
    services = list(
        query.select_related("stack__lpar", *related).order_by(
            "stack__lpar__name", "stack__name", "name"
        )
    )
    stacks: dict[int, Stack] = {}
    for service in services:
        stacks.setdefault(service.stack_id, service.stack)
    stack_list = list(stacks.values())
    if empty_stacks and scope_kind in (ScopeKind.ESTATE, ScopeKind.LPAR):
        everything = Stack.objects.select_related("lpar").order_by("lpar__name", "name")
        if scope_kind == ScopeKind.LPAR:
            everything = everything.filter(lpar_id__in={s.lpar_id for s in stack_list})
        stack_list = list(everything)
    outside: dict[int, frozenset[str]] = {}
    if scope_kind not in (ScopeKind.ESTATE, ScopeKind.LPAR) and stacks:
        others: dict[int, set[str]] = defaultdict(set)
        for stack_id, name in (
            Service.objects.filter(stack_id__in=list(stacks))
            .exclude(pk__in=[s.pk for s in services])
            .values_list("stack_id", "name")
        ):
            others[stack_id].add(name)
        outside = {stack_id: frozenset(others.get(stack_id, ())) for stack_id in stacks}
    return Scope(
        kind=scope_kind, services=services, stacks=stack_list, outside=outside, query=query
    )
