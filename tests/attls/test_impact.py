"""Change impact: one test per verdict, each with its reason, and the folding of roll-ups."""

from __future__ import annotations

from datetime import date

import pytest

from attls.ciphers import Protocol
from attls.effective import effective_settings
from attls.impact import ImpactInputError, PeerObservation, Verdict, predict
from attls.policy import Policy, parse_policy

# A candidate in the shape the portal generates: TLS 1.2/1.3 only, AEAD ECDHE suites, server
# role inbound, client role outbound; one port asks for client certificates; FTP stays clear.
CANDIDATE = """
TTLSGroupAction gOn
{
  TTLSEnabled On
}
TTLSGroupAction gOff
{
  TTLSEnabled Off
}
TTLSKeyringParms ring
{
  Keyring ATTLS/SharedRing
}
TTLSEnvironmentAction eServer
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  TTLSEnvironmentAdvancedParms
  {
    TLSv1 Off
    TLSv1.1 Off
    TLSv1.2 On
    TLSv1.3 On
  }
  TTLSCipherParms
  {
    V3CipherSuites4Char 13011302C02BC02CC02FC030
  }
}
TTLSEnvironmentAction eAuth
{
  HandshakeRole ServerWithClientAuth
  TTLSKeyringParmsRef ring
  TTLSEnvironmentAdvancedParms
  {
    TLSv1.2 On
    ClientAuthType Required
  }
  TTLSCipherParms
  {
    V3CipherSuites4Char C02FC030
  }
}
TTLSConnectionAction cClient
{
  HandshakeRole Client
}
TTLSRule TN3270_Secure
{
  LocalPortRange 992
  Jobname TN3270A
  Direction Inbound
  TTLSGroupActionRef gOn
  TTLSEnvironmentActionRef eServer
}
TTLSRule TN3270_Cleartext
{
  LocalPortRange 23
  Jobname TN3270A
  Direction Inbound
  TTLSGroupActionRef gOn
  TTLSEnvironmentActionRef eServer
}
TTLSRule CICS_Payments
{
  LocalPortRange 8443
  Direction Inbound
  TTLSGroupActionRef gOn
  TTLSEnvironmentActionRef eAuth
}
TTLSRule MQ_Clearing
{
  RemotePortRange 1416
  Jobname MQP1CHIN
  Direction Outbound
  TTLSGroupActionRef gOn
  TTLSEnvironmentActionRef eServer
  TTLSConnectionActionRef cClient
}
TTLSRule FTP
{
  LocalPortRange 21
  Direction Inbound
  TTLSGroupActionRef gOff
}
"""

# Today's policy for the suite test: TLS 1.2 only, the AEAD ECDHE suites ahead of 009C.
CURRENT = """
TTLSGroupAction gOn
{
  TTLSEnabled On
}
TTLSKeyringParms ring
{
  Keyring ATTLS/SharedRing
}
TTLSEnvironmentAction eOld
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  TTLSEnvironmentAdvancedParms
  {
    TLSv1.2 On
  }
  TTLSCipherParms
  {
    V3CipherSuites4Char C030C02FC02BC02C009C
  }
}
TTLSRule TN3270_Secure
{
  LocalPortRange 992
  Jobname TN3270A
  Direction Inbound
  TTLSGroupActionRef gOn
  TTLSEnvironmentActionRef eOld
}
"""


@pytest.fixture(scope="module")
def candidate() -> Policy:
    return parse_policy(CANDIDATE)


def peer(
    port: int,
    versions: str,
    *,
    direction: str = "Inbound",
    job: str | None = "TN3270A",
    suites: str = "",
    cert: bool = False,
    address: str = "10.1.1.1",
    connections: int = 30,
    day: date | None = None,
) -> PeerObservation:
    inbound = direction == "Inbound"
    return PeerObservation(
        direction=direction,  # type: ignore[arg-type]
        local_port=port if inbound else 40000,
        remote_address=address,
        remote_port=50000 if inbound else port,
        job=job,
        versions=frozenset(v for v in versions.split(";") if v),
        suites=frozenset(s for s in suites.split(";") if s),
        client_cert=cert,
        connections=connections,
        day=day,
    )


def only(old: Policy | None, new: Policy, *observations: PeerObservation):
    prediction = predict(old, new, observations)
    (result,) = prediction.peers
    return result


def test_a_cleartext_client_of_a_port_that_becomes_tls_will_break_with_rc_5003(candidate):
    result = only(None, candidate, peer(23, "cleartext"))

    assert result.verdict is Verdict.WILL_BREAK
    assert result.rule == "TN3270_Cleartext"
    assert "only seen in cleartext" in result.reason
    assert "RC 5003" in result.reason


def test_a_tls_1_0_and_1_1_client_will_break_when_the_effective_settings_switch_them_off(
    candidate,
):
    result = only(None, candidate, peer(992, "TLSv1;TLSv1.1", suites="C013"))

    assert result.verdict is Verdict.WILL_BREAK
    assert result.rule == "TN3270_Secure"
    assert "only seen on TLSv1, TLSv1.1" in result.reason
    assert "On: TLSv1.2, TLSv1.3" in result.reason
    assert "RC 412" in result.reason


def test_tls_1_0_is_judged_by_the_effective_defaults_when_the_rule_sets_no_switch():
    # No TLSv1 statement: the default decides, and the verdict follows attls.effective (whose
    # defaults may depend on the release), not a table of its own.
    policy = parse_policy(
        "TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n"
        "TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n"
        "  TTLSKeyringParms\n  {\n    Keyring R/R\n  }\n}\n"
        "TTLSRule r\n{\n  LocalPortRange 992\n  Direction Inbound\n"
        "  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n}\n"
    )
    result = only(None, policy, peer(992, "TLSv1"))

    tls1_on = effective_settings(policy, "r").protocols[Protocol.TLSV1]
    assert result.verdict is (Verdict.SAFE if tls1_on else Verdict.WILL_BREAK)


def test_a_client_whose_only_suite_is_dropped_is_at_risk_when_its_offer_is_unknown(candidate):
    result = only(None, candidate, peer(992, "TLSv1.2", suites="009C"))

    assert result.verdict is Verdict.AT_RISK
    assert "only used 009C" in result.reason
    assert "may offer one of" in result.reason


def test_a_client_whose_only_suite_is_dropped_will_break_when_we_chose_from_its_offer(candidate):
    # Today System SSL prefers all four kept suites to 009C: a client that got 009C offered none.
    result = only(parse_policy(CURRENT), candidate, peer(992, "TLSv1.2", suites="009C"))

    assert result.verdict is Verdict.WILL_BREAK
    assert result.current_rule == "TN3270_Secure"
    assert "chose from its offer" in result.reason
    assert "RC 402" in result.reason


def test_a_client_without_a_certificate_will_break_where_one_becomes_required(candidate):
    result = only(None, candidate, peer(8443, "TLSv1.2", suites="C02F", job="CICSPAY1"))

    assert result.verdict is Verdict.WILL_BREAK
    assert result.rule == "CICS_Payments"
    assert "ClientAuthType Required" in result.reason
    assert "RC 5001" in result.reason


def test_a_client_with_a_certificate_newly_validated_is_at_risk(candidate):
    result = only(None, candidate, peer(8443, "TLSv1.2", suites="C02F", job="CICSPAY1", cert=True))

    assert result.verdict is Verdict.AT_RISK
    assert "validated against the key ring" in result.reason


def test_a_new_server_certificate_from_another_issuer_is_at_risk(candidate):
    observation = PeerObservation(
        "Inbound", 992, "10.1.1.1", 50000, "TN3270A", frozenset({"TLSv1.2"}),
        frozenset({"C02F"}), server_issuers=frozenset({"CN=Old CA"}),
    )  # fmt: skip
    prediction = predict(None, candidate, [observation], issuer_of=lambda s: "CN=New CA")

    (result,) = prediction.peers
    assert result.verdict is Verdict.AT_RISK
    assert "issued by CN=New CA" in result.reason


def test_a_partner_never_offered_tls_1_3_is_untested_when_we_will_offer_it(candidate):
    result = only(
        None, candidate, peer(1416, "TLSv1.2", direction="Outbound", job="MQP1CHIN", suites="C02F")
    )

    assert result.verdict is Verdict.UNTESTED
    assert result.rule == "MQ_Clearing"
    assert "will offer TLSv1.3" in result.reason
    assert "never been offered" in result.reason


def test_a_partner_already_offered_tls_1_3_is_safe(candidate):
    # Today's rule offered TLS 1.3 and the partner chose 1.2: the offer itself is proven.
    current = parse_policy(CANDIDATE)
    result = only(
        current,
        candidate,
        peer(1416, "TLSv1.2", direction="Outbound", job="MQP1CHIN", suites="C02F"),
    )

    assert result.verdict is Verdict.SAFE


def test_a_client_seen_succeeding_with_what_the_candidate_keeps_is_safe(candidate):
    result = only(None, candidate, peer(992, "TLSv1.2;TLSv1.3", suites="C02F;1302"))

    assert result.verdict is Verdict.SAFE
    assert "seen succeeding with TLSv1.2, TLSv1.3" in result.reason
    assert "which rule TN3270_Secure keeps" in result.reason


def test_a_port_left_to_the_application_is_safe_and_says_so(candidate):
    result = only(None, candidate, peer(21, "cleartext", job="FTPD1"))

    assert result.verdict is Verdict.SAFE
    assert "TTLSEnabled Off" in result.reason


def test_a_peer_seen_only_before_the_window_has_no_data(candidate):
    old_day = date(2026, 10, 1)
    prediction = predict(
        None, candidate, [peer(992, "TLSv1", day=old_day)], today=date(2026, 12, 7)
    )

    (result,) = prediction.peers
    assert result.verdict is Verdict.NO_DATA
    assert "no observation in the last 30 day(s)" in result.reason


def test_a_peer_without_connections_has_no_data(candidate):
    result = only(None, candidate, peer(992, "", connections=0))

    assert result.verdict is Verdict.NO_DATA
    assert result.reason == "no connection observed in the window"


def test_a_rule_no_peer_was_seen_on_is_listed_as_a_service_without_data(candidate):
    prediction = predict(None, candidate, [peer(23, "cleartext")])

    by_name = {s.service: s for s in prediction.services}
    assert by_name["TN3270_Cleartext"].verdict is Verdict.WILL_BREAK
    assert by_name["CICS_Payments"].verdict is Verdict.NO_DATA
    assert by_name["CICS_Payments"].peers == ()


def test_daily_roll_ups_fold_per_peer_and_count_connections_a_day(candidate):
    days = [date(2026, 12, d) for d in range(1, 8)]
    rollups = [peer(992, "TLSv1", day=d, connections=10) for d in days]
    rollups.append(peer(992, "TLSv1.2", day=days[0], connections=30, suites="C02F"))

    prediction = predict(None, candidate, rollups, today=date(2026, 12, 7), window_days=10)

    (result,) = prediction.peers
    # Once seen on TLS 1.2: the peer can speak what the candidate keeps.
    assert result.verdict is Verdict.SAFE
    assert result.versions == {"TLSv1", "TLSv1.2"}
    assert len(result.observations) == 8
    assert result.connections_per_day == pytest.approx(100 / 10)
    assert prediction.counts[Verdict.SAFE] == 1


def test_connections_a_day_affected_add_up_the_peers_that_break(candidate):
    prediction = predict(
        None,
        candidate,
        [
            peer(23, "cleartext", address="10.0.0.1", connections=300),
            peer(992, "TLSv1", address="10.0.0.2", connections=60),
            peer(992, "TLSv1.2", address="10.0.0.3", suites="C02F", connections=900),
        ],
    )

    assert prediction.counts[Verdict.WILL_BREAK] == 2
    assert prediction.affected_connections_per_day == pytest.approx(12.0)


def test_a_bad_observation_raises_our_own_error(candidate):
    bad = peer(992, "TLSv1")
    with pytest.raises(ImpactInputError, match="unknown version"):
        predict(None, candidate, [bad._replace(versions=frozenset({"SSL9"}))])
    with pytest.raises(ImpactInputError, match="not-an-address"):
        predict(
            None,
            candidate,
            [bad._replace(remote_address="not-an-address")],
        )
    with pytest.raises(ImpactInputError, match="window_days"):
        predict(None, candidate, [], window_days=0)


def test_a_rule_for_some_remote_addresses_is_applied_only_to_those_peers(candidate):
    # A legacy exception: TLS 1.0 stays allowed for one subnet, searched before the rule of
    # the port. Peers of one port must not share a rule lookup when rules look at addresses.
    exception = CANDIDATE.replace(
        "TTLSRule TN3270_Secure\n",
        "TTLSRule Legacy_Subnet\n{\n  LocalPortRange 992\n  RemoteAddr 10.9.9.0/24\n"
        "  Direction Inbound\n  Priority 500\n  TTLSGroupActionRef gOn\n"
        "  TTLSEnvironmentActionRef eLegacy\n}\n"
        "TTLSEnvironmentAction eLegacy\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef ring\n"
        "  TTLSEnvironmentAdvancedParms\n  {\n    TLSv1 On\n    TLSv1.2 On\n  }\n}\n"
        "TTLSRule TN3270_Secure\n",
    )
    prediction = predict(
        None,
        parse_policy(exception),
        [peer(992, "TLSv1", address="10.9.9.5"), peer(992, "TLSv1", address="10.1.1.1")],
    )

    by_address = {p.remote_address: p for p in prediction.peers}
    assert by_address["10.9.9.5"].rule == "Legacy_Subnet"
    assert by_address["10.9.9.5"].verdict is Verdict.SAFE
    assert by_address["10.1.1.1"].rule == "TN3270_Secure"
    assert by_address["10.1.1.1"].verdict is Verdict.WILL_BREAK


def test_a_rule_removed_is_safe_only_for_peers_seen_succeeding_without_at_tls(candidate):
    # Today TN3270_Cleartext secures port 23; the candidate (CURRENT) has no rule for it.
    secured = peer(23, "TLSv1.2", suites="C02F")
    also_without = secured._replace(without_attls=frozenset({"TLSv1.2"}))

    at_risk = only(candidate, parse_policy(CURRENT), secured)
    safe = only(candidate, parse_policy(CURRENT), also_without)

    assert at_risk.verdict is Verdict.AT_RISK
    assert at_risk.rule is None and at_risk.current_rule == "TN3270_Cleartext"
    assert "AT-TLS no longer secures it" in at_risk.reason
    assert safe.verdict is Verdict.SAFE
    assert "seen succeeding without AT-TLS (TLSv1.2" in safe.reason


# --- peers the change does not affect ----------------------------------------------------------


def _without(text: str, rule: str) -> Policy:
    policy = parse_policy(text)
    del policy.rules[rule]
    return policy


def test_a_peer_refused_today_and_by_the_candidate_alike_is_unchanged_not_counted(candidate):
    # Today's policy is the candidate itself; the next change only removes another rule.
    cleartext = peer(23, "cleartext")
    old_tls = peer(992, "TLSv1", suites="C013", address="10.1.1.2")

    prediction = predict(candidate, _without(CANDIDATE, "CICS_Payments"), [cleartext, old_tls])

    by_address = {p.remote_address: p for p in prediction.peers}
    for result in by_address.values():
        assert result.unchanged
        assert result.verdict is Verdict.WILL_BREAK  # kept, for information
        assert result.reason.startswith("unchanged by this candidate: only seen ")
    assert "RC 5003" in by_address["10.1.1.1"].reason
    assert "RC 412" in by_address["10.1.1.2"].reason
    assert prediction.counts[Verdict.WILL_BREAK] == 0
    assert prediction.unchanged[Verdict.WILL_BREAK] == 2
    assert prediction.affected_connections_per_day == 0
    services = {s.service: s for s in prediction.services}
    assert services["TN3270_Secure"].verdict is Verdict.SAFE  # nothing changes for its peers
    assert services["TN3270_Secure"].unchanged[Verdict.WILL_BREAK] == 1


def test_a_rule_renamed_and_moved_with_the_same_settings_leaves_its_peers_unchanged(candidate):
    # The same rule under another name, first in the file: another name, another place in
    # the evaluation order, the same effective settings.
    start = CANDIDATE.index("TTLSRule TN3270_Cleartext")
    end = CANDIDATE.index("TTLSRule CICS_Payments")
    block = CANDIDATE[start:end].replace("TN3270_Cleartext", "TN3270_Plain")
    first_rule = CANDIDATE.index("TTLSRule ")
    moved = CANDIDATE[:first_rule] + block + CANDIDATE[first_rule:start] + CANDIDATE[end:]

    result = only(candidate, parse_policy(moved), peer(23, "cleartext"))

    assert (result.rule, result.current_rule) == ("TN3270_Plain", "TN3270_Cleartext")
    assert result.unchanged
    assert result.verdict is Verdict.WILL_BREAK


def test_a_setting_that_matters_changed_makes_the_peer_affected(candidate):
    # Today TN3270_Secure still has TLSv1 On; the candidate drops it.
    today = parse_policy(CANDIDATE.replace("    TLSv1 Off\n", "    TLSv1 On\n", 1))
    tls10 = peer(992, "TLSv1", suites="C013")
    modern = peer(992, "TLSv1.2", suites="C02F", address="10.1.1.2")

    prediction = predict(today, candidate, [tls10, modern])

    by_address = {p.remote_address: p for p in prediction.peers}
    assert not by_address["10.1.1.1"].unchanged
    assert by_address["10.1.1.1"].verdict is Verdict.WILL_BREAK
    assert not by_address["10.1.1.1"].reason.startswith("unchanged")
    assert not by_address["10.1.1.2"].unchanged  # same rule, other settings: judged as usual
    assert prediction.counts[Verdict.WILL_BREAK] == 1
    assert not any(prediction.unchanged.values())


def test_with_no_policy_today_no_peer_is_unchanged(candidate):
    prediction = predict(None, candidate, [peer(23, "cleartext"), peer(992, "TLSv1.2")])

    assert not any(p.unchanged for p in prediction.peers)
    assert prediction.counts[Verdict.WILL_BREAK] == 1
    assert not any(prediction.unchanged.values())


def test_same_effect_ignores_names_and_sources_but_not_what_the_connection_gets(candidate):
    from attls.impact.verdicts import same_effect

    secure = effective_settings(candidate, "TN3270_Secure")
    cleartext_port = effective_settings(candidate, "TN3270_Cleartext")  # same actions, port 23
    payments = effective_settings(candidate, "CICS_Payments")  # another environment

    assert secure != cleartext_port  # the dataclass's own equality sees the names
    assert same_effect(secure, cleartext_port)
    assert not same_effect(secure, payments)
