"""Hypothesis strategies that build random valid policies from the schema itself."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

from attls import ciphers, tlsgroups
from attls.policy import model as m
from attls.policy import values as v

NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~-@$"
names = st.text(NAME_ALPHABET, min_size=1, max_size=32)
words_alphabet = NAME_ALPHABET + "/*,:"


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(words_alphabet, min_size=1, max_size=min(max_size, 40))


ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
# IPv4-mapped IPv6 addresses are refused in policy (attls.policy.values._refuse_mapped).
ipv6 = (
    st.integers(0, 2**128 - 1)
    .map(ipaddress.IPv6Address)
    .filter(lambda address: address.ipv4_mapped is None)
)


@st.composite
def prefixes(draw: Any) -> v.Address:
    version = draw(st.sampled_from([4, 6]))
    address = draw(ipv4 if version == 4 else ipv6)
    length = draw(st.integers(0, 32 if version == 4 else 128))
    network = ipaddress.ip_network(f"{address}/{length}", strict=False)
    return v.Address("prefix", network.network_address, network.broadcast_address, length)


@st.composite
def ranges(draw: Any) -> v.Address:
    version = draw(st.sampled_from([4, 6]))
    a = draw(ipv4 if version == 4 else ipv6)
    b = draw(ipv4 if version == 4 else ipv6)
    low, high = sorted([a, b])
    return v.Address("range", low, high)


single_addresses = st.one_of(ipv4, ipv6).map(lambda a: v.Address("addr", a, a))
addresses = st.one_of(st.just(v.Address.all()), single_addresses, prefixes(), ranges())


@st.composite
def ports(draw: Any) -> v.Ports:
    low = draw(st.integers(0, 65535))
    high = draw(st.integers(low, 65535))
    return v.Ports(low, high)


job_patterns = st.one_of(
    st.just("*"),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@$", min_size=1, max_size=8),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@$", min_size=1, max_size=8).map(
        lambda s: s + "*"
    ),
)

cipher_codes = st.sampled_from([suite.code for suite in ciphers.all_suites()])
group_codes = st.sampled_from([group.code for group in tlsgroups.all_groups()])
sigalg_codes = st.sampled_from([alg.code for alg in tlsgroups.all_sigalgs()])


def item_strategy(reader: Any) -> st.SearchStrategy[Any]:
    """A strategy for one value a reader returns (one item, for list parameters)."""
    if reader is v.read_on_off:
        return st.booleans()
    if isinstance(reader, v.IntReader):
        return st.integers(reader.minimum, reader.maximum)
    if isinstance(reader, v.ChoiceReader):
        return st.sampled_from(reader.choices)
    if isinstance(reader, v.TextReader):
        return _text(reader.max_length)
    if reader is v.read_words:
        return st.lists(_text(20), min_size=1, max_size=3).map(" ".join)
    if reader is v.read_job_pattern:
        return job_patterns
    if reader is v.read_port_range:
        return ports()
    if reader is v.read_address:
        return addresses
    if reader is v.read_prefix:
        return prefixes()
    if reader is v.read_range:
        return ranges()
    if reader is v.read_single_address:
        return single_addresses
    if reader is v.read_v3_ciphers:
        return cipher_codes
    if reader in (v.read_group_codes,):
        return group_codes
    if reader is v.read_sigalg_codes:
        return sigalg_codes
    raise AssertionError(f"no strategy for reader {reader!r}")


def list_strategy(reader: Any) -> st.SearchStrategy[tuple[Any, ...]]:
    if reader is v.read_group_codes_or_any:
        return st.one_of(st.just(("Any",)), st.lists(group_codes, max_size=4).map(tuple))
    return st.lists(item_strategy(reader), max_size=4).map(tuple)


@st.composite
def statements(draw: Any, cls: type[m.Statement], pools: dict[str, list[str]], *, named: bool):
    values: dict[str, Any] = {}
    for field_name, param in cls.params():
        if not draw(st.booleans()):
            continue
        if param.kind == "value":
            values[field_name] = draw(item_strategy(param.read))
        elif param.kind == "list":
            values[field_name] = draw(list_strategy(param.read))
        elif param.kind in ("ref", "refs"):
            assert param.target is not None
            pool = pools.get(param.target, [])
            if not pool:
                continue
            if param.kind == "ref":
                values[field_name] = draw(st.sampled_from(pool))
            else:
                values[field_name] = tuple(draw(st.lists(st.sampled_from(pool), max_size=3)))
        elif param.kind == "block":
            assert param.block is not None
            values[field_name] = draw(statements(param.block, pools, named=False))
        else:
            assert param.block is not None
            values[field_name] = tuple(
                draw(st.lists(statements(param.block, pools, named=False), max_size=2))
            )
    # Inline blocks exclude their ...Ref twin.
    for field_name, param in cls.params():
        if param.kind == "block" and values.get(field_name) is not None:
            values.pop(field_name + "_ref", None)
    _satisfy_requirements(draw, cls, values, pools)
    if named or draw(st.booleans()):
        values["name"] = draw(names)
    return cls(**values)


def _satisfy_requirements(
    draw: Any, cls: type[m.Statement], values: dict[str, Any], pools: dict[str, list[str]]
) -> None:
    if cls is m.TTLSRule:
        for group in (
            ("local_addr", "local_addr_ref", "local_addr_set_ref", "local_addr_group_ref"),
            ("remote_addr", "remote_addr_ref", "remote_addr_set_ref", "remote_addr_group_ref"),
            ("local_port_range", "local_port_range_ref", "local_port_group_ref"),
            ("remote_port_range", "remote_port_range_ref", "remote_port_group_ref"),
        ):
            present = [name for name in group if values.get(name) is not None]
            for extra in present[1:]:
                del values[extra]
        conditions = [
            name
            for name in values
            if name.startswith(("local_", "remote_")) or name in ("jobname", "userid")
        ]
        if not conditions:
            values["local_port_range"] = draw(ports())
        values.setdefault("direction", draw(st.sampled_from(["Inbound", "Outbound", "Both"])))
        values["group_action_ref"] = draw(st.sampled_from(pools["group_actions"]))
        values["environment_action_ref"] = draw(st.sampled_from(pools["environment_actions"]))
    elif cls is m.TTLSGroupAction:
        values.setdefault("ttls_enabled", draw(st.booleans()))
    elif cls is m.TTLSEnvironmentAction:
        values.setdefault("handshake_role", "Server")
        if values.get("keyring") is None and values.get("keyring_ref") is None:
            values["keyring"] = m.TTLSKeyringParms(keyring="TCPIP/Ring")
    elif cls is m.TTLSKeyringParms:
        values.setdefault("keyring", draw(_text(40)))
    elif cls is m.IpAddr:
        values.setdefault("addr", draw(addresses))
    elif cls is m.PortRange:
        values.setdefault("port", draw(ports()))


# Statements that others refer to are drawn first, so references always resolve.
_ORDER = [
    "keyring_parms",
    "cipher_parms",
    "signature_parms",
    "gsk_ldap_parms",
    "gsk_ocsp_parms",
    "gsk_http_cdp_parms",
    "gsk_advanced_parms",
    "group_advanced_parms",
    "environment_advanced_parms",
    "connection_advanced_parms",
    "ip_addrs",
    "ip_addr_sets",
    "ip_addr_groups",
    "port_ranges",
    "port_groups",
    "ip_time_conditions",
    "group_actions",
    "environment_actions",
    "connection_actions",
    "rules",
]
assert sorted(_ORDER) == sorted(m.COLLECTIONS)


@st.composite
def policies(draw: Any) -> m.Policy:
    policy = m.Policy()
    pools: dict[str, list[str]] = {}
    for collection in _ORDER:
        cls = m.COLLECTIONS[collection]
        minimum = 1 if collection in ("group_actions", "environment_actions", "rules") else 0
        count = draw(st.integers(minimum, 3))
        for _ in range(count):
            statement = draw(statements(cls, pools, named=True))
            policy.add(statement)
        pools[collection] = sorted(policy.collection(collection))
    return policy
