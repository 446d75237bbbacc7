"""Every URL of the project, requested by every role: allowed or denied as declared here.

ACCESS has one entry per URL name, for each HTTP method the view accepts: the roles that
may use it. A URL added without an entry fails `test_every_url_has_an_entry`, so nobody
forgets to decide who may use it. Each request runs in a transaction that is rolled back,
so every request sees the same data, and a denied write is checked to have changed nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiToken, DirectoryGroupMapping, IdentitySource
from accounts.roles import Role
from accounts.services import directory_group_mapping_create
from policies.models import ChangeRecord, PolicyVersion, Rule, Service
from tests.audits.estate import audits_walk_kwargs
from tests.e2e.estate import Estate, build_estate
from tests.fleet.alerts_support import alerts_walk_kwargs
from tests.fleet.ui_estate import fleet_walk_kwargs
from tests.rollouts.support import rollouts_walk_kwargs

ANONYMOUS = "anonymous"
ARCHITECT = "architect"
OPERATOR = "operator"
AUDITOR = "auditor"
OWNER = "owner of service A"
ADMIN = "admin"
ROLES = (ANONYMOUS, ARCHITECT, OPERATOR, AUDITOR, OWNER, ADMIN)

EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {ANONYMOUS}
ESTATE = frozenset({ARCHITECT, OPERATOR, AUDITOR, ADMIN})
ESTATE_AND_OWNERS = ESTATE | {OWNER}
ARCHITECTS = frozenset({ARCHITECT})
OPERATORS = frozenset({OPERATOR})
NOBODY: frozenset[str] = frozenset()
AUDIT = frozenset({ARCHITECT, AUDITOR})  # Capability.AUDIT
AUDIT_AND_OWNERS = AUDIT | {OWNER}
ADMINS = frozenset({ADMIN})  # Capability.MANAGE_USERS
PLANNERS = ARCHITECTS | OPERATORS  # plan a campaign: Capability.PUBLISH or OPERATE


# URLs whose answer is the login page for everyone: logging out, and single sign-on with
# OpenID Connect off (tests/accounts/test_sso_oidc.py signs in through it when on).
SENDS_TO_LOGIN = frozenset({"logout", "sso:oidc-start", "sso:oidc-callback"})


@dataclass(frozen=True)
class Access:
    """Who may use a URL, per method; a method left out answers 405 to those allowed in."""

    get: frozenset[str] | None = None
    post: frozenset[str] | None = None
    put: frozenset[str] | None = None
    patch: frozenset[str] | None = None
    delete: frozenset[str] | None = None
    # An object that belongs to one persona (an API token): to every other signed-in role
    # it answers 404, as if it did not exist, rather than 403.
    others_see_404: bool = False

    def methods(self) -> dict[str, frozenset[str] | None]:
        return {
            "get": self.get,
            "post": self.post,
            "put": self.put,
            "patch": self.patch,
            "delete": self.delete,
        }


def read(roles: frozenset[str]) -> Access:
    return Access(get=roles)


ACCESS: dict[str, Access] = {
    # --- portal -----------------------------------------------------------------------------
    "dashboard": Access(get=SIGNED_IN, post=SIGNED_IN),
    "login": Access(get=EVERYONE, post=EVERYONE),
    # --- operations (issue 17): balancer probe, Prometheus scrape, exports ---------------------
    # The probe needs no sign-in and tells nothing secret; it answers 503 here (no worker
    # runs), so the walk leaves it to tests/portal/test_ops.py (see UNWALKED).
    "healthz": read(EVERYONE),
    # Only a bearer token opens it (the walk configures one): no session, whatever its role.
    "metrics": read(NOBODY),
    "search": read(ESTATE_AND_OWNERS),
    "export-index": read(ESTATE_AND_OWNERS),
    "export-services": read(ESTATE_AND_OWNERS),
    "export-connections": read(ESTATE_AND_OWNERS),
    "export-certificates": read(ESTATE),
    "export-drift": read(ESTATE),
    "export-incidents": read(ESTATE),
    "export-deployments": read(ESTATE),
    "export-audit-log": read(AUDIT),
    "logout": Access(post=EVERYONE),
    # --- designer (/design/) -----------------------------------------------------------------
    "policies:index": read(ESTATE_AND_OWNERS),
    "policies:service-list": read(ESTATE_AND_OWNERS),
    "policies:service-assign": Access(post=ARCHITECTS),
    "policies:service-create": Access(get=ARCHITECTS, post=ARCHITECTS),
    "policies:service-detail": read(ESTATE_AND_OWNERS),
    "policies:service-edit": Access(get=ARCHITECTS, post=ARCHITECTS),
    "policies:object-list": read(ESTATE),
    "policies:object-create": Access(get=ARCHITECTS, post=ARCHITECTS),
    "policies:object-detail": read(ESTATE),
    "policies:object-edit": Access(get=ARCHITECTS, post=ARCHITECTS),
    "policies:object-preview": Access(post=ARCHITECTS),
    "policies:stack-list": read(ESTATE),
    "policies:stack-detail": read(ESTATE),
    "policies:stack-publish": Access(post=ARCHITECTS),
    "policies:stack-tester": read(ESTATE),
    "policies:version-list": read(ESTATE),
    "policies:version-detail": read(ESTATE),
    "policies:version-download": read(ESTATE),
    "policies:import": Access(get=ARCHITECTS, post=ARCHITECTS),
    "policies:import-apply": Access(post=ARCHITECTS),
    # --- REST API (/api/) ------------------------------------------------------------------
    "policies-api:lpar-list": Access(get=ESTATE, post=ARCHITECTS),
    "policies-api:lpar-detail": read(ESTATE),
    "policies-api:stack-list": Access(get=ESTATE, post=ARCHITECTS),
    "policies-api:stack-detail": read(ESTATE),
    "policies-api:stack-draft": read(ESTATE),
    "policies-api:stack-publish": Access(post=ARCHITECTS),
    "policies-api:stack-release": Access(post=ARCHITECTS),
    "policies-api:stack-versions": read(ESTATE),
    "policies-api:stack-version": read(ESTATE),
    "policies-api:stack-version-text": read(ESTATE),
    "policies-api:service-list": Access(get=ESTATE_AND_OWNERS, post=ARCHITECTS),
    "policies-api:service-detail": Access(
        get=ESTATE_AND_OWNERS, put=ARCHITECTS, patch=ARCHITECTS, delete=ARCHITECTS
    ),
    "policies-api:rule-list": read(ESTATE_AND_OWNERS),
    "policies-api:rule-detail": read(ESTATE_AND_OWNERS),
    **{
        f"policies-api:{kind}-list": Access(get=ESTATE, post=ARCHITECTS)
        for kind in (
            "keyring",
            "cipher-set",
            "group-action",
            "environment-action",
            "connection-action",
        )
    },
    **{
        f"policies-api:{kind}-detail": Access(
            get=ESTATE, put=ARCHITECTS, patch=ARCHITECTS, delete=ARCHITECTS
        )
        for kind in (
            "keyring",
            "cipher-set",
            "group-action",
            "environment-action",
            "connection-action",
        )
    },
    "policies-api:schema": read(SIGNED_IN),
    # --- fleet (/fleet/) ---------------------------------------------------------------------
    "fleet:deployments": read(ESTATE),
    "fleet:deployment-new": Access(get=OPERATORS, post=OPERATORS),
    "fleet:deployment": read(ESTATE),
    "fleet:deployment-approve": Access(post=OPERATORS),
    "fleet:deployment-reject": Access(post=OPERATORS),
    "fleet:deployment-cancel": Access(post=OPERATORS),
    "fleet:deployment-acknowledge-overwrite": Access(post=OPERATORS),
    "fleet:stack-baseline": read(ESTATE),
    "fleet:drift-acknowledge": Access(post=OPERATORS),
    "fleet:stack": read(ESTATE),
    "fleet:stack-verify": Access(post=OPERATORS),
    "fleet:stack-rollback": Access(get=OPERATORS, post=OPERATORS),
    "fleet:stack-remove-rule": Access(get=OPERATORS, post=OPERATORS),
    "fleet:verification": read(ESTATE),
    "fleet:verification-output": read(ESTATE),
    "fleet:drift": read(ESTATE),
    "fleet:certificates": read(ESTATE),
    "fleet:incidents": read(ESTATE_AND_OWNERS),
    # The walk's incident is of no service: an owner sees only their services' (404).
    "fleet:incident": Access(get=ESTATE, others_see_404=True),
    "fleet:incident-remove-rule": Access(post=ARCHITECTS),
    "fleet:connections": read(OPERATORS),
    "fleet:connection-edit": Access(get=OPERATORS, post=OPERATORS),
    "fleet:my-services": read(ESTATE_AND_OWNERS),
    "fleet:inventory": read(ESTATE_AND_OWNERS),
    "fleet:inventory-csv": read(ESTATE_AND_OWNERS),
    # Change impact: excluding breaking services publishes (architects); the walk's request
    # has no peer that breaks, so the architect is told there is nothing to exclude.
    "fleet:deployment-exclude-breaking": Access(post=ARCHITECTS),
    "fleet:impact-scores": read(ESTATE),
    "fleet:impact-draft": read(ESTATE),
    "fleet:impact-version": read(ESTATE),
    # An owner sees the peers of their own services on the stack (owen's are on SYSA).
    "fleet:stack-peers": read(ESTATE_AND_OWNERS),
    # --- fleet REST API (/api/fleet/) ------------------------------------------------------------
    "fleet-api:stack-list": read(ESTATE),
    "fleet-api:stack-detail": read(ESTATE),
    "fleet-api:stack-verify": Access(post=OPERATORS),
    "fleet-api:stack-rollback": Access(post=OPERATORS),
    "fleet-api:stack-remove-rule": Access(post=OPERATORS),
    "fleet-api:deployment-list": Access(get=ESTATE, post=OPERATORS),
    "fleet-api:deployment-detail": read(ESTATE),
    "fleet-api:deployment-approve": Access(post=OPERATORS),
    "fleet-api:deployment-reject": Access(post=OPERATORS),
    "fleet-api:deployment-cancel": Access(post=OPERATORS),
    "fleet-api:deployment-acknowledge-overwrite": Access(post=OPERATORS),
    "fleet-api:verification-list": read(ESTATE),
    "fleet-api:verification-detail": read(ESTATE),
    "fleet-api:drift-event-list": read(ESTATE),
    "fleet-api:drift-event-detail": read(ESTATE),
    "fleet-api:drift-event-acknowledge": Access(post=OPERATORS),
    "fleet-api:certificate-list": read(ESTATE),
    "fleet-api:incident-list": read(ESTATE_AND_OWNERS),
    "fleet-api:incident-detail": Access(get=ESTATE, others_see_404=True),
    "fleet-api:connection-list": read(OPERATORS),
    "fleet-api:connection-detail": read(OPERATORS),
    "fleet-api:my-service-list": read(ESTATE_AND_OWNERS),
    # --- campaign pages (/campaigns/): the estate follows, planners plan, operators act -------
    "rollouts:campaigns": read(ESTATE),
    "rollouts:campaign": read(ESTATE),
    "rollouts:campaign-baseline": Access(post=PLANNERS),
    "rollouts:campaign-new": Access(get=PLANNERS, post=PLANNERS),
    "rollouts:campaign-gates": Access(get=PLANNERS, post=PLANNERS),
    "rollouts:campaign-cohorts": Access(get=PLANNERS),
    **{
        f"rollouts:cohort-{action}": Access(post=PLANNERS)
        for action in ("move-service", "add", "rename", "remove", "move")
    },
    "rollouts:campaign-design-complete": Access(post=PLANNERS),
    **{
        f"rollouts:campaign-{action}": Access(post=OPERATORS)
        for action in (
            "promote",
            "approve",
            "pause",
            "resume",
            "skip-gate",
            "approve-skip",
            "abort",
            "request-again",
            "rule-rollback",
        )
    },
    # --- campaigns REST API (/api/campaigns/): the estate reads, planners plan, operators act --
    "rollouts-api:campaign-list": Access(get=ESTATE, post=PLANNERS),
    "rollouts-api:campaign-detail": read(ESTATE),
    "rollouts-api:campaign-report": read(ESTATE),
    "rollouts-api:campaign-settings-update": Access(post=PLANNERS),
    "rollouts-api:campaign-cohort": Access(post=PLANNERS),
    "rollouts-api:campaign-cohort-add": Access(post=PLANNERS),
    "rollouts-api:campaign-cohort-rename": Access(post=PLANNERS),
    "rollouts-api:campaign-cohort-remove": Access(post=PLANNERS),
    "rollouts-api:campaign-cohort-move": Access(post=PLANNERS),
    "rollouts-api:campaign-baseline": Access(post=PLANNERS),
    "rollouts-api:campaign-design-complete": Access(post=PLANNERS),
    "rollouts-api:campaign-promote": Access(post=OPERATORS),
    "rollouts-api:campaign-approve": Access(post=OPERATORS),
    "rollouts-api:campaign-pause": Access(post=OPERATORS),
    "rollouts-api:campaign-resume": Access(post=OPERATORS),
    "rollouts-api:campaign-skip-gate": Access(post=OPERATORS),
    "rollouts-api:campaign-abort": Access(post=OPERATORS),
    "rollouts-api:campaign-request-again": Access(post=OPERATORS),
    "rollouts-api:campaign-rule-rollback": Access(post=OPERATORS),
    "rollouts-api:campaign-auto-promote": Access(post=OPERATORS),
    "rollouts-api:step-list": read(ESTATE),
    "rollouts-api:step-detail": read(ESTATE),
    "rollouts-api:request-list": read(ESTATE),
    "rollouts-api:request-detail": read(ESTATE),
    "rollouts-api:request-approve": Access(post=OPERATORS),
    # The walk's prediction is of SYSA, where owen's services run: he sees it (his peers only).
    "fleet-api:impact-prediction-list": read(ESTATE_AND_OWNERS),
    "fleet-api:impact-prediction-detail": read(ESTATE_AND_OWNERS),
    "fleet-api:impact-prediction-comparison": read(ESTATE_AND_OWNERS),
    "fleet-api:impact-prediction-scores": read(ESTATE),
    "fleet-api:impact-predict-list": Access(post=ESTATE),
    # --- audits (/audits/ and its API /audits/api/) ------------------------------------------
    # The walk's pack and assessment are of owen's service: he may open them; an estate pack
    # would answer him 404 (its existence is not told), which the walk cannot declare.
    "audits:index": Access(get=AUDIT_AND_OWNERS, post=AUDIT_AND_OWNERS),
    "audits:assessment-pack": Access(post=AUDIT_AND_OWNERS),
    "audits:pack": read(AUDIT_AND_OWNERS),
    "audits:pack-download": read(AUDIT_AND_OWNERS),
    "audits:verify": Access(get=SIGNED_IN, post=SIGNED_IN),
    "audits:log": read(AUDIT),
    "audits:log-chain": read(AUDIT),
    "audits:api-pack-list": Access(get=AUDIT_AND_OWNERS, post=AUDIT_AND_OWNERS),
    "audits:api-pack-detail": read(AUDIT_AND_OWNERS),
    "audits:api-pack-pdf": read(AUDIT_AND_OWNERS),
    "audits:api-pack-oscal": read(AUDIT_AND_OWNERS),
    "audits:api-verify": Access(post=SIGNED_IN),
    "policies-api:docs": read(SIGNED_IN),
    # --- accounts (/accounts/ and the token API under /api/) -----------------------------------
    # Anyone signed in manages their own API tokens; users, roles and lock-outs are the admin's.
    "accounts:tokens": Access(get=SIGNED_IN, post=SIGNED_IN),
    "accounts:users": read(ADMINS),
    "accounts:user-create": Access(get=ADMINS, post=ADMINS),
    "accounts:lockout-lift": Access(post=ADMINS),
    "accounts:user": Access(get=ADMINS, post=ADMINS),
    "accounts:user-password": Access(post=ADMINS),
    "accounts:user-active": Access(post=ADMINS),
    # The directory-group mapping (single sign-on) is the admin's too.
    "accounts:group-mappings": Access(get=ADMINS, post=ADMINS),
    "accounts:group-mapping": Access(get=ADMINS, post=ADMINS),
    "accounts:group-mapping-delete": Access(post=ADMINS),
    # Single sign-on with OpenID Connect: anyone may start it; with OIDC off (as in the walk)
    # both answer with the login page and a message saying so.
    "sso:oidc-start": read(EVERYONE),
    "sso:oidc-callback": read(EVERYONE),
    # --- alerts: the estate reads deliveries, operators and admins retry, admins configure --
    "alerts:deliveries": read(ESTATE),
    "alerts:delivery-retry": Access(post=OPERATORS | ADMINS),
    "alerts:channels": read(ADMINS),
    "alerts:channel-new": Access(get=ADMINS, post=ADMINS),
    "alerts:channel": Access(get=ADMINS, post=ADMINS),
    "alerts-api:channel-list": Access(get=ADMINS, post=ADMINS),
    "alerts-api:channel-detail": Access(get=ADMINS, put=ADMINS, patch=ADMINS),
    "alerts-api:delivery-list": read(ESTATE),
    "alerts-api:delivery-detail": read(ESTATE),
    "alerts-api:delivery-retry": Access(post=OPERATORS | ADMINS),
    # Anyone may ask for a token (with a password); a signed-in user may revoke theirs.
    "accounts-api:token": Access(post=EVERYONE, delete=SIGNED_IN),
    "accounts-api:token-list": read(SIGNED_IN),
    "accounts-api:group-mapping-list": Access(get=ADMINS, post=ADMINS),
    "accounts-api:group-mapping-detail": Access(get=ADMINS, put=ADMINS, delete=ADMINS),
    # The walk's token is owen's.
    "accounts-api:token-detail": Access(
        get=frozenset({OWNER}), delete=frozenset({OWNER}), others_see_404=True
    ),
}


# Declared above but not requested by the walk, with the reason and the test that covers it.
UNWALKED = {"healthz": "503 without a running worker and beat; tests/portal/test_ops.py"}


# --- the URL patterns -------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    params: tuple[str, ...]


def _params(pattern: URLPattern | URLResolver) -> list[str]:
    regex = pattern.pattern.regex
    return list(regex.groupindex)


def walk(
    patterns: list[Any] | None = None, namespace: str = "", params: tuple[str, ...] = ()
) -> Iterator[Route | str]:
    """Every pattern as a Route, or the text of a pattern that has no name."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        here = (*params, *_params(pattern))
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, inner, here)
        elif pattern.name is None:
            yield str(pattern.pattern)
        else:
            yield Route(f"{namespace}{pattern.name}", here)


def routes() -> dict[str, list[Route]]:
    found: dict[str, list[Route]] = {}
    for route in walk():
        if isinstance(route, Route):
            found.setdefault(route.name, []).append(route)
    return found


# --- the data every request works on ------------------------------------------------------------

SHARED_NAMES = {
    "keyring": "ringShared",
    "cipher-set": "ciphersAead",
    "group-action": "grpMaster",
    "environment-action": "envTls12_13",
    "connection-action": "connClient",
}


# Path parameters of a URL that the generic rules below cannot fill (another app's objects):
# the URL name -> a function of the estate giving its kwargs. Add the objects to `estate`.
KWARGS: dict[str, Callable[[Estate], dict[str, Any]]] = {
    f"export-{name}": (lambda estate: {"fmt": "csv"})
    for name in (
        "services",
        "connections",
        "certificates",
        "drift",
        "incidents",
        "deployments",
        "audit-log",
    )
}


def url_kwargs(route: Route, estate: Estate) -> dict[str, Any]:
    """A value for each path parameter, from the estate; unknown parameters fail loudly."""
    if route.name in KWARGS:
        return KWARGS[route.name](estate)
    if route.name in getattr(estate, "fleet", {}):
        return estate.fleet[route.name]
    app, _, name = route.name.partition(":")
    designer = app in ("policies", "policies-api")
    service_a = estate.services["CICSWEB1"]
    resource = name.rsplit("-", 1)[0]
    values: dict[str, Any] = {}
    for param in route.params:
        value: Any = None
        if param == "format":
            value = "json"
        elif designer and param == "lpar":
            value = "SYSA"
        elif designer and param == "stack":
            value = "TCPIP" if "lpar" in route.params else "SYSA/TCPIP"
        elif designer and param == "number":
            value = 1
        elif designer and param == "kind":
            value = "environment-action"
        elif designer and param == "uuid":
            value = estate.objects["environment"].uuid if "object" in name else service_a.uuid
        elif designer and param == "service":
            value = service_a.uuid
        elif designer and param == "name":
            value = "SYSA"
        elif designer and param == "name_or_uuid":
            value = SHARED_NAMES[resource]
        if value is None:
            raise AssertionError(
                f"the role walk has no value for <{param}> of {route.name}:"
                " add the URL to KWARGS (and what it needs to the estate fixture)"
            )
        values[param] = value
    return values


@pytest.fixture
def estate(make_user, settings, tmp_path) -> Estate:
    # /metrics exists only with a token; the walk's sessions do not hold it.
    settings.OPS_METRICS_TOKEN = "walk-metrics-token-0123456789abcdef0123"
    owner = make_user("owen", Role.APP_OWNER)
    built = build_estate(make_user("ada", Role.ARCHITECT), owner=owner)
    built.fleet = fleet_walk_kwargs(built, make_user)  # type: ignore[attr-defined]
    settings.EVIDENCE_DIR = tmp_path / "evidence"
    built.fleet.update(audits_walk_kwargs(built, make_user, settings.EVIDENCE_DIR))  # type: ignore[attr-defined]
    built.fleet.update(accounts_walk_kwargs(owner))  # type: ignore[attr-defined]
    built.fleet.update(alerts_walk_kwargs(built, make_user))  # type: ignore[attr-defined]
    built.fleet.update(rollouts_walk_kwargs(built))  # type: ignore[attr-defined]
    assert list(estate_service_owners(built)) == ["CICSWEB1", "CICSWEB2", "CICSWEBB"]
    return built


def accounts_walk_kwargs(owner: User) -> dict[str, dict[str, Any]]:
    """The user pages show owen; the token is one of his; the mapping page shows one group."""
    token, _ = ApiToken.objects.create(user=owner, name="walk")
    user = {"username": owner.username}
    mapping = directory_group_mapping_create(
        actor=None,
        source=IdentitySource.LDAP,
        group="cn=zos-operators,ou=groups,o=bank",
        roles=[Role.OPERATOR],
    )
    return {
        "accounts:group-mapping": {"uuid": mapping.uuid},
        "accounts:group-mapping-delete": {"uuid": mapping.uuid},
        "accounts-api:group-mapping-detail": {"uuid": mapping.uuid},
        "accounts:user": user,
        "accounts:user-password": user,
        "accounts:user-active": user,
        "accounts-api:token-detail": {"uuid": token.uuid},
    }


def estate_service_owners(estate: Estate) -> list[str]:
    return sorted(s.name for s in Service.objects.filter(owners__username="owen"))


@pytest.fixture
def clients(estate, make_user) -> dict[str, Client]:
    users: dict[str, User | None] = {
        ANONYMOUS: None,
        ARCHITECT: User.objects.get(username="ada"),
        OPERATOR: make_user("olivia", Role.OPERATOR),
        AUDITOR: make_user("audrey", Role.AUDITOR),
        OWNER: User.objects.get(username="owen"),
        ADMIN: make_user("adam", Role.ADMIN),
    }
    made = {}
    for role, user in users.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        made[role] = client
    return made


def state() -> tuple[object, ...]:
    """The design, and the accounts: users, their roles, services, passwords and tokens."""
    return (
        ChangeRecord.objects.count(),
        PolicyVersion.objects.count(),
        Service.objects.count(),
        Rule.objects.count(),
        sum(Service.objects.values_list("revision", flat=True)),
        tuple(User.objects.order_by("pk").values_list("pk", "is_active", "password", "email")),
        tuple(User.groups.through.objects.order_by("pk").values_list("user_id", "group_id")),
        tuple(Service.owners.through.objects.order_by("pk").values_list("user_id", "service_id")),
        tuple(ApiToken.objects.order_by("digest").values_list("digest", flat=True)),
        AccessAttempt.objects.count(),
        tuple(DirectoryGroupMapping.objects.order_by("pk").values_list("pk", "group", "roles")),
        tuple(
            DirectoryGroupMapping.services.through.objects.order_by("pk").values_list(
                "directorygroupmapping_id", "service_id"
            )
        ),
    )


def request(client: Client, method: str, url: str) -> tuple[int, str, tuple[object, ...]]:
    """The status, redirect target and design state after the request, then rolled back.

    The client's cookies are put back too: a logout or login must not sign the persona
    out (or in) for the requests that follow.
    """
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        kwargs: dict[str, Any] = {}
        if method in ("put", "patch"):
            kwargs["content_type"] = "application/json"
            kwargs["data"] = "{}"
        response = getattr(client, method)(url, **kwargs)
        after = state()
        transaction.set_rollback(True)
    client.cookies = cookies
    return response.status_code, response.get("Location", ""), after


# --- the walk ------------------------------------------------------------------------------------


def verdict(
    *,
    name: str,
    role: str,
    allowed: frozenset[str] | None,
    status: int,
    location: str,
    changed: bool,
    others_see_404: bool = False,
) -> str | None:
    """What is wrong with the answer, or None when it is the declared one."""
    to_login = status in (301, 302, 303) and location.startswith(reverse("login"))
    if allowed is not None and role in allowed:
        if status >= 500 or status in (401, 403, 404, 405):
            return f"allowed, but answered {status}"
        if to_login and name not in SENDS_TO_LOGIN:
            return "allowed, but sent to the login page"
        return None
    if role == ANONYMOUS:
        refused = to_login or status in (401, 403) or (allowed is None and status == 405)
    elif allowed is None:
        refused = status in (403, 405)  # the method is not accepted at all
    else:
        # 401: the URL wants another credential than the session (a bearer token).
        refused = status in (401, 403) or (others_see_404 and status == 404)
    if not refused:
        return f"denied, but answered {status}"
    if changed:
        return "denied, but the design changed"
    return None


def test_every_url_has_an_entry() -> None:
    unnamed = [pattern for pattern in walk() if isinstance(pattern, str)]
    assert not unnamed, f"URL patterns without a name cannot be declared: {unnamed}"
    found = set(routes())
    missing = sorted(found - set(ACCESS))
    assert not missing, f"declare in ACCESS who may use: {missing}"
    stale = sorted(set(ACCESS) - found)
    assert not stale, f"ACCESS declares URLs that no longer exist: {stale}"


def test_each_role_gets_what_the_table_declares(clients, estate) -> None:
    """One walk over every URL (one estate to build, not one per URL); all failures listed."""
    before = state()
    failures = []
    walked = 0
    for name, found in sorted(routes().items()):
        access = ACCESS.get(name)
        if access is None or name in UNWALKED:
            continue  # test_every_url_has_an_entry reports it
        for route in found:
            url = reverse(name, kwargs=url_kwargs(route, estate))
            for method, allowed in access.methods().items():
                if allowed is None and method not in ("get", "post"):
                    continue  # PUT, PATCH and DELETE are walked where some role may use them
                for role in ROLES:
                    status, location, after = request(clients[role], method, url)
                    walked += 1
                    problem = verdict(
                        name=name,
                        role=role,
                        allowed=allowed,
                        status=status,
                        location=location,
                        changed=method != "get" and after != before,
                        others_see_404=access.others_see_404,
                    )
                    if problem:
                        failures.append(f"{method.upper()} {url} as {role}: {problem}")
    assert walked > len(ACCESS) * len(ROLES)
    assert not failures, f"{len(failures)} of {walked} requests:\n" + "\n".join(failures)
