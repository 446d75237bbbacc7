"""Import an existing AT-TLS policy file into the design of one stack.

Two steps, so nothing is saved until a person has read what will happen:

1. `import_preview(stack=..., text=...)` parses the file (a syntax error raises
   PolicySyntaxError with every line and column; nothing is touched) and returns an
   ImportReport: which statement becomes which object, which parameters the design does
   not carry (and so would be lost), and which names clash with existing objects.
2. `import_apply(...)` repeats the preview on the same text (checked by its SHA-256),
   refuses when anything clashes or cannot be represented, and otherwise creates every
   object in one transaction, recording each creation in the change log.

What Policy Agent tolerates (a repeated parameter, a block given inline and by reference, a
number for an address...) is listed as a warning with its line; the comment just before a
TTLSRule becomes the description of the service it is imported as.

Protocol switches are imported as their effective values on the stack's z/OS release: a
file that leaves TLSv1 unset has it On on 3.1 (the AT-TLS default there), Off on 3.2, and
the design says so explicitly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from attls.ciphers import Protocol
from attls.effective import resolve_block
from attls.errors import Problem
from attls.lint import Finding
from attls.policy import (
    Policy,
    TTLSConnectionAction,
    TTLSEnvironmentAction,
    TTLSRule,
    parse_policy,
)
from attls.policy.serialize import statement_to_dict
from attls.releases import get_release
from policies import services
from policies.lint import design_lint
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Service,
    Stack,
)
from policies.services import Actor

# Environment parameters the design carries; anything else in the file is reported as lost.
_ENVIRONMENT_CARRIED = {
    "HandshakeRole",
    "EnvironmentUserInstance",
    "TTLSKeyringParms",
    "TTLSKeyringParmsRef",
    "TTLSCipherParms",
    "TTLSCipherParmsRef",
    "TTLSEnvironmentAdvancedParms",
    "TTLSEnvironmentAdvancedParmsRef",
    "TTLSSignatureParms",
    "TTLSSignatureParmsRef",
    "TTLSGskAdvancedParms",
    "TTLSGskAdvancedParmsRef",
}
_ENV_ADVANCED_CARRIED = {
    "SSLv2",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "ClientAuthType",
    "CertValidationMode",
    "Renegotiation",
    "HandshakeTimeout",
    "MiddleBoxCompatMode",
    "CertificateLabel",
    "PeerMinCertVersion",
    "PeerMinRsaKeySize",
    "PeerMinECCKeySize",
    "PeerMinDHKeySize",
    "PeerMinDsaKeySize",
}
_SIGNATURE_CARRIED = {
    "ServerKexECurves",
    "ServerKeyShareGroups",
    "ClientECurves",
    "ClientKeyShareGroups",
    "SignaturePairs",
}
_GSK_CARRIED = {"RevocationSecurityLevel", "TTLSGskOcspParms", "TTLSGskOcspParmsRef"}
_OCSP_CARRIED = {"OcspAiaEnable", "OcspUrl", "OcspServerStapling"}
# Nested blocks of an environment action whose own parameters are checked, by path.
_ENVIRONMENT_NESTED = {
    "TTLSEnvironmentAdvancedParms": _ENV_ADVANCED_CARRIED,
    "TTLSSignatureParms": _SIGNATURE_CARRIED,
    "TTLSGskAdvancedParms": _GSK_CARRIED,
    "TTLSGskAdvancedParms.TTLSGskOcspParms": _OCSP_CARRIED,
}
_CONNECTION_CARRIED = {
    "HandshakeRole",
    "TTLSCipherParms",
    "TTLSCipherParmsRef",
    "TTLSConnectionAdvancedParms",
    "TTLSConnectionAdvancedParmsRef",
}
_CONN_ADVANCED_CARRIED = {"TLSv1.2", "TLSv1.3", "CertificateLabel"}
_GROUP_CARRIED = {"TTLSEnabled", "Trace", "FIPS140"}
_RULE_CARRIED = {
    "LocalAddr",
    "RemoteAddr",
    "RemoteAddrRef",
    "LocalPortRange",
    "LocalPortRangeRef",
    "RemotePortRange",
    "RemotePortRangeRef",
    "Jobname",
    "Userid",
    "Direction",
    "Priority",
    "TTLSGroupActionRef",
    "TTLSEnvironmentActionRef",
    "TTLSConnectionActionRef",
}


@dataclass
class ImportItem:
    """One statement of the file and what it becomes."""

    statement: str  # e.g. TTLSEnvironmentAction
    name: str
    becomes: str  # e.g. "environment action", "service and rule"
    status: str  # "new", "same as existing" or "clash"
    detail: str = ""
    lost: list[str] = field(default_factory=list)  # parameters the design does not carry


@dataclass
class ImportReport:
    stack: Stack
    sha256: str
    items: list[ImportItem]
    unsupported: list[str]  # rules that cannot be represented: the import is refused
    dropped: list[str]  # condition objects the design does not keep
    # Lint of the file as it stands, against the NIST SP 800-52r2 profile too (policies.lint).
    findings: list[Finding] = field(default_factory=list)
    # What Policy Agent accepts in the file but a person should fix, each with its line
    # and what Policy Agent makes of it (attls lint code pagent-tolerated).
    warnings: list[Problem] = field(default_factory=list)
    # Service name -> the description taken from the comment just before its TTLSRule.
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def clashes(self) -> list[ImportItem]:
        return [item for item in self.items if item.status == "clash"]

    @property
    def can_apply(self) -> bool:
        return not self.clashes and not self.unsupported

    @property
    def lost_parameters(self) -> int:
        return sum(len(item.lost) for item in self.items)


class ImportRefused(Exception):
    def __init__(self, message: str, report: ImportReport | None = None) -> None:
        self.report = report
        super().__init__(message)


def _lost(statement: object, carried: set[str], nested: dict[str, set[str]]) -> list[str]:
    return _lost_in(statement_to_dict(statement), carried, nested, "")  # type: ignore[arg-type]


def _lost_in(
    data: dict[str, Any], carried: set[str], nested: dict[str, set[str]], prefix: str
) -> list[str]:
    lost: list[str] = []
    for keyword, value in data.items():
        if keyword in ("statement", "name"):
            continue
        path = f"{prefix}{keyword}"
        if keyword not in carried:
            lost.append(path)
        elif path in nested and isinstance(value, dict):
            lost.extend(_lost_in(value, nested[path], nested, f"{path}."))
    return lost


def _environment_fields(policy: Policy, env: TTLSEnvironmentAction, release: str) -> dict[str, Any]:
    advanced = resolve_block(env.advanced, env.advanced_ref, policy.environment_advanced_parms)
    protocols = dict(get_release(release).protocols)
    if advanced is not None:
        for protocol, attribute in (
            (Protocol.SSLV3, "sslv3"),
            (Protocol.TLSV1, "tlsv1"),
            (Protocol.TLSV1_1, "tlsv1_1"),
            (Protocol.TLSV1_2, "tlsv1_2"),
            (Protocol.TLSV1_3, "tlsv1_3"),
        ):
            value = getattr(advanced, attribute)
            if value is not None:
                protocols[protocol] = value
    fields: dict[str, Any] = {
        "handshake_role": env.handshake_role or "Server",
        "sslv3": protocols[Protocol.SSLV3],
        "tlsv1": protocols[Protocol.TLSV1],
        "tlsv1_1": protocols[Protocol.TLSV1_1],
        "tlsv1_2": protocols[Protocol.TLSV1_2],
        "tlsv1_3": protocols[Protocol.TLSV1_3],
        "environment_user_instance": env.environment_user_instance or 0,
    }
    if advanced is not None:
        for attribute in (
            "client_auth_type",
            "cert_validation_mode",
            "renegotiation",
            "handshake_timeout",
            "middle_box_compat_mode",
            "certificate_label",
            *EnvironmentAction.PEER_MIN_FIELDS,
        ):
            value = getattr(advanced, attribute)
            if value is not None:
                fields[attribute] = value
    signature = resolve_block(env.signature, env.signature_ref, policy.signature_parms)
    if signature is not None:
        for attribute in EnvironmentAction.SIGNATURE_FIELDS:
            codes = getattr(signature, attribute)
            if codes:
                fields[attribute] = list(codes)
    gsk = resolve_block(env.gsk_advanced, env.gsk_advanced_ref, policy.gsk_advanced_parms)
    if gsk is not None:
        if gsk.revocation_security_level is not None:
            fields["revocation_security_level"] = gsk.revocation_security_level
        ocsp = resolve_block(gsk.gsk_ocsp, gsk.gsk_ocsp_ref, policy.gsk_ocsp_parms)
        if ocsp is not None:
            for attribute in EnvironmentAction.OCSP_FIELDS:
                value = getattr(ocsp, attribute)
                if value is not None:
                    fields[attribute] = value
    return fields


def _compare(model: type, name: str, fields: dict[str, Any]) -> tuple[str, str]:
    existing = model.objects.filter(name=name).first()  # type: ignore[attr-defined]
    if existing is None:
        return "new", ""
    differing = [
        key
        for key, value in fields.items()
        if not key.endswith("_name") and getattr(existing, key, value) != value
    ]
    if differing:
        return (
            "clash",
            f"an existing {model.__name__} of this name differs in {', '.join(differing)}",
        )
    return "same as existing", "the existing object will be used"


@dataclass
class _Plan:
    """What import_apply will create, in order."""

    report: ImportReport
    keyrings: dict[str, dict[str, Any]]
    cipher_sets: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    environments: dict[str, dict[str, Any]]
    connections: dict[str, dict[str, Any]]
    rules: dict[str, dict[str, Any]]


def _plan(stack: Stack, text: str) -> _Plan:
    policy = parse_policy(text, source="import")
    items: list[ImportItem] = []
    unsupported: list[str] = []

    keyrings: dict[str, dict[str, Any]] = {
        name: {"name": name, "ring": parms.keyring or ""}
        for name, parms in policy.keyring_parms.items()
    }
    cipher_sets: dict[str, dict[str, Any]] = {
        name: {"name": name, "suites": list(parms.v3_cipher_suites)}
        for name, parms in policy.cipher_parms.items()
    }
    environments: dict[str, dict[str, Any]] = {}
    for name, env in policy.environment_actions.items():
        fields = _environment_fields(policy, env, stack.zos_release)
        if env.keyring is not None:  # an inline keyring becomes a keyring of its own
            ring_name = (env.keyring.name or f"{name}~ring")[:32]
            keyrings.setdefault(ring_name, {"name": ring_name, "ring": env.keyring.keyring or ""})
            fields["keyring_name"] = ring_name
        else:
            fields["keyring_name"] = env.keyring_ref
        if env.cipher is not None:
            cipher_name = (env.cipher.name or f"{name}~ciphers")[:32]
            cipher_sets.setdefault(
                cipher_name, {"name": cipher_name, "suites": list(env.cipher.v3_cipher_suites)}
            )
            fields["cipher_set_name"] = cipher_name
        else:
            fields["cipher_set_name"] = env.cipher_ref
        environments[name] = {"name": name, **fields}
        status, detail = _compare(EnvironmentAction, name, {"name": name, **fields})
        lost = _lost(env, _ENVIRONMENT_CARRIED, _ENVIRONMENT_NESTED)
        items.append(
            ImportItem("TTLSEnvironmentAction", name, "environment action", status, detail, lost)
        )

    connections: dict[str, dict[str, Any]] = {}
    for name, conn in policy.connection_actions.items():
        fields = _connection_fields(policy, conn, cipher_sets, name)
        connections[name] = {"name": name, **fields}
        status, detail = _compare(ConnectionAction, name, {"name": name, **fields})
        lost = _lost(
            conn, _CONNECTION_CARRIED, {"TTLSConnectionAdvancedParms": _CONN_ADVANCED_CARRIED}
        )
        items.append(
            ImportItem("TTLSConnectionAction", name, "connection action", status, detail, lost)
        )

    groups: dict[str, dict[str, Any]] = {}
    for name, group in policy.group_actions.items():
        fields = {
            "name": name,
            "ttls_enabled": bool(group.ttls_enabled),
            "trace": group.trace if group.trace is not None else 2,
            "fips140": bool(group.fips140),
        }
        groups[name] = fields
        status, detail = _compare(GroupAction, name, fields)
        items.append(
            ImportItem(
                "TTLSGroupAction",
                name,
                "group action",
                status,
                detail,
                _lost(group, _GROUP_CARRIED, {}),
            )
        )
    for name, fields in keyrings.items():
        status, detail = _compare(Keyring, name, fields)
        items.append(ImportItem("TTLSKeyringParms", name, "key ring", status, detail))
    for name, fields in cipher_sets.items():
        status, detail = _compare(CipherSet, name, fields)
        items.append(ImportItem("TTLSCipherParms", name, "cipher set", status, detail))

    rules: dict[str, dict[str, Any]] = {}
    descriptions: dict[str, str] = {}
    for name, rule in policy.rules.items():
        fields, problem = _rule_fields(policy, rule)
        if problem:
            unsupported.append(f"TTLSRule '{name}': {problem}")
            continue
        description = comment_description(policy.comments.get(("rules", name)))
        if description:
            fields["description"] = descriptions[name] = description
        rules[name] = fields
        exists = Service.objects.filter(stack=stack, name=name).exists()
        items.append(
            ImportItem(
                "TTLSRule",
                name,
                "service and rule",
                "clash" if exists else "new",
                f"{stack.label} already has a service named {name}" if exists else "",
                _lost(rule, _RULE_CARRIED, {}),
            )
        )
    # Condition objects are resolved into the rules that use them; the ones the designer
    # cannot model (sets, groups, time conditions) are dropped, and said so.
    dropped = [
        f"{statement.STATEMENT} '{name}'"
        for collection in ("ip_addr_sets", "ip_addr_groups", "port_groups", "ip_time_conditions")
        for name, statement in policy.collection(collection).items()
    ]

    report = ImportReport(
        stack=stack,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        items=items,
        unsupported=unsupported,
        dropped=dropped,
        findings=design_lint(policy, release=stack.zos_release),
        warnings=list(policy.warnings),
        descriptions=descriptions,
    )
    return _Plan(report, keyrings, cipher_sets, groups, environments, connections, rules)


# A comment line that only draws a rule or a box (`#####`, `#-----`, `# *****`).
_DECORATION = re.compile(r"[#*=\-_~+\s]*")


def comment_description(comment: str | None) -> str:
    """A service description from the comment lines before a rule: the text without `#`
    marks and without lines that only draw a line or a box."""
    if not comment:
        return ""
    lines = [line.lstrip("#").strip() for line in comment.split("\n")]
    kept = [line for line in lines if line and not _DECORATION.fullmatch(line)]
    return "\n".join(kept)


def _connection_fields(
    policy: Policy,
    conn: TTLSConnectionAction,
    cipher_sets: dict[str, dict[str, Any]],
    name: str,
) -> dict[str, Any]:
    advanced = resolve_block(conn.advanced, conn.advanced_ref, policy.connection_advanced_parms)

    def tri(value: bool | None) -> str:
        return "" if value is None else ("On" if value else "Off")

    cipher_name = conn.cipher_ref
    if conn.cipher is not None:
        cipher_name = (conn.cipher.name or f"{name}~ciphers")[:32]
        cipher_sets.setdefault(
            cipher_name, {"name": cipher_name, "suites": list(conn.cipher.v3_cipher_suites)}
        )
    return {
        "handshake_role": conn.handshake_role or "",
        "tlsv1_2": tri(advanced.tlsv1_2 if advanced else None),
        "tlsv1_3": tri(advanced.tlsv1_3 if advanced else None),
        "certificate_label": (advanced.certificate_label if advanced else None) or "",
        "cipher_set_name": cipher_name,
    }


def _rule_fields(policy: Policy, rule: TTLSRule) -> tuple[dict[str, Any], str]:
    for unsupported in (
        "local_addr_ref",
        "local_addr_set_ref",
        "local_addr_group_ref",
        "remote_addr_set_ref",
        "remote_addr_group_ref",
        "local_port_group_ref",
        "remote_port_group_ref",
        "ip_time_condition",
        "ip_time_condition_ref",
    ):
        if getattr(rule, unsupported) is not None:
            return {}, f"uses {unsupported.replace('_', ' ')}, which the designer cannot model yet"
    if rule.local_addr is not None and not rule.local_addr.is_all:
        return {}, "has a LocalAddr condition, which the designer cannot model yet"
    remote = rule.remote_addr
    if rule.remote_addr_ref is not None:
        remote = policy.ip_addrs[rule.remote_addr_ref].addr
    local_ports = rule.local_port_range
    if rule.local_port_range_ref is not None:
        local_ports = policy.port_ranges[rule.local_port_range_ref].port
    remote_ports = rule.remote_port_range
    if rule.remote_port_range_ref is not None:
        remote_ports = policy.port_ranges[rule.remote_port_range_ref].port
    return {
        "name": rule.name,
        "jobname": rule.jobname or "",
        "userid": rule.userid or "",
        "local_port_low": local_ports.low if local_ports else 0,
        "local_port_high": local_ports.high if local_ports else 0,
        "remote_address": str(remote) if remote is not None else "All",
        "remote_port_low": remote_ports.low if remote_ports else 0,
        "remote_port_high": remote_ports.high if remote_ports else 0,
        "direction": rule.direction,
        "priority": rule.effective_priority,
        "group_action_name": rule.group_action_ref,
        "environment_action_name": rule.environment_action_ref,
        "connection_action_name": rule.connection_action_ref,
    }, ""


def import_preview(*, stack: Stack, text: str) -> ImportReport:
    """What importing `text` into `stack` would do. Raises PolicySyntaxError on bad syntax."""
    return _plan(stack, text).report


@transaction.atomic
def import_apply(*, actor: Actor, stack: Stack, text: str, sha256: str) -> ImportReport:
    """Creates what the preview showed. `sha256` is the digest the preview reported."""
    plan = _plan(stack, text)
    report = plan.report
    if report.sha256 != sha256:
        raise ImportRefused("The file is not the one that was previewed; preview it again.")
    if not report.can_apply:
        raise ImportRefused(
            "The import has clashes or statements the designer cannot represent; nothing was"
            " saved.",
            report,
        )

    def get_or_create(model: type, fields: dict[str, Any]) -> Any:
        existing = model.objects.filter(name=fields["name"]).first()  # type: ignore[attr-defined]
        if existing is not None:
            return existing
        return services.shared_object_create(actor=actor, model=model, fields=fields)

    keyrings = {n: get_or_create(Keyring, f) for n, f in plan.keyrings.items()}
    cipher_sets = {n: get_or_create(CipherSet, f) for n, f in plan.cipher_sets.items()}
    groups = {n: get_or_create(GroupAction, f) for n, f in plan.groups.items()}
    environments = {}
    for name, fields in plan.environments.items():
        values = {k: v for k, v in fields.items() if not k.endswith("_name")}
        values["keyring"] = keyrings[fields["keyring_name"]]
        cipher_name = fields["cipher_set_name"]
        values["cipher_set"] = cipher_sets[cipher_name] if cipher_name else None
        environments[name] = get_or_create(EnvironmentAction, values)
    connections = {}
    for name, fields in plan.connections.items():
        values = {k: v for k, v in fields.items() if not k.endswith("_name")}
        cipher_name = fields["cipher_set_name"]
        values["cipher_set"] = cipher_sets[cipher_name] if cipher_name else None
        connections[name] = get_or_create(ConnectionAction, values)
    for fields in plan.rules.values():
        values = {k: v for k, v in fields.items() if not k.endswith("_name")}
        values["stack"] = stack
        values["group_action"] = groups[fields["group_action_name"]]
        environment_name = fields["environment_action_name"]
        values["environment_action"] = environments[environment_name] if environment_name else None
        connection_name = fields["connection_action_name"]
        values["connection_action"] = connections[connection_name] if connection_name else None
        values["phase"] = "design"
        services.service_create(actor=actor, fields=values)
    return report
