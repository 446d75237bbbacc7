"""The reference data center, running: the "before" mix the account measured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attls.reports.netstat import parse_netstat_allconn, parse_netstat_group
from lparsim.config import load_config
from lparsim.runner import SimulatorThread
from tests.lparsim.support import Sim, wait_for

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "scenario" / "reference-datacenter.yaml"
PRODUCTION = ("SYSA", "SYSB")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    config = load_config(REFERENCE, workdir=tmp_path_factory.mktemp("reference"), base_port=0)
    thread = SimulatorThread(config, populations=True).start()
    try:
        user = config.user("ATTLSADM")
        assert user is not None and user.password is not None
        yield Sim(thread, user.password)
    finally:
        thread.stop()


def _sessions(sim: Sim) -> dict[str, dict[str, int]]:
    """Established sessions per kind (app TLS, AT-TLS, none) and protocol, SYSA + SYSB."""
    total: dict[str, dict[str, int]] = {"app": {}, "at-tls": {}, "none": {}}
    for name in PRODUCTION:
        state = sim.admin("GET", f"/lpars/{name}").json()
        for kind, protocols in state["stacks"]["TCPIP"]["sessions"].items():
            for protocol, count in protocols.items():
                total[kind][protocol] = total[kind].get(protocol, 0) + count
    return total


@pytest.mark.slow
def test_the_before_estate_has_the_measured_mix_and_no_attls(reference: Sim) -> None:
    expected = 122 + 35 + 74  # concurrent sessions the populations hold on SYSA and SYSB

    def steady() -> dict[str, dict[str, int]] | None:
        sessions = _sessions(reference)
        held = sum(sum(protocols.values()) for protocols in sessions.values())
        return sessions if held >= expected else None

    sessions = wait_for(steady, timeout=20, step=0.5)
    app = sessions["app"]
    encrypted = sum(app.values())
    cleartext = sum(sessions["none"].values())
    legacy = app.get("TLSv1", 0) + app.get("TLSv1.1", 0)
    assert sessions["at-tls"] == {}
    assert 0.65 <= encrypted / (encrypted + cleartext) <= 0.71
    assert 0.75 <= app.get("TLSv1.2", 0) / encrypted <= 0.81
    assert 0.19 <= legacy / encrypted <= 0.25

    for name in PRODUCTION:
        group, everything, uncovered, pasearch = reference.ssh(
            "netstat -x",
            "netstat -a",
            "netstat -a -X NOTTLSPOLICY",
            "pasearch -t",
            lpar=name,
        )
        assert parse_netstat_group(group.stdout).groups == []
        assert pasearch.stdout.strip() == "No policies retrieved"
        rows = parse_netstat_allconn(everything.stdout).rows
        # No policy: every connection is outside AT-TLS.
        assert len(parse_netstat_allconn(uncovered.stdout).rows) == len(rows)
        inbound = [s for s in reference.lpar(name).config.services if s.direction == "Inbound"]
        assert sum(1 for row in rows if row.state == "Listen") == len(inbound)


@pytest.mark.slow
def test_every_lpar_of_the_reference_answers_over_zosmf_and_ssh(reference: Sim) -> None:
    for name in ("SYSA", "SYSB", "LAB1"):
        with reference.zosmf(name) as client:
            assert client.get("/zosmf/info").json()["lparsim"]["system"] == name
        assert "TcpImage TCPIP" in reference.run("cat /etc/pagent.conf", lpar=name).stdout
