"""The AT-TLS syslog as a report: EZD1286I handshake failures, per rule, code and peer.

AT-TLS writes EZD1286I to syslogd (facility daemon, trace bit 2) for every failed
connection (reference §5.3; IBM message EZD1286I):

    EZD1286I TTLS Error GRPID: gid ENVID: eid CONNID: cid LOCAL: ip..port
    REMOTE: ip..port JOBNAME: j USERID: u RULE: rule RC: rcode event

syslogd prefixes it with the time, the system and the TCP/IP job name (`Dec  6 10:12:13
SYSA TCPIP: EZD1286I ...`; some syslogds add the process id: `TCPIP[67174]:`). The RC is
right-aligned in four columns (`RC:  412`), and the event may be followed by more data
(`RC: 402 Initial Handshake 00000000 7EB6E278`, seen in IBM support's answer "Why am I
getting message EZD1286I with return code 402"). gid/eid/cid are 8-digit hex. IPv4 peers
of an IPv6 stack are written IPv4-mapped, sometimes zero-padded
(`::FFFF:000.000.000.002..3973`, the EZD1287I example in the reference).

Nothing here knows Django: the fleet reads the file, this module says what it holds.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from attls.returncodes import Family, describe, family_of

MESSAGE_ID = "EZD1286I"

_RULE = re.compile(r"\bRULE: (\S+)")
# The event runs to the end of the line, or (EZD1287I with its continuation lines joined)
# to the next label.
_RC = re.compile(
    r"\bRC: +(\d+)(?: +((?:(?!\b(?:LOCAL|REMOTE|JOBNAME|USERID|RULE|GRPID|ENVID|CONNID):).)*))?"
)
_CONNID = re.compile(r"\bCONNID: (\S+)")
_LOCAL = re.compile(r"\bLOCAL: (\S+)\.\.(\d+)")
_REMOTE = re.compile(r"\bREMOTE: (\S+)\.\.(\d+)")
_JOBNAME = re.compile(r"\bJOBNAME: (\S+)")
_USERID = re.compile(r"\bUSERID: (\S+)")

# The documented field order, in one pass (the common case); other shapes (EZD1287I with its
# continuation lines joined, fields missing) go field by field.
_EZD1286I = re.compile(
    r"EZD1286I TTLS Error GRPID: \S+ ENVID: \S+ CONNID: (?P<conn>\S+)"
    r" LOCAL: (?P<laddr>\S+)\.\.(?P<lport>\d+) REMOTE: (?P<raddr>\S+)\.\.(?P<rport>\d+)"
    r" JOBNAME: (?P<job>\S+) USERID: (?P<user>\S+) RULE: (?P<rule>\S+)"
    r" RC: +(?P<rc>\d+)(?: +(?P<event>.*?))?\s*$"
)

# (source address, source port, z/OS port): one TCP connection of an active probe.
ProbeSocket = tuple[str, int, int]
# How many of a rule's newest lines a count keeps, as evidence for an incident.
LINES_KEPT_PER_RULE = 50


@lru_cache(maxsize=4096)  # a syslog repeats its peers
def normal_address(text: str) -> str:
    """One spelling per IP address: `::FFFF:010.001.002.003` and `10.1.2.3` are the same."""
    text = text.strip()
    if text.lower().startswith("::ffff:") and "." in text:
        text = text[7:]
    parts = text.split(".")
    if len(parts) == 4 and all(part.isdigit() for part in parts):
        return ".".join(str(int(part)) for part in parts)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def address_port(text: str) -> tuple[str, int] | None:
    """`10.1.2.3..992` -> ("10.1.2.3", 992); None when it is not an address..port."""
    address, _, port = text.rpartition("..")
    if not address or not port.isdigit():
        return None
    return normal_address(address), int(port)


@dataclass(frozen=True)
class FailureLine:
    """What an EZD1286I line says about one failed handshake (`?` or None for what it lacks)."""

    rule: str
    rc: str
    conn_id: str
    local_port: int | None
    remote: tuple[str, int] | None  # the peer's socket: for an inbound rule, the client's
    local_address: str = ""
    jobname: str = ""
    userid: str = ""
    event: str = ""

    @property
    def peer(self) -> str:
        return self.remote[0] if self.remote is not None else "?"

    @property
    def meaning(self) -> str:
        return describe(self.rc)

    @property
    def family(self) -> Family:
        return family_of(self.rc)

    def probe_socket(self) -> ProbeSocket | None:
        if self.remote is None or self.local_port is None:
            return None
        return (self.remote[0], self.remote[1], self.local_port)


def parse_failure_line(line: str) -> FailureLine:
    """The fields of one EZD1286I line, e.g. `... TCPIP: EZD1286I TTLS Error GRPID: 00000001
    ENVID: 00000002 CONNID: 0000010A LOCAL: 10.1.1.1..992 REMOTE: 10.9.9.9..40312
    JOBNAME: TN3270A USERID: TN3270A RULE: TN3270_Secure RC:  412 Initial Handshake`."""
    whole = _EZD1286I.search(line)
    if whole is not None:
        return FailureLine(
            rule=whole["rule"],
            rc=whole["rc"],
            conn_id=whole["conn"],
            local_port=int(whole["lport"]),
            remote=(normal_address(whole["raddr"]), int(whole["rport"])),
            local_address=normal_address(whole["laddr"]),
            jobname=whole["job"],
            userid=whole["user"],
            event=whole["event"] or "",
        )
    rule, rc, conn_id = _RULE.search(line), _RC.search(line), _CONNID.search(line)
    local, remote = _LOCAL.search(line), _REMOTE.search(line)
    job, user = _JOBNAME.search(line), _USERID.search(line)
    return FailureLine(
        rule=rule.group(1) if rule else "?",
        rc=rc.group(1) if rc else "?",
        conn_id=conn_id.group(1) if conn_id else "?",
        local_port=int(local.group(2)) if local else None,
        remote=(normal_address(remote.group(1)), int(remote.group(2))) if remote else None,
        local_address=normal_address(local.group(1)) if local else "",
        jobname=job.group(1) if job else "",
        userid=user.group(1) if user else "",
        event=(rc.group(2) or "").strip() if rc else "",
    )


def stack_failure_lines(text: str, stack: str) -> list[str]:
    """The EZD1286I lines that the TCP/IP stack `stack` (its job name) wrote to the syslog."""
    tagged = (f" {stack}:", f" {stack}[")
    return [
        line
        for line in text.splitlines()
        if MESSAGE_ID in line and (tagged[0] in line or tagged[1] in line)
    ]


def new_lines(
    lines: list[str], last_read: str | None, *, stored: Callable[[str], str] = str
) -> tuple[list[str], bool]:
    """The lines after `last_read` (the newest line the previous reader kept), and whether it
    was found. Not found (none read before, or the file was rotated or restarted since):
    every line is new. `stored` turns a line into the form the previous reader kept it in."""
    if last_read:
        for index in range(len(lines) - 1, -1, -1):
            if stored(lines[index]) == last_read:
                return lines[index + 1 :], True
    return lines, False


@dataclass
class RuleFailures:
    """The failures of one rule: how many, per return code, per family and per peer address."""

    total: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    peers: Counter[str] = field(default_factory=Counter)
    # Per peer address and return code: what a peer history keeps (fleet.impact.history).
    peer_codes: Counter[tuple[str, str]] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)  # the newest, LINES_KEPT_PER_RULE at most

    def add(self, failure: FailureLine, line: str) -> None:
        self.total += 1
        self.codes[failure.rc] += 1
        self.families[str(failure.family)] += 1
        self.peers[failure.peer] += 1
        self.peer_codes[(failure.peer, failure.rc)] += 1
        self.lines.append(line)
        if len(self.lines) > 2 * LINES_KEPT_PER_RULE:
            del self.lines[:-LINES_KEPT_PER_RULE]

    def newest_lines(self) -> list[str]:
        return self.lines[-LINES_KEPT_PER_RULE:]


@dataclass
class FailureCount:
    """EZD1286I lines per rule: the services' failures and the probe's refusals apart."""

    rules: dict[str, RuleFailures] = field(default_factory=dict)
    probe_lines: list[FailureLine] = field(default_factory=list)
    probe_rules: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def services(self) -> dict[str, dict[str, int]]:
        """Per rule and RC, without the probe's refusals."""
        return {rule: dict(found.codes) for rule, found in self.rules.items()}

    @property
    def probe(self) -> dict[str, dict[str, int]]:
        """Per rule and RC, the refusals of the probe's own connections."""
        return {rule: dict(codes) for rule, codes in self.probe_rules.items()}


def count_failures(lines: Iterable[str], probe: set[ProbeSocket] | None = None) -> FailureCount:
    """Counts EZD1286I lines per rule, code, family and peer; a line whose REMOTE socket is
    one the probe connected from, to the port its LOCAL socket names, is a probe refusal."""
    probe = probe or set()
    rules: dict[str, RuleFailures] = defaultdict(RuleFailures)
    probe_rules: dict[str, Counter[str]] = defaultdict(Counter)
    probe_lines = []
    for line in lines:
        failure = parse_failure_line(line)
        if probe and failure.probe_socket() in probe:
            probe_rules[failure.rule][failure.rc] += 1
            probe_lines.append(failure)
        else:
            rules[failure.rule].add(failure, line)
    return FailureCount(rules=dict(rules), probe_lines=probe_lines, probe_rules=dict(probe_rules))
