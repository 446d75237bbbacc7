"""Reads of the design that depend on who asks. No view filters by permission itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from accounts.roles import Capability, has_capability
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Lpar,
    PolicyVersion,
    Rule,
    Service,
    Stack,
)

User = AbstractBaseUser | AnonymousUser


def service_list_for(*, user: User) -> QuerySet[Service]:
    """Every service for those who see the estate; an app owner's own services otherwise."""
    services = Service.objects.select_related(
        "stack__lpar",
        "rule__group_action",
        "rule__environment_action",
        "rule__connection_action",
    )
    if has_capability(user, Capability.VIEW_ESTATE):
        return services
    if has_capability(user, Capability.VIEW_OWN_SERVICES):
        return services.filter(owners=user)
    return services.none()


@dataclass(frozen=True)
class ServiceFilters:
    """The filters of the service list, as the query string gives them."""

    search: str = ""
    lpar: str = ""
    tier: str = ""
    phase: str = ""
    owner: str = ""

    def apply(self, services: QuerySet[Service]) -> QuerySet[Service]:
        if self.search:
            services = services.filter(
                Q(name__icontains=self.search)
                | Q(jobname__icontains=self.search)
                | Q(description__icontains=self.search)
                | Q(owner_team__icontains=self.search)
            )
        if self.lpar:
            services = services.filter(stack__lpar__name=self.lpar)
        if self.tier:
            services = services.filter(tier=self.tier)
        if self.phase:
            services = services.filter(phase=self.phase)
        if self.owner:
            services = services.filter(owner_team=self.owner)
        return services


def service_for(*, user: User, uuid: str) -> Service:
    """One service the user may see; Service.DoesNotExist otherwise (a 404, not a 403)."""
    return service_list_for(user=user).get(uuid=uuid)


def owner_teams() -> list[str]:
    return list(
        Service.objects.exclude(owner_team="")
        .order_by("owner_team")
        .values_list("owner_team", flat=True)
        .distinct()
    )


def stacks_with_counts() -> QuerySet[Stack]:
    return Stack.objects.select_related("lpar").annotate(
        service_count=Count("services", distinct=True)
    )


def lpars() -> QuerySet[Lpar]:
    return Lpar.objects.all()


SHARED_MODELS = (GroupAction, EnvironmentAction, ConnectionAction, CipherSet, Keyring)


@dataclass(frozen=True)
class Usage:
    """Which rules and stacks an edit to a shared object reaches."""

    rules: int
    stacks: list[Stack]

    @property
    def summary(self) -> str:
        return f"used by {self.rules} rule(s) on {len(self.stacks)} stack(s)"


def _rules_using(obj: object) -> QuerySet[Rule]:
    rules = Rule.objects.filter(service__included=True)
    if isinstance(obj, GroupAction):
        return rules.filter(group_action=obj)
    if isinstance(obj, EnvironmentAction):
        return rules.filter(environment_action=obj)
    if isinstance(obj, ConnectionAction):
        return rules.filter(connection_action=obj)
    if isinstance(obj, CipherSet):
        return rules.filter(
            Q(environment_action__cipher_set=obj)
            | Q(connection_action__cipher_set=obj)
            | Q(override_cipher_set=obj)
        )
    if isinstance(obj, Keyring):
        return rules.filter(environment_action__keyring=obj)
    raise TypeError(f"not a shared object: {obj!r}")


def shared_object_usage(obj: object) -> Usage:
    rules = _rules_using(obj)
    stack_ids = set(rules.values_list("service__stack_id", flat=True))
    stacks = list(Stack.objects.select_related("lpar").filter(id__in=stack_ids))
    return Usage(rules=rules.count(), stacks=stacks)


def versions_of(*, stack: Stack) -> QuerySet[PolicyVersion]:
    return stack.versions.select_related("author").order_by("-number")
