"""PAGENT: the file chain, REFRESH and UPDATE, errors, timestamps, instance ids, drift."""

from __future__ import annotations

import time

from attls.reports.pasearch import parse_pasearch
from tests.lparsim.policies import FTP, TN3270, policy
from tests.lparsim.support import Sim, base_config, wait_for


def _report(sim: Sim):  # type: ignore[no-untyped-def]
    return parse_pasearch(sim.run("pasearch -t").stdout)


def test_a_bad_policy_keeps_the_installed_one_and_logs_the_problem_with_its_line(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270))
    before = _report(sim)
    answer = sim.install(
        policy(TN3270).replace("Direction                   Inbound", "Direction Sideways")
    )
    assert (
        answer.split("\r")[0]
        == "EZZ8434I PAGENT POLICY DEFINITIONS CONTAIN ERRORS FOR TCPIP : TTLS"
    )
    after = _report(sim)
    assert after.instance_id == before.instance_id
    assert [rule.name for rule in after.rules] == ["rule_TN3270"]
    log = sim.run("cat /tmp/pagent.log").stdout
    error = next(line for line in log.splitlines() if "Sideways" in line)
    assert "OBJERR" in error and "/etc/pagent/TCPIP.policy" in error and "line" in error


def test_refresh_reinstalls_everything_and_update_only_what_changed(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270, FTP))
    first = _report(sim)
    time.sleep(1.1)  # the times have one-second resolution
    assert "EZZ8771I" in sim.console("F PAGENT,REFRESH")
    refreshed = _report(sim)
    assert refreshed.instance_id is not None and first.instance_id is not None
    assert refreshed.instance_id > first.instance_id
    assert refreshed.rules[0].created != first.rules[0].created  # FLUSH: installed again

    time.sleep(1.1)
    assert "EZZ8771I" in sim.console("F PAGENT,UPDATE")
    unchanged = _report(sim)
    assert unchanged.instance_id == refreshed.instance_id  # nothing changed, nothing installed

    time.sleep(1.1)
    changed = policy(TN3270, FTP).replace("Priority                    90", "Priority 95")
    sim.write_file("/etc/pagent/TCPIP.policy", changed)
    assert "EZZ8771I" in sim.console("F PAGENT,UPDATE")
    updated = _report(sim)
    rules = {rule.name: rule for rule in updated.rules}
    old = {rule.name: rule for rule in refreshed.rules}
    assert rules["rule_FTP"].priority == 95
    assert rules["rule_FTP"].created == old["rule_FTP"].created
    assert rules["rule_FTP"].updated != old["rule_FTP"].updated
    assert rules["rule_TN3270"].updated == old["rule_TN3270"].updated
    assert updated.instance_id is not None and updated.instance_id > refreshed.instance_id


def test_the_instance_id_is_the_epoch_second_of_the_install(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    began = int(time.time())
    sim.install(policy(TN3270))
    instance = _report(sim).instance_id
    assert instance is not None and began <= instance <= int(time.time()) + 1


def test_the_refresh_interval_picks_up_an_out_of_band_edit(start) -> None:  # type: ignore[no-untyped-def]
    data = base_config()
    data["lpars"][0]["stacks"][0]["sim"]["refresh_seconds"] = 1
    sim: Sim = start(data)
    sim.install(policy(TN3270))
    drift = sim.admin("POST", "/lpars/SYSA/faults/drift", {})
    assert drift.is_success
    assert "TLSv1 On" in sim.run("cat /etc/pagent/TCPIP.policy").stdout

    def weakened() -> bool:
        rule = _report(sim).rules[0]
        environment = rule.detail("Environment")
        return (
            environment is not None
            and environment.get("TTLSEnvironmentAdvancedParms", "TLSv1") == "On"
        )

    assert wait_for(weakened, timeout=5)
    console = sim.run("cat /var/log/console.log").stdout
    assert console.count("EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR TCPIP : TTLS") >= 3


def test_an_injected_refresh_failure_fails_once(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270))
    assert sim.admin("POST", "/lpars/SYSA/faults/refresh-failure", {"count": 1}).is_success
    assert "EZZ8434I" in sim.console("F PAGENT,REFRESH")
    assert "EZZ8771I" in sim.console("F PAGENT,REFRESH")


def test_a_tcpimage_pointing_at_the_policy_file_installs_nothing(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270))
    sim.write_file("/etc/pagent.conf", "TcpImage TCPIP /etc/pagent/TCPIP.policy FLUSH PURGE 1800\n")
    answer = sim.console("F PAGENT,REFRESH")
    assert "EZZ8434I" not in answer
    assert sim.run("pasearch -t").stdout.strip() == "No policies retrieved"


def test_a_broken_pagent_conf_gives_ezz8779i_and_keeps_the_policy(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270))
    sim.write_file("/etc/pagent.conf", "TcpImage\nBogusStatement x\n")
    assert "EZZ8779I" in sim.console("F PAGENT,REFRESH")
    assert [rule.name for rule in _report(sim).rules] == ["rule_TN3270"]


def test_a_restart_keeps_the_files_and_reinstalls_the_policy(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270))
    sim.thread.stop()
    again: Sim = start()
    assert [rule.name for rule in _report(again).rules] == ["rule_TN3270"]
