"""Verification of one stack: what is loaded, what each connection negotiated, what ports accept.

Three native views and one active probe, as ARCHITECTURE.md describes:

- `pasearch -t -p STACK`: is the loaded policy the last deployed version?
- `netstat -x CONN -p STACK`: which rule secured each connection, with which protocol and cipher?
- `netstat -a -X NOTTLSPOLICY -p STACK`: which connections no rule covers?
- the probe (fleet/probe.py): which versions and suites each service port accepts, and its
  certificate.

Every output is stored raw with its SHA-256 before it is parsed. Output that does not parse
is kept, marked, and the run goes on with what did parse (the worker never crashes on it).
From the parsed views come per-service figures, connection observations (bulk written),
drift events (opened once, resolved when the condition clears) and the certificate
inventory with its alerts and incidents.

Handshake failures are the EZD1286I lines of the stack that the syslog gained since the
previous run read it. The probe itself is refused by policy on purpose (TLS 1.0, weak
suites), and AT-TLS logs those refusals too: a line whose REMOTE socket is one the portal's
probe connected from, to the port named as LOCAL, is counted as a probe refusal, not as a
failure of the service. Within a run the syslog is read before the probe, so a run's own
probe shows up in the next run's lines: the probes that can have produced the new lines are
those of the runs of the stack that were probing after the previous read.

The package, by role: `collect` (the outputs and their parsed views, `snapshot`), `handshakes`
(the syslog's EZD1286I lines), `figures` (per-service figures, observations, roll-ups),
`drift`, `certificates` (inventory, alerts, incidents), `housekeeping`, and `run`, which runs
one verification through them. The names callers use are importable from `fleet.verify`.
"""

from fleet.probe import probe_sockets
from fleet.verify.certificates import ALERT_DAYS
from fleet.verify.collect import probe_plan
from fleet.verify.drift import Condition, FileCheck, _conditions, in_flux
from fleet.verify.figures import Seen
from fleet.verify.handshakes import (
    PROBE_LOG_DELAY,
    SYSLOG_LINES_KEPT,
    ProbeRuns,
    probe_runs,
)
from fleet.verify.housekeeping import end_abandoned_runs, prune_observations
from fleet.verify.outputs import sha256, storable
from fleet.verify.run import deployed_target, verify
from fleet.verify.snapshot import Previous, Views

__all__ = [
    "ALERT_DAYS",
    "PROBE_LOG_DELAY",
    "SYSLOG_LINES_KEPT",
    "Condition",
    "FileCheck",
    "Previous",
    "ProbeRuns",
    "Seen",
    "Views",
    "_conditions",
    "deployed_target",
    "end_abandoned_runs",
    "in_flux",
    "probe_plan",
    "probe_runs",
    "probe_sockets",
    "prune_observations",
    "sha256",
    "storable",
    "verify",
]
