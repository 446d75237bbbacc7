"""Collecting one run's outputs: pasearch and the two netstat reports, the syslog, the probe.

Every output is stored raw with its SHA-256 before it is parsed; output that does not parse is
kept, marked, and the run goes on with what did parse. `_collect` is the one place a run
reads the stack: keep it one function."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.utils import timezone

from attls.errors import AttlsError, ReportParseError
from fleet.connectors.base import Connector, ConnectorError, command_line
from fleet.connectors.factory import probe_address
from fleet.models import (
    LparConnection,
    VerificationRun,
)
from fleet.probe import ProbeTarget, not_probed, probe
from fleet.readings import read_output
from fleet.verify.handshakes import _handshake_failures
from fleet.verify.outputs import _json, sha256, storable
from fleet.verify.snapshot import Previous, Views
from policies.models import Stack

log = logging.getLogger(__name__)

# Which attribute of Views each command's report fills.
_VIEW_OF = {"pasearch": "pasearch", "netstat_conn": "connections", "netstat_allconn": "uncovered"}


def stack_commands(stack: str) -> dict[str, str]:
    """The three views' command lines for a stack, its name quoted for the shell."""
    return {
        "pasearch": command_line("pasearch", "-t", "-p", stack),
        "netstat_conn": command_line("netstat", "-x", "CONN", "-p", stack),
        "netstat_allconn": command_line("netstat", "-a", "-X", "NOTTLSPOLICY", "-p", stack),
    }


def _collect(
    run: VerificationRun,
    connection: LparConnection,
    connector: Connector,
    previous: Previous | None = None,
    scope: set[str] | None = None,
) -> Views:
    commands = stack_commands(run.stack.name)
    views = Views()
    outputs: dict[str, Any] = {}
    for name, command in commands.items():
        started = time.perf_counter()
        result = connector.run(command)
        text = result.stdout
        entry: dict[str, Any] = {
            "command": command,
            "text": storable(text),
            "nul_shown": text.count("\x00"),
            "stderr": storable(result.stderr),
            "exit_status": result.exit_status,
            "sha256": sha256(text),
            "seconds": round(time.perf_counter() - started, 3),
            "parsed": False,
            "error": "",
        }
        try:
            if not result.ok:
                raise ReportParseError(
                    1, f"exit status {result.exit_status}: {result.stderr[:200]}"
                )
            reading = read_output(name, text, stack=run.stack)
            setattr(views, _VIEW_OF[name], reading.report)
            entry["parsed"] = True
            if reading.warning:
                entry["warning"] = reading.warning
        except AttlsError as error:
            entry["error"] = str(error)
            run.parse_failed = True
            log.warning("verification %s: %s output kept unparsed: %s", run.uuid, name, error)
        outputs[name] = entry
    _handshake_failures(run, connector, connection, outputs, views, previous)
    targets, unprobed = probe_plan(run.stack, connection, scope)
    command = f"sslyze probe of {len(targets)} port(s)"
    started_at = timezone.now()
    # On the row before the probe starts and as soon as it ends (whatever becomes of this
    # run): a run reading the syslog meanwhile must know whose connections it may see.
    outputs["probe"] = {
        "command": command,
        "json": {},
        "sha256": sha256(_json({})),
        "seconds": 0.0,
        "parsed": False,
        "error": "the probe had not finished when this was stored",
        "started_at": started_at.isoformat(),
        "finished_at": None,
    }
    VerificationRun.objects.filter(pk=run.pk).update(outputs=outputs)
    started = time.perf_counter()
    views.probe = _probe_each(targets) | unprobed
    probe_text = _json(views.probe)
    outputs["probe"] = {
        "command": command,
        "json": views.probe,
        "sha256": sha256(probe_text),
        "seconds": round(time.perf_counter() - started, 3),
        "parsed": True,
        "error": "",
        "started_at": started_at.isoformat(),
        "finished_at": timezone.now().isoformat(),
    }
    VerificationRun.objects.filter(pk=run.pk).update(outputs=outputs)
    run.outputs = outputs
    return views


def probe_plan(
    stack: Stack, connection: LparConnection, scope: set[str] | None
) -> tuple[list[ProbeTarget], dict[str, dict[str, Any]]]:
    """The ports to probe, and the services that cannot be probed with the reason.

    Only the inbound services in the deployed version's scope (`scope`: its rule names) are
    probed; before anything is deployed (`scope` None) every inbound service is, as the
    inventory of the pre-portal estate. A port with no address to probe it at is recorded
    as "not probed" for that service alone: one service never blinds the stack.
    """
    targets: list[ProbeTarget] = []
    unprobed: dict[str, dict[str, Any]] = {}
    for service in stack.services.filter(direction="Inbound").order_by("name"):
        if service.local_port_low == 0:
            continue
        if scope is not None and service.name not in scope:
            continue
        try:
            host, port = probe_address(connection, stack.name, service.local_port_low)
        except ConnectorError as error:
            unprobed[service.name] = not_probed(
                service.local_port_low, f"{connection.host}:?", str(error)
            )
            continue
        targets.append(ProbeTarget(service.name, service.local_port_low, host, port))
    return targets, unprobed


def _probe_each(targets: list[ProbeTarget]) -> dict[str, dict[str, Any]]:
    """The probe's results; if the probe itself fails, every port reads "not probed"."""
    try:
        return probe(targets)
    except Exception as error:  # sslyze or a socket error of the probe's own, not the LPAR's
        log.exception("the probe of %d port(s) failed", len(targets))
        return {
            t.key: not_probed(t.zos_port, f"{t.host}:{t.port}", f"the probe failed: {error!r}")
            for t in targets
        }
