"""The outbound seams the deployment tests inject faults at, against a real lparsim: one z/OSMF
API failing while the rest answers, an SSH session lost mid-command, a port nobody serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleet.connectors.base import TransientError
from fleet.connectors.factory import connector_for
from fleet.models import LparConnection
from fleet.verify import probe_plan
from policies.models import Service
from tests.fleet.conftest import FAST, Lab

POLICY_FILE = "/etc/pagent/TCPIP.policy"


@pytest.fixture(autouse=True)
def _no_faults(lab: Lab) -> Iterator[None]:
    yield
    lab.clear()


def test_a_request_fault_fails_only_the_matching_method_and_path(
    connection: LparConnection, lab: Lab
) -> None:
    lab.fault("request", method="PUT", path="/zosmf/restfiles/", status=500, count=1)
    with connector_for(connection, timeouts=FAST) as lpar:
        text = lpar.get_file(POLICY_FILE)  # a GET is served
        assert lpar.console("D T").lines  # so is the console
        with pytest.raises(TransientError, match="HTTP 500"):
            lpar.put_file(POLICY_FILE, text)
        lpar.put_file(POLICY_FILE, text)  # count 1: the next one is served


def test_a_lost_ssh_session_is_a_transient_error_and_the_next_command_reconnects(
    connection: LparConnection, lab: Lab
) -> None:
    lab.fault("lose-session", command="netstat", count=1)
    with connector_for(connection, timeouts=FAST) as lpar:
        assert lpar.run("pasearch -t -p TCPIP").ok  # another command is not touched
        with pytest.raises(TransientError, match="closed the connection while running 'netstat'"):
            lpar.run("netstat -x CONN -p TCPIP")
        assert lpar.run("netstat -x CONN -p TCPIP").ok


def test_a_service_without_a_probe_port_is_not_probed_and_the_rest_are(
    connection: LparConnection, lab: Lab
) -> None:
    stack = connection.lpar.stacks.get()
    served = next(s for s in lab.lpar().config.services if s.direction == "Inbound")
    Service.objects.create(
        stack=stack, name="Served", local_port_low=served.port, local_port_high=served.port
    )
    Service.objects.create(stack=stack, name="Unserved", local_port_low=7554, local_port_high=7554)
    Service.objects.create(stack=stack, name="Out_of_scope", local_port_low=23, local_port_high=23)

    targets, unprobed = probe_plan(stack, connection, {"Served", "Unserved"})

    assert [t.key for t in targets] == ["Served"]
    assert list(unprobed) == ["Unserved"]
    assert unprobed["Unserved"]["tls"] is None
    assert unprobed["Unserved"]["not_probed"].startswith(
        "no probe port is mapped for TCPIP port 7554"
    )
    everything, _ = probe_plan(stack, connection, None)  # nothing deployed: the inventory
    assert {t.key for t in everything} == {"Served"}
