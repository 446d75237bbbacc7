"""The AT-TLS syslog read as a report: EZD1286I failures per rule, code, family and peer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attls.reports.syslog import (
    LINES_KEPT_PER_RULE,
    count_failures,
    new_lines,
    normal_address,
    parse_failure_line,
    stack_failure_lines,
)
from attls.returncodes import RETURN_CODES, Family, describe, family_label, family_of

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "attls.md"


def line(
    remote: str = "10.9.9.9..40312",
    *,
    rule: str = "TN3270_Secure",
    rc: int = 412,
    conn: int = 0x10A,
    job: str = "TCPIP",
    tail: str = "Initial Handshake",
) -> str:
    return (
        f"Dec  6 10:12:13 SYSA {job}: EZD1286I TTLS Error GRPID: 00000001 ENVID: 00000002"
        f" CONNID: {conn:08X} LOCAL: 10.1.1.1..992 REMOTE: {remote} JOBNAME: TN3270A"
        f" USERID: TN3270A RULE: {rule} RC: {rc:4d} {tail}"
    )


def test_a_line_gives_every_field_with_the_codes_meaning_and_family() -> None:
    failure = parse_failure_line(line(rc=5003))

    assert failure.rule == "TN3270_Secure"
    assert failure.rc == "5003"
    assert failure.conn_id == "0000010A"
    assert (failure.local_address, failure.local_port) == ("10.1.1.1", 992)
    assert failure.remote == ("10.9.9.9", 40312)
    assert (failure.jobname, failure.userid) == ("TN3270A", "TN3270A")
    assert failure.event == "Initial Handshake"
    assert failure.meaning == "5003 cleartext received where TLS was expected"
    assert failure.family is Family.CLEARTEXT


def test_the_documented_order_and_any_other_order_read_the_same() -> None:
    documented = line(rc=412)
    # The same fields in another order (as EZD1287I's continuation lines give them).
    head, _, rest = documented.partition(" LOCAL: ")
    sockets, _, tail = rest.partition(" JOBNAME: ")
    reordered = f"{head} JOBNAME: {tail.replace(' RC:', f' LOCAL: {sockets} RC:')}"
    assert reordered != documented

    assert parse_failure_line(reordered) == parse_failure_line(documented)


def test_trailing_data_after_the_event_is_not_part_of_the_code() -> None:
    # The shape of the line in IBM support's answer on EZD1286I with RC 402.
    failure = parse_failure_line(line(rc=402, tail="Initial Handshake 00000000 7EB6E278"))

    assert failure.rc == "402"
    assert failure.family is Family.CIPHER
    assert failure.event.startswith("Initial Handshake")


def test_a_line_missing_fields_reads_them_as_unknown_never_raises() -> None:
    failure = parse_failure_line("SYSA TCPIP: EZD1286I TTLS Error garbage")

    assert (failure.rule, failure.rc, failure.conn_id) == ("?", "?", "?")
    assert failure.remote is None and failure.peer == "?"
    assert failure.family is Family.OTHER
    assert failure.probe_socket() is None


def test_peers_are_one_address_however_the_stack_spells_them() -> None:
    assert normal_address("::FFFF:010.001.002.003") == "10.1.2.3"
    assert normal_address("::ffff:a01:203") == "10.1.2.3"
    assert normal_address("2001:DB8::1") == "2001:db8::1"
    assert normal_address("not-an-address") == "not-an-address"


def test_only_the_stacks_own_ezd1286i_lines_are_read() -> None:
    text = "\n".join(
        [
            line(job="TCPIP"),
            line(job="TCPIP[67174]"),
            line(job="TCPIPB"),  # another stack whose name starts the same
            "Dec  6 10:12:13 SYSA TCPIP: EZD1281I TTLS Map CONNID: 0000010A ...",
            "Dec  6 10:12:13 SYSA PAGENT: EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE",
        ]
    )

    assert len(stack_failure_lines(text, "TCPIP")) == 2


def test_failures_are_counted_per_rule_code_family_and_peer() -> None:
    lines = [
        line("10.1.0.1..1000", rc=5003, conn=1),
        line("10.1.0.1..1001", rc=5003, conn=2),
        line("::FFFF:10.1.0.2..1002", rc=412, conn=3),
        line("10.1.0.3..1003", rule="Db2_DDF_Secure", rc=412, conn=4),
        line("10.9.9.9..5000", rc=412, conn=5),  # the probe's own
    ]

    counted = count_failures(lines, {("10.9.9.9", 5000, 992)})

    tn = counted.rules["TN3270_Secure"]
    assert tn.total == 3
    assert dict(tn.codes) == {"5003": 2, "412": 1}
    assert dict(tn.families) == {"cleartext": 2, "protocol": 1}
    assert dict(tn.peers) == {"10.1.0.1": 2, "10.1.0.2": 1}
    assert counted.services == {
        "TN3270_Secure": {"5003": 2, "412": 1},
        "Db2_DDF_Secure": {"412": 1},
    }
    assert counted.probe == {"TN3270_Secure": {"412": 1}}


def test_a_rule_keeps_only_its_newest_lines_as_evidence() -> None:
    lines = [line(f"10.1.0.1..{n}", conn=n) for n in range(1, 3 * LINES_KEPT_PER_RULE)]

    found = count_failures(lines).rules["TN3270_Secure"]

    assert found.total == len(lines)
    assert found.newest_lines() == lines[-LINES_KEPT_PER_RULE:]


def test_only_lines_after_the_one_read_last_are_new_as_the_reader_stored_it() -> None:
    lines = [line(conn=n) for n in range(1, 6)]

    assert new_lines(lines, lines[2]) == (lines[3:], True)
    assert new_lines(lines, None) == (lines, False)
    assert new_lines(lines[3:], lines[1]) == (lines[3:], False)  # rotated: every line new
    assert new_lines(lines, lines[2].upper(), stored=str.upper) == (lines[3:], True)


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (412, Family.PROTOCOL),
        (402, Family.CIPHER),
        (401, Family.CERTIFICATE),
        (8, Family.CERTIFICATE),
        (5003, Family.CLEARTEXT),
        (406, Family.PEER_CLOSED),
        (5004, Family.PEER_CLOSED),
        (202, Family.CONFIGURATION),
        (6002, Family.OTHER),
        ("RC?", Family.OTHER),
    ],
)
def test_each_code_has_the_family_an_engineer_acts_on(code: object, family: Family) -> None:
    assert family_of(code) is family  # type: ignore[arg-type]


def test_a_grouping_of_ours_is_labelled_inferred() -> None:
    assert family_label(Family.PEER_CLOSED, code=406).endswith("(inferred)")
    assert family_label(Family.PROTOCOL, code=412) == "protocol version mismatch"
    assert all(rc.family in Family for rc in RETURN_CODES.values())
    assert describe(412) == "412 no protocol version in common"


# --- real messages from the reference (../shared), skipped when it is absent -----------------


def _reference_messages() -> list[str]:
    """EZD1286I/EZD1287I messages quoted in the reference with real values, continuation
    lines joined (the job log splits EZD1287I over several lines)."""
    if not REFERENCE.exists():
        return []
    messages: list[str] = []
    current: list[str] = []
    for raw in REFERENCE.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if re.match(r"EZD128[67]I TTLS Error RC: +\d+", text) or re.search(
            r"EZD1286I TTLS Error GRPID: [0-9A-F]{8}", text
        ):
            if current:
                messages.append(" ".join(current))
            current = [text]
        elif current and re.match(r"(LOCAL|REMOTE|JOBNAME|USERID):", text):
            current.append(text)
        elif current:
            messages.append(" ".join(current))
            current = []
    if current:
        messages.append(" ".join(current))
    return messages


def test_the_real_job_log_example_in_the_reference_parses() -> None:
    messages = [m for m in _reference_messages() if "CONNID:" in m]
    if not messages:
        pytest.skip("../shared/reference/attls.md (real EZD1287I example) is not available")

    failure = parse_failure_line(messages[0])

    assert failure.rc == "5004"
    assert failure.event == "Initial Handshake"
    assert failure.rule == "DDSClientRule"
    assert failure.conn_id == "0001EEF1"
    assert failure.remote == ("0.0.0.3", 8803)
    assert (failure.local_address, failure.local_port) == ("0.0.0.2", 3973)
    assert (failure.jobname, failure.userid) == ("P00SVR00", "IZUSVR0")
    assert failure.family is Family.PEER_CLOSED
