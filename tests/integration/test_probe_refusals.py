"""The portal's own probe is refused on purpose, and its refusals are not the services' failures.

The probe offers TLS 1.0, 1.1 and weak suites to every inbound port; after a deployment
AT-TLS refuses them and logs EZD1286I with the probe's source socket as REMOTE. The next
verification reads those lines: it must count them as probe refusals, apart, not as failed
handshakes of services whose clients all negotiate fine.
"""

from __future__ import annotations

import itertools
import time

import pytest

from attls.reports.syslog import parse_failure_line
from fleet.models import RunStatus, VerificationRun
from fleet.tasks import verification_request
from fleet.verify import probe_sockets
from policies.models import Service, Stack

from .conftest import Lab, wait_for
from .test_deployment import deploy, finished, publish, steps, sysa

pytestmark = pytest.mark.integration

MODERN = {"TLSv1.2", "TLSv1.3"}


def verified(stack: Stack) -> VerificationRun:
    run = verification_request(stack_id=stack.id)
    return wait_for(
        lambda: VerificationRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).first(),
        timeout=60,
        what="a verification",
    )


def well_behaved(estate: Lab, stack: Stack) -> list[str]:
    """Inbound services of SYSA whose simulated clients all speak TLS 1.2 or 1.3, without a
    client certificate: nothing of theirs should fail once AT-TLS secures the port."""
    names = []
    for service in estate.lpar().config.services:
        if service.direction != "Inbound" or not service.populations:
            continue
        if all(
            p.protocols and {v.value for v in p.protocols} <= MODERN and not p.client_certificate
            for p in service.populations
        ):
            names.append(
                Service.objects.get(
                    stack=stack, local_port_low=service.port, jobname=service.jobname
                ).name
            )
    return names


def test_probe_refusals_are_counted_apart_and_never_as_the_services_failures(estate: Lab):
    stack = sysa()
    deployment = finished(deploy(stack, publish(stack)))
    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    estate.fault("drop")  # the clients reconnect under AT-TLS
    time.sleep(4)
    services = well_behaved(estate, stack)
    assert services, "the reference data center has services with modern clients only"

    runs = [verified(stack) for _ in range(3)]

    for previous, run in itertools.pairwise(runs):
        window = run.outputs["syslog"]["window"]
        assert window["previous_run"] == str(previous.uuid)
        assert str(previous.uuid) in window["probe_runs"]
        figures = run.results["services"]
        for name in services:
            assert figures[name]["in_scope"], name
            assert figures[name]["handshake_failures"] == {}, (name, figures[name])
        # The previous probe offered TLS 1.0 to every secured port: refused, and counted
        # there, each line traceable to a socket the previous probe recorded.
        refused = {name: figures[name]["probe_refusals"] for name in services}
        assert all(refused.values()), refused
        sockets = probe_sockets(previous.outputs["probe"]["json"])
        assert window["probe_refusals"]
        for refusal in window["probe_refusals"]:
            address, _, port = refusal["remote"].rpartition("..")
            if refusal["probe_run"] == str(previous.uuid):
                assert (address, int(port), refusal["local_port"]) in sockets
        assert sum(sum(codes.values()) for codes in refused.values()) <= len(
            window["probe_refusals"]
        )
        assert run.results["probe_refusals_total"]
        # No line of a probe socket was left among the services' failures.
        every_probe = set()
        for uuid in window["probe_runs"]:
            found = VerificationRun.objects.get(uuid=uuid)
            every_probe |= probe_sockets(found.outputs["probe"]["json"])
        counted = sum(
            sum(codes.values()) for codes in (f["handshake_failures"] for f in figures.values())
        )
        assert counted <= window["new_lines"] - len(window["probe_refusals"])
        stored = run.outputs["syslog"]["text"].splitlines()[-window["new_lines"] :]
        if window["new_lines"] and len(stored) == window["new_lines"]:
            from_probe = [
                line for line in stored if parse_failure_line(line).probe_socket() in every_probe
            ]
            assert len(from_probe) == len(window["probe_refusals"])
