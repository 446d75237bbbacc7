"""The outbound seams the deployment tests inject faults at, against a real lparsim: one z/OSMF
API failing while the rest answers, an SSH session lost mid-command, a port nobody serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleet.connectors.base import TransientError
from fleet.connectors.factory import connector_for
from fleet.deploy import Runner, sha256
from fleet.models import (
    Deployment,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    TargetStatus,
)
from fleet.verify import probe_plan
from policies.models import PolicyVersion, Service
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


def test_a_deployment_given_up_after_its_workers_kept_stopping_is_restored(
    connection: LparConnection, lab: Lab, make_user
) -> None:
    """What the worker does with a deployment claimed more than FLEET_DEPLOY_MAX_CLAIMS
    times: no push again; the stack goes back to last-known-good and every row ends."""
    stack = connection.lpar.stacks.get()
    operator = make_user("operator")
    with connector_for(connection, timeouts=FAST) as lpar:
        good = lpar.get_file(POLICY_FILE)
        half_done = good + "\n# half-done upload of a worker that stopped\n"
        lpar.put_file(POLICY_FILE, half_done)
    version = PolicyVersion.objects.create(
        stack=stack,
        number=1,
        text=half_done,
        sha256=sha256(half_done),
        model={},
        author=operator,
        note="n",
    )
    deployment = Deployment.objects.create(
        requested_by=operator, status=RunStatus.RUNNING, attempts=4
    )
    running = DeploymentTarget.objects.create(
        deployment=deployment,
        position=0,
        stack=stack,
        version=version,
        text=half_done,
        sha256=sha256(half_done),
        status=TargetStatus.RUNNING,
        uploaded=True,
        last_known_good=good,
        last_known_good_sha256=sha256(good),
        last_known_good_source="the baseline (test)",
    )
    waiting = DeploymentTarget.objects.create(
        deployment=deployment,
        position=1,
        stack=stack,
        version=version,
        text=half_done,
        sha256=sha256(half_done),
    )

    Runner(
        deployment,
        connector_for=lambda target: connector_for(target.stack.lpar.connection, timeouts=FAST),
        verify=lambda target, connector: pytest.fail("a given-up deployment must not verify"),
    ).give_up("given up after 3 workers stopped")

    deployment.refresh_from_db()
    running.refresh_from_db()
    waiting.refresh_from_db()
    assert deployment.status == RunStatus.ROLLED_BACK and deployment.finished_at is not None
    assert running.status == TargetStatus.ROLLED_BACK
    assert "given up after 3 workers stopped" in running.error
    assert waiting.status == TargetStatus.SKIPPED
    with connector_for(connection, timeouts=FAST) as lpar:
        assert lpar.get_file(POLICY_FILE) == good
    names = list(deployment.steps.values_list("name", flat=True))
    assert names[0] == "given up" and "restore last-known-good" in names
    assert "upload" not in names
