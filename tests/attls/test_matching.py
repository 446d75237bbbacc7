"""Rule matching: which rule a connection maps to, checked against a plain linear search."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attls.matching import Connection, RuleMatcher, address_key
from attls.policy import (
    Address,
    IpAddr,
    IpAddrGroup,
    IpAddrSet,
    IpTimeCondition,
    Policy,
    PortGroup,
    PortRange,
    Ports,
    TTLSCipherParms,
    TTLSConnectionAction,
    TTLSConnectionAdvancedParms,
    TTLSEnvironmentAction,
    TTLSEnvironmentAdvancedParms,
    TTLSGroupAction,
    TTLSKeyringParms,
    TTLSRule,
    parse_policy,
)
from attls.policy.values import read_address

# --- a plain reference implementation, written straight from the rules of IBM's docs ---------


def _ip(text: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    address = ipaddress.ip_address(text) if isinstance(text, str) else text
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_contains(address: Address, ip: Any) -> bool:
    if address.contains(ip):
        return True
    # A rule written with IPv4-mapped IPv6 addresses also covers the IPv4 form.
    if ip.version == 4 and not address.is_all and address.low is not None:
        mapped = ipaddress.IPv6Address("::ffff:" + str(ip))
        return address.contains(mapped)
    return False


def _members(policy: Policy, rule: TTLSRule, side: str) -> list[Address] | None:
    inline = getattr(rule, f"{side}_addr")
    if inline is not None:
        return [inline]
    ref = getattr(rule, f"{side}_addr_ref")
    if ref is not None:
        item = policy.ip_addrs.get(ref)
        return [item.addr] if item is not None and item.addr is not None else []
    set_ref = getattr(rule, f"{side}_addr_set_ref")
    if set_ref is not None:
        ip_set = policy.ip_addr_sets.get(set_ref)
        return [*ip_set.prefixes, *ip_set.ranges, *ip_set.addrs] if ip_set else []
    group_ref = getattr(rule, f"{side}_addr_group_ref")
    if group_ref is not None:
        group = policy.ip_addr_groups.get(group_ref)
        if group is None:
            return []
        out = [a.addr for a in group.ip_addrs if a.addr is not None]
        out += [
            policy.ip_addrs[n].addr  # type: ignore[misc]
            for n in group.ip_addr_refs
            if n in policy.ip_addrs and policy.ip_addrs[n].addr is not None
        ]
        for n in group.ip_addr_set_refs:
            s = policy.ip_addr_sets.get(n)
            if s is not None:
                out += [*s.prefixes, *s.ranges, *s.addrs]
        return out
    return None


def _port_members(policy: Policy, rule: TTLSRule, side: str) -> list[Ports] | None:
    inline = getattr(rule, f"{side}_port_range")
    if inline is not None:
        return [inline]
    ref = getattr(rule, f"{side}_port_range_ref")
    if ref is not None:
        item = policy.port_ranges.get(ref)
        return [item.port] if item is not None and item.port is not None else []
    group_ref = getattr(rule, f"{side}_port_group_ref")
    if group_ref is not None:
        group = policy.port_groups.get(group_ref)
        if group is None:
            return []
        out = [r.port for r in group.port_ranges if r.port is not None]
        out += [
            policy.port_ranges[n].port  # type: ignore[misc]
            for n in group.port_range_refs
            if n in policy.port_ranges and policy.port_ranges[n].port is not None
        ]
        return out
    return None


def _name_matches(pattern: str | None, value: str | None) -> bool:
    if pattern is None or pattern == "*":
        return True
    if value is None:
        return False
    pattern, value = pattern.upper(), value.upper()
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def naive_rule_matches(policy: Policy, rule: TTLSRule, conn: Connection) -> bool:
    if rule.direction not in (None, "Both", conn.direction):
        return False
    for side, addr, port in (
        ("local", conn.local_addr, conn.local_port),
        ("remote", conn.remote_addr, conn.remote_port),
    ):
        members = _members(policy, rule, side)
        if members is not None and not any(_address_contains(a, _ip(addr)) for a in members):
            return False
        port_members = _port_members(policy, rule, side)
        if port_members is not None and not any(p.contains(port) for p in port_members):
            return False
    return _name_matches(rule.jobname, conn.jobname) and _name_matches(rule.userid, conn.userid)


def naive_candidates(policy: Policy, conn: Connection) -> list[str]:
    ordered = sorted(policy.rules.values(), key=lambda r: r.search_key)
    return [r.name or "" for r in ordered if naive_rule_matches(policy, r, conn)]


# --- a synthetic large policy: 10,000 rules sharing 50 actions --------------------------------


def synthetic_policy(rule_count: int = 10_000, seed: int = 7) -> Policy:
    """Rules of every condition shape, sharing 10 group, 25 environment, 15 connection actions."""
    rnd = random.Random(seed)
    policy = Policy()
    policy.add(TTLSKeyringParms("ring", keyring="TCPIP/SharedRing"))
    policy.add(TTLSCipherParms("aead", v3_cipher_suites=("1301", "1302", "C02B", "C02F")))
    policy.add(TTLSCipherParms("legacy", v3_cipher_suites=("002F", "0035", "C013")))
    for g in range(10):
        policy.add(TTLSGroupAction(f"grp{g}", ttls_enabled=g != 9, trace=2 + g % 3))
    for e in range(25):
        policy.add(
            TTLSEnvironmentAction(
                f"env{e}",
                handshake_role="Server" if e % 5 else "ServerWithClientAuth",
                keyring_ref="ring",
                advanced=TTLSEnvironmentAdvancedParms(
                    tlsv1=e % 4 == 0, tlsv1_1=e % 4 == 0, tlsv1_2=True, tlsv1_3=e % 3 != 0
                ),
                cipher_ref="aead" if e % 7 else "legacy",
            )
        )
    for c in range(15):
        policy.add(
            TTLSConnectionAction(
                f"conn{c}",
                handshake_role="Client",
                advanced=TTLSConnectionAdvancedParms(tlsv1_3=c % 2 == 0),
            )
        )
    for i in range(40):
        policy.add(PortRange(f"pr{i}", port=Ports(20000 + 3 * i, 20001 + 3 * i)))
    for i in range(20):
        policy.add(
            PortGroup(
                f"pg{i}",
                port_ranges=(PortRange(port=Ports(30000 + i, 30000 + i)),),
                port_range_refs=(f"pr{i}", f"pr{i + 20}"),
            )
        )
    for i in range(30):
        policy.add(IpAddr(f"host{i}", addr=read_address([f"192.0.2.{i + 1}"])))
        policy.add(
            IpAddrSet(
                f"net{i}",
                prefixes=(read_address([f"10.{i}.0.0/16"]),),
                addrs=(read_address([f"198.51.100.{i + 1}"]),),
            )
        )
        policy.add(
            IpAddrGroup(f"partners{i}", ip_addr_refs=(f"host{i}",), ip_addr_set_refs=(f"net{i}",))
        )
    for n in range(rnd.randrange(0, 1) + rule_count):
        shape = rnd.random()
        kw: dict[str, Any] = {
            "priority": rnd.choice([None, *range(1, 400)]),
            "group_action_ref": f"grp{rnd.randrange(10)}",
            "environment_action_ref": f"env{rnd.randrange(25)}",
        }
        job = rnd.choice(["APP", "CICS", "MQ", "DB2", "FTP", "ZWE"]) + str(rnd.randrange(100))
        if shape < 0.55:
            kw.update(
                direction="Inbound",
                local_port_range=Ports(p := 1024 + rnd.randrange(9000), p),
                jobname=rnd.choice([job, job[:3] + "*", None]),
            )
            if rnd.random() < 0.2:
                kw["local_addr"] = read_address([f"10.{rnd.randrange(30)}.0.0/16"])
        elif shape < 0.80:
            kw.update(
                direction="Outbound",
                remote_port_range=Ports(p := rnd.choice([443, 1414, 6514, 8443, 9000]), p),
                jobname=job[:3] + "*",
                connection_action_ref=f"conn{rnd.randrange(15)}",
            )
            if rnd.random() < 0.5:
                kw["remote_addr_group_ref"] = f"partners{rnd.randrange(30)}"
            else:
                kw["remote_addr"] = read_address([f"203.0.113.{rnd.randrange(256)}"])
        elif shape < 0.88:
            low = 12000 + rnd.randrange(4000)
            kw.update(direction="Both", local_port_range=Ports(low, low + rnd.randrange(10)))
        elif shape < 0.93:
            kw.update(direction="Inbound", local_port_group_ref=f"pg{rnd.randrange(20)}")
            if rnd.random() < 0.5:
                kw["local_port_range_ref"], kw["local_port_group_ref"] = (
                    f"pr{rnd.randrange(40)}",
                    None,
                )
        elif shape < 0.97:
            kw.update(
                direction=rnd.choice(["Inbound", "Outbound"]),
                local_port_range=Ports(1024, 65535),
                jobname=job,
            )
        else:
            kw.update(
                direction=rnd.choice(["Inbound", "Outbound", "Both"]),
                userid=rnd.choice(["STC", "BATCH", "OPS"]) + str(rnd.randrange(20)) + "*",
                remote_addr_set_ref=f"net{rnd.randrange(30)}",
            )
        policy.add(TTLSRule(f"rule{n:05d}", **kw))
    return policy


def synthetic_connections(policy: Policy, count: int, seed: int = 11) -> list[Connection]:
    """Half aimed at a random rule's conditions, half random traffic."""
    rnd = random.Random(seed)
    rules = list(policy.rules.values())
    out = []
    for _ in range(count):
        rule = rnd.choice(rules)
        aimed = rnd.random() < 0.5
        local_port = rnd.randrange(1, 65536)
        remote_port = rnd.randrange(1, 65536)
        if aimed and rule.local_port_range is not None:
            local_port = rule.local_port_range.low
        if aimed and rule.remote_port_range is not None:
            remote_port = rule.remote_port_range.low
        jobname = rnd.choice(["APP", "CICS", "MQ", "DB2", "FTP", "ZWE"]) + str(rnd.randrange(100))
        if aimed and rule.jobname is not None:
            jobname = rule.jobname.rstrip("*") + "1"
        remote = f"203.0.113.{rnd.randrange(256)}"
        if aimed and rule.remote_addr is not None:
            remote = str(rule.remote_addr.low)
        direction = rnd.choice(["Inbound", "Outbound"])
        if aimed and rule.direction in ("Inbound", "Outbound"):
            direction = rule.direction
        out.append(
            Connection(
                local_addr=f"10.{rnd.randrange(32)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
                local_port=local_port,
                remote_addr=remote,
                remote_port=remote_port,
                jobname=jobname,
                userid=rnd.choice(["STC1", "BATCH12", "OPS3", "TCPIP"]),
                direction=direction,  # type: ignore[arg-type]
            )
        )
    return out


# --- examples ---------------------------------------------------------------------------------


@pytest.fixture
def sysa(fixture_text: Any) -> Policy:
    return parse_policy(fixture_text("sysa-tcpip.policy"))


def inbound(port: int, jobname: str | None = "TN3270A", local: str = "10.1.2.3") -> Connection:
    return Connection(local, port, "192.0.2.200", 50000, jobname, "TCPIP", "Inbound")


def test_an_inbound_tn3270_connection_maps_to_the_tn3270_rule(sysa: Policy) -> None:
    result = RuleMatcher(sysa).match(inbound(992, "TN3270A"))

    assert result is not None
    assert result.rule == "TN3270"
    assert result.priority == 250
    assert result.reasons == (
        "Direction Inbound covers Inbound",
        "LocalPortRange 992 contains local port 992",
        "Jobname TN3270* matches job TN3270A",
        "Priority 250, position 2 in evaluation order",
    )


def test_job_names_are_compared_without_regard_to_case(sysa: Policy) -> None:
    result = RuleMatcher(sysa).match(inbound(992, "tn3270b"))

    assert result is not None and result.rule == "TN3270"


def test_a_connection_no_rule_covers_maps_to_nothing(sysa: Policy) -> None:
    assert RuleMatcher(sysa).match(inbound(8080)) is None
    assert RuleMatcher(sysa).candidates(inbound(8080)) == []


def test_a_wildcard_job_name_does_not_match_a_different_prefix(sysa: Policy) -> None:
    assert RuleMatcher(sysa).match(inbound(992, "TN327")) is None


def test_a_rule_with_a_job_name_does_not_match_a_connection_of_unknown_job(sysa: Policy) -> None:
    assert RuleMatcher(sysa).match(inbound(992, None)) is None


def test_a_port_range_reference_covers_every_port_of_the_range(sysa: Policy) -> None:
    matcher = RuleMatcher(sysa)

    assert [
        matcher.match(inbound(port, "CSQ1CHIN")) is not None for port in (1413, 1414, 1415, 1416)
    ] == [
        False,
        True,
        True,
        False,
    ]


def test_an_address_group_matches_inline_addresses_and_the_prefixes_of_its_set(
    sysa: Policy,
) -> None:
    matcher = RuleMatcher(sysa)

    def outbound(remote: str) -> Connection:
        return Connection("10.1.1.1", 40001, remote, 1414, "CSQ1CHIN", "MQUSER", "Outbound")

    hits = {
        remote: (r.rule if (r := matcher.match(outbound(remote))) else None)
        for remote in ("192.0.2.11", "198.51.100.77", "203.0.113.9", "203.0.113.10", "192.0.2.12")
    }
    assert hits == {
        "192.0.2.11": "MQToPartner",
        "198.51.100.77": "MQToPartner",
        "203.0.113.9": "MQToPartner",
        "203.0.113.10": None,
        "192.0.2.12": None,
    }


def test_an_ipv4_mapped_ipv6_address_matches_the_ipv4_prefix(sysa: Policy) -> None:
    result = RuleMatcher(sysa).match(inbound(21, None, local="::ffff:10.1.200.3"))

    assert result is not None and result.rule == "LegacyFtp"


def test_direction_both_covers_inbound_and_outbound(sysa: Policy) -> None:
    matcher = RuleMatcher(sysa)
    outbound = Connection("10.1.0.9", 21, "192.0.2.1", 5000, "FTPD", "FTP", "Outbound")

    assert matcher.match(outbound) is not None
    assert matcher.match(inbound(21, None)) is not None


def test_an_outbound_connection_does_not_match_an_inbound_rule(sysa: Policy) -> None:
    outbound = Connection("10.1.1.1", 992, "192.0.2.1", 5000, "TN3270A", "TCPIP", "Outbound")

    assert RuleMatcher(sysa).match(outbound) is None


def test_higher_priority_wins_and_equal_priority_goes_by_ebcdic_name_order() -> None:
    policy = parse_policy(
        """
        TTLSGroupAction g
        {
          TTLSEnabled Off
        }
        TTLSRule beta
        {
          LocalPortRange 443
          Direction Inbound
          Priority 10
          TTLSGroupActionRef g
        }
        TTLSRule Zulu
        {
          LocalPortRange 443
          Direction Inbound
          Priority 10
          TTLSGroupActionRef g
        }
        TTLSRule alpha
        {
          LocalPortRange 443
          Direction Inbound
          Priority 5
          TTLSGroupActionRef g
        }
        TTLSRule catchAll
        {
          Jobname *
          Direction Both
          TTLSGroupActionRef g
        }
        """
    )
    matcher = RuleMatcher(policy)

    # In EBCDIC lower case sorts before upper case.
    assert [c.rule for c in matcher.candidates(inbound(443))] == [
        "beta",
        "Zulu",
        "alpha",
        "catchAll",
    ]
    assert [c.priority for c in matcher.candidates(inbound(443))] == [10, 10, 5, 1]
    result = matcher.match(inbound(443))
    assert result is not None and result.rule == "beta"


def test_a_port_group_port_range_and_address_references_are_resolved() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("g", ttls_enabled=False))
    policy.add(PortRange("web", port=Ports(8443, 8444)))
    policy.add(
        PortGroup(
            "admin", port_ranges=(PortRange(port=Ports(9000, 9000)),), port_range_refs=("web",)
        )
    )
    policy.add(IpAddr("lpar", addr=read_address(["2001:db8::10"])))
    policy.add(
        TTLSRule(
            "AdminPorts",
            local_port_group_ref="admin",
            local_addr_ref="lpar",
            direction="Inbound",
            group_action_ref="g",
        )
    )
    matcher = RuleMatcher(policy)

    def conn(port: int, local: str) -> Connection:
        return Connection(local, port, "2001:db8::99", 40000, "ADMIN", "OPS", "Inbound")

    assert [
        matcher.match(conn(p, "2001:db8::10")) is not None for p in (8443, 8444, 9000, 9001)
    ] == [
        True,
        True,
        True,
        False,
    ]
    assert matcher.match(conn(8443, "2001:db8::11")) is None


def test_port_zero_means_any_port_and_all_means_any_address() -> None:
    policy = parse_policy(
        """
        TTLSGroupAction g
        {
          TTLSEnabled Off
        }
        TTLSRule anyPort
        {
          LocalAddr All
          LocalPortRange 0
          Userid OPS*
          Direction Outbound
          TTLSGroupActionRef g
        }
        """
    )
    conn = Connection("10.9.9.9", 31234, "192.0.2.8", 22, "JOB1", "opsuser", "Outbound")

    result = RuleMatcher(policy).match(conn)
    assert result is not None and result.rule == "anyPort"


def test_a_rule_with_a_time_condition_is_treated_as_always_in_force() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("g", ttls_enabled=False))
    policy.add(
        TTLSRule(
            "NightlyBatch",
            remote_port_range=Ports(22, 22),
            direction="Outbound",
            ip_time_condition=IpTimeCondition(time_of_day_range="22:00-06:00"),
            group_action_ref="g",
        )
    )
    conn = Connection("10.1.1.1", 40000, "192.0.2.8", 22, "BATCH1", "BATCH", "Outbound")

    result = RuleMatcher(policy).match(conn)
    assert result is not None
    assert "its IpTimeCondition is not evaluated: the rule is taken as always in force" in (
        result.reasons
    )


def test_a_reference_to_a_missing_object_makes_the_rule_match_nothing() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("g", ttls_enabled=False))
    policy.add(
        TTLSRule(
            "Broken", local_port_range_ref="nowhere", direction="Inbound", group_action_ref="g"
        )
    )

    assert RuleMatcher(policy).match(inbound(443)) is None


def test_the_match_result_carries_the_effective_settings_of_the_rule(sysa: Policy) -> None:
    outbound = Connection("10.1.1.1", 40001, "192.0.2.10", 1414, "CSQ1CHIN", "MQ", "Outbound")

    result = RuleMatcher(sysa).match(outbound)

    assert result is not None
    assert result.effective.rule == "MQToPartner"
    assert result.effective.handshake_role == "Client"


def test_a_connection_needs_a_known_direction() -> None:
    with pytest.raises(ValueError, match="direction must be Inbound or Outbound"):
        Connection("10.1.1.1", 1, "10.1.1.2", 2, None, None, "Both")  # type: ignore[arg-type]


def test_address_keys_put_ipv4_mapped_ipv6_on_the_ipv4_address() -> None:
    assert address_key("::ffff:10.1.1.1") == address_key("10.1.1.1") == 0x0A010101
    assert address_key(ipaddress.ip_address("::1")) != address_key("0.0.0.1")
    with pytest.raises(ValueError):
        address_key("10.1.1")


# --- equivalence with the linear search --------------------------------------------------------

PORT_VALUES = [21, 443, 992, 1414, 1415, 8000, 65535]
port_conditions = st.one_of(
    st.sampled_from([Ports(0, 0), Ports(443, 443), Ports(992, 992), Ports(1414, 1415)]),
    st.sampled_from([Ports(1, 65535), Ports(1000, 9000), Ports(21, 21), Ports(0, 500)]),
)
ADDRESSES = ["10.0.0.1", "10.0.0.2", "10.0.1.7", "192.0.2.1", "2001:db8::1", "::ffff:10.0.0.2"]
address_conditions = st.sampled_from(
    [
        read_address(["All"]),
        read_address(["10.0.0.1"]),
        read_address(["10.0.0.0/30"]),
        read_address(["10.0.0.2-10.0.1.200"]),
        read_address(["2001:db8::/64"]),
        read_address(["2001:db8::100/120"]),
        read_address(["192.0.2.1"]),
    ]
)
name_patterns = st.sampled_from(["A", "AB", "ABC", "A*", "AB*", "B*", "*", "B"])


@st.composite
def small_policies(draw: Any) -> Policy:
    policy = Policy()
    policy.add(TTLSGroupAction("g", ttls_enabled=False))
    policy.add(PortRange("pr", port=draw(port_conditions)))
    policy.add(
        PortGroup(
            "pg",
            port_ranges=tuple(
                PortRange(port=p) for p in draw(st.lists(port_conditions, max_size=2))
            ),
            port_range_refs=draw(st.sampled_from([(), ("pr",)])),
        )
    )
    policy.add(IpAddr("ia", addr=draw(address_conditions)))
    policy.add(
        IpAddrSet(
            "is", prefixes=(read_address(["10.0.0.0/31"]),), addrs=(read_address(["192.0.2.1"]),)
        )
    )
    policy.add(
        IpAddrGroup(
            "ig",
            ip_addrs=tuple(IpAddr(addr=a) for a in draw(st.lists(address_conditions, max_size=2))),
            ip_addr_refs=draw(st.sampled_from([(), ("ia",)])),
            ip_addr_set_refs=draw(st.sampled_from([(), ("is",)])),
        )
    )
    rule_names = draw(
        st.lists(
            st.sampled_from(["a", "B", "b", "C", "rule1", "Rule2", "r", "x", "Y", "z"]),
            unique=True,
            min_size=1,
        )
    )
    for name in rule_names:
        kw: dict[str, Any] = {
            "direction": draw(st.sampled_from(["Inbound", "Outbound", "Both"])),
            "priority": draw(st.sampled_from([None, 1, 5, 5, 10])),
            "group_action_ref": "g",
        }
        for side in ("local", "remote"):
            form = draw(st.sampled_from(["none", "inline", "ref", "set", "group"]))
            if form == "inline":
                kw[f"{side}_addr"] = draw(address_conditions)
            elif form == "ref":
                kw[f"{side}_addr_ref"] = "ia"
            elif form == "set":
                kw[f"{side}_addr_set_ref"] = "is"
            elif form == "group":
                kw[f"{side}_addr_group_ref"] = "ig"
            port_form = draw(st.sampled_from(["none", "inline", "inline", "ref", "group"]))
            if port_form == "inline":
                kw[f"{side}_port_range"] = draw(port_conditions)
            elif port_form == "ref":
                kw[f"{side}_port_range_ref"] = "pr"
            elif port_form == "group":
                kw[f"{side}_port_group_ref"] = "pg"
        kw["jobname"] = draw(st.one_of(st.none(), name_patterns))
        kw["userid"] = draw(st.one_of(st.none(), st.none(), name_patterns))
        policy.add(TTLSRule(name, **kw))
    return policy


connections = st.builds(
    Connection,
    local_addr=st.sampled_from(ADDRESSES),
    local_port=st.sampled_from(PORT_VALUES),
    remote_addr=st.sampled_from(ADDRESSES),
    remote_port=st.sampled_from(PORT_VALUES),
    jobname=st.one_of(st.none(), st.sampled_from(["A", "AB", "ABC", "ABD", "B", "b", "ab"])),
    userid=st.one_of(st.none(), st.sampled_from(["A", "ABC", "B"])),
    direction=st.sampled_from(["Inbound", "Outbound"]),
)


@settings(max_examples=400, deadline=None)
@given(policy=small_policies(), conns=st.lists(connections, min_size=1, max_size=8))
def test_the_matcher_agrees_with_a_linear_search(policy: Policy, conns: list[Connection]) -> None:
    matcher = RuleMatcher(policy)
    for conn in conns:
        expected = naive_candidates(policy, conn)
        result = matcher.match(conn)
        assert (result.rule if result else None) == (expected[0] if expected else None)
        assert [c.rule for c in matcher.candidates(conn)] == expected


def test_the_matcher_agrees_with_a_linear_search_on_a_large_policy() -> None:
    policy = synthetic_policy(2_000, seed=3)
    matcher = RuleMatcher(policy)
    ordered = sorted(policy.rules.values(), key=lambda r: r.search_key)
    hits = 0
    for conn in synthetic_connections(policy, 500, seed=5):
        expected = next((r.name for r in ordered if naive_rule_matches(policy, r, conn)), None)
        result = matcher.match(conn)
        assert (result.rule if result else None) == expected
        hits += expected is not None
    assert hits > 100  # the generated traffic really exercises the rules


# --- speed ---------------------------------------------------------------------------------------
