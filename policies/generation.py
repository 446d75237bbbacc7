"""From the design rows to the attls Policy of one stack: what PAGENT will receive.

Each included service becomes one TTLSRule named after it. Shared objects become the
statements of the same name; only the ones the stack's rules use are written. A rule
with overrides gets a connection action of its own, named after the rule (statement
names are per type, so the two names do not clash), that starts from the shared
connection action and applies the overrides on top.

Query count does not grow with the number of services: one query for the rules with
their actions, one each for keyrings and cipher sets.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from attls.policy import (
    Address,
    Policy,
    Ports,
    TTLSCipherParms,
    TTLSConnectionAction,
    TTLSConnectionAdvancedParms,
    TTLSEnvironmentAction,
    TTLSEnvironmentAdvancedParms,
    TTLSGroupAction,
    TTLSGskAdvancedParms,
    TTLSGskOcspParms,
    TTLSKeyringParms,
    TTLSRule,
    TTLSSignatureParms,
)
from attls.policy.values import read_address
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Rule,
    Stack,
)


def stack_rules(stack: Stack, *, exclude: Collection[int] = ()) -> list[Rule]:
    """The rules of the stack's included services, with everything generation reads;
    `exclude`: ids of services left out (a rollout campaign's later cohorts)."""
    return list(
        Rule.objects.filter(service__stack=stack, service__included=True)
        .exclude(service_id__in=list(exclude))
        .select_related("service", "group_action", "environment_action", "connection_action")
        .order_by("service__name")
    )


def stack_policy(stack: Stack, *, exclude: Collection[int] = ()) -> Policy:
    """The draft policy of a stack as it stands in the database now."""
    return build_policy(stack_rules(stack, exclude=exclude))


def build_policy(rules: list[Rule]) -> Policy:
    keyring_ids: set[int] = set()
    cipher_ids: set[int] = set()
    for rule in rules:
        environment = rule.environment_action
        if environment is not None:
            keyring_ids.add(environment.keyring_id)
            if environment.cipher_set_id is not None:
                cipher_ids.add(environment.cipher_set_id)
        shared = rule.connection_action
        if shared is not None and shared.cipher_set_id is not None:
            cipher_ids.add(shared.cipher_set_id)
        if rule.override_cipher_set_id is not None:
            cipher_ids.add(rule.override_cipher_set_id)
    keyrings = {k.id: k for k in Keyring.objects.filter(id__in=keyring_ids)}
    cipher_sets = {c.id: c for c in CipherSet.objects.filter(id__in=cipher_ids)}
    names = _Names(
        keyrings={i: k.name for i, k in keyrings.items()},
        cipher_sets={i: c.name for i, c in cipher_sets.items()},
    )

    policy = Policy()
    for rule in rules:
        policy.add(_rule(rule))
        group = rule.group_action
        if group.name not in policy.group_actions:
            policy.add(_group(group))
        environment = rule.environment_action
        if environment is not None and environment.name not in policy.environment_actions:
            policy.add(_environment(environment, names))
        shared = rule.connection_action
        if rule.has_overrides:
            policy.add(_overriding_connection(rule, names))
        elif shared is not None and shared.name not in policy.connection_actions:
            policy.add(_connection(shared, names))
    # Only the keyrings and cipher sets that the written actions name.
    used_keyrings = {e.keyring_ref for e in policy.environment_actions.values()}
    used_ciphers = {
        a.cipher_ref
        for a in (*policy.environment_actions.values(), *policy.connection_actions.values())
    }
    for keyring in keyrings.values():
        if keyring.name in used_keyrings:
            policy.add(TTLSKeyringParms(name=keyring.name, keyring=keyring.ring))
    for cipher_set in cipher_sets.values():
        if cipher_set.name in used_ciphers:
            policy.add(
                TTLSCipherParms(name=cipher_set.name, v3_cipher_suites=tuple(cipher_set.suites))
            )
    return policy


@dataclass(frozen=True)
class _Names:
    """Names of keyrings and cipher sets by id, loaded once per generation."""

    keyrings: dict[int, str]
    cipher_sets: dict[int, str]

    def cipher(self, cipher_set_id: int | None) -> str | None:
        return None if cipher_set_id is None else self.cipher_sets[cipher_set_id]


def _ports(low: int, high: int) -> Ports | None:
    if low == 0 and high == 0:
        return None
    return Ports(low, high)


def _rule(rule: Rule) -> TTLSRule:
    service = rule.service
    remote: Address | None = read_address([service.remote_address])
    if remote is not None and remote.is_all:
        remote = None
    connection_name: str | None = None
    if rule.has_overrides:
        connection_name = service.name
    elif rule.connection_action is not None:
        connection_name = rule.connection_action.name
    return TTLSRule(
        name=service.name,
        local_port_range=_ports(service.local_port_low, service.local_port_high),
        remote_addr=remote,
        remote_port_range=_ports(service.remote_port_low, service.remote_port_high),
        jobname=service.jobname or None,
        userid=service.userid or None,
        direction=service.direction,
        priority=rule.priority,
        group_action_ref=rule.group_action.name,
        environment_action_ref=(
            rule.environment_action.name if rule.environment_action is not None else None
        ),
        connection_action_ref=connection_name,
    )


def _group(group: GroupAction) -> TTLSGroupAction:
    return TTLSGroupAction(
        name=group.name, ttls_enabled=group.ttls_enabled, trace=group.trace, fips140=group.fips140
    )


def _environment(environment: EnvironmentAction, names: _Names) -> TTLSEnvironmentAction:
    return TTLSEnvironmentAction(
        name=environment.name,
        handshake_role=environment.handshake_role,
        environment_user_instance=environment.environment_user_instance or None,
        keyring_ref=names.keyrings[environment.keyring_id],
        advanced=TTLSEnvironmentAdvancedParms(
            sslv2=False,
            sslv3=environment.sslv3,
            tlsv1=environment.tlsv1,
            tlsv1_1=environment.tlsv1_1,
            tlsv1_2=environment.tlsv1_2,
            tlsv1_3=environment.tlsv1_3,
            middle_box_compat_mode=environment.middle_box_compat_mode,
            handshake_timeout=environment.handshake_timeout,
            client_auth_type=environment.client_auth_type,
            cert_validation_mode=environment.cert_validation_mode,
            renegotiation=environment.renegotiation,
            certificate_label=environment.certificate_label or None,
            peer_min_cert_version=environment.peer_min_cert_version or None,
            peer_min_dh_key_size=environment.peer_min_dh_key_size,
            peer_min_dsa_key_size=environment.peer_min_dsa_key_size,
            peer_min_ecc_key_size=environment.peer_min_ecc_key_size,
            peer_min_rsa_key_size=environment.peer_min_rsa_key_size,
        ),
        cipher_ref=names.cipher(environment.cipher_set_id),
        signature=_signature(environment),
        gsk_advanced=_gsk_advanced(environment),
    )


def _signature(environment: EnvironmentAction) -> TTLSSignatureParms | None:
    """The inline TTLSSignatureParms, or None when every list is left to z/OS."""
    signature = TTLSSignatureParms(
        client_ecurves=tuple(environment.client_ecurves),
        client_key_share_groups=tuple(environment.client_key_share_groups),
        server_key_share_groups=tuple(environment.server_key_share_groups),
        server_kex_ecurves=tuple(environment.server_kex_ecurves),
        signature_pairs=tuple(environment.signature_pairs),
    )
    return signature if signature != TTLSSignatureParms() else None


def _gsk_advanced(environment: EnvironmentAction) -> TTLSGskAdvancedParms | None:
    """The inline TTLSGskAdvancedParms (with its TTLSGskOcspParms), or None when unset."""
    ocsp = TTLSGskOcspParms(
        ocsp_aia_enable=environment.ocsp_aia_enable,
        ocsp_url=environment.ocsp_url or None,
        ocsp_server_stapling=environment.ocsp_server_stapling,
    )
    gsk = TTLSGskAdvancedParms(
        revocation_security_level=environment.revocation_security_level or None,
        gsk_ocsp=ocsp if ocsp != TTLSGskOcspParms() else None,
    )
    return gsk if gsk != TTLSGskAdvancedParms() else None


def _tri(value: str) -> bool | None:
    return {"On": True, "Off": False}.get(value)


def _connection(action: ConnectionAction, names: _Names) -> TTLSConnectionAction:
    advanced = TTLSConnectionAdvancedParms(
        tlsv1_2=_tri(action.tlsv1_2),
        tlsv1_3=_tri(action.tlsv1_3),
        certificate_label=action.certificate_label or None,
    )
    return TTLSConnectionAction(
        name=action.name,
        handshake_role=action.handshake_role or None,
        advanced=advanced if advanced != TTLSConnectionAdvancedParms() else None,
        cipher_ref=names.cipher(action.cipher_set_id),
    )


def _overriding_connection(rule: Rule, names: _Names) -> TTLSConnectionAction:
    shared = rule.connection_action
    base = _connection(shared, names) if shared is not None else TTLSConnectionAction()
    inherited = base.advanced or TTLSConnectionAdvancedParms()
    tlsv1_2 = _tri(rule.override_tlsv1_2)
    tlsv1_3 = _tri(rule.override_tlsv1_3)
    advanced = TTLSConnectionAdvancedParms(
        tlsv1_2=tlsv1_2 if tlsv1_2 is not None else inherited.tlsv1_2,
        tlsv1_3=tlsv1_3 if tlsv1_3 is not None else inherited.tlsv1_3,
        certificate_label=inherited.certificate_label,
    )
    cipher_ref = names.cipher(rule.override_cipher_set_id) or base.cipher_ref
    return TTLSConnectionAction(
        name=rule.service.name,
        handshake_role=base.handshake_role,
        advanced=advanced if advanced != TTLSConnectionAdvancedParms() else None,
        cipher_ref=cipher_ref,
    )
