"""Real policy files written by real people and systems (../shared/reference/samples/real-world).

They are read in place and skipped when absent. The PAGENTTN policy comes with the z/OS 3.1
pasearch report of what Policy Agent installed from it (or from a version very close to it),
so the effective settings computed here are held to what z/OS actually did.
"""

from pathlib import Path

import pytest

from attls.effective import effective_all
from attls.lint import lint
from attls.policy import read_policy
from attls.reports.pasearch import effective_ciphers, effective_protocols, parse_pasearch
from tests.attls.conftest import SAMPLE_PASEARCH, SHARED

POLICIES = SHARED / "reference" / "samples" / "real-world" / "policies"
PAGENTTN = POLICIES / "colinpaicemq-ATTLS-Client-PAGENTTN.policy"
EASY = POLICIES / "colinpaicemq-EasyAT-TLS-attls.policy"
ZOWE = POLICIES / "zowe-docs-single-service.policy"


def sample(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"the real sample is not at {path}")
    return path.read_bytes()


def test_the_pagenttn_file_reads_with_no_error_and_every_tolerated_oddity_warned_at_its_line():
    reading = read_policy(sample(PAGENTTN))

    assert reading.errors == ()
    assert len(reading.policy.rules) == 9
    assert reading.encoding == "UTF-8+Latin-1"
    by_line = {w.line: w.message for w in reading.warnings}
    assert sorted(by_line) == [133, 255, 289, 379, 380, 381, 427, 428, 429, 430]
    assert "0xB8" in by_line[133]
    assert "0.0.26.137" in by_line[255]
    assert "uses the inline TTLSEnvironmentAdvancedParms" in by_line[289]
    assert all("inferred" in by_line[line] for line in (379, 380, 381))
    assert all("ignores the line" in by_line[line] for line in (427, 428, 429, 430))
    codes = [f.code for f in lint(reading.policy) if f.severity == "warning"]
    assert codes.count("pagent-tolerated") == 10


def test_the_easy_at_tls_file_reads_with_no_error():
    reading = read_policy(sample(EASY))

    assert reading.errors == ()
    assert [f for f in lint(reading.policy) if f.severity == "error"] == []


def test_the_zowe_example_has_exactly_its_two_real_mistakes_as_errors():
    reading = read_policy(sample(ZOWE))

    assert [(e.line, e.column, e.message) for e in reading.errors] == [
        (44, 1, "unknown statement 'TLSRule'"),
        (
            320,
            23,
            "TTLSKeyringParmsRef names TTLSKeyringParms 'NoKeyKeyring', which is not defined",
        ),
    ]
    # SSLv2 in TTLSConnectionAdvancedParms is valid AT-TLS, and is read.
    assert reading.policy.connection_advanced_parms["DCX509ClientConnAdvParms"].sslv2 is False
    # Beyond the two mistakes, lint's only errors are about the release: the example lists
    # TLS_CHACHA20_POLY1305_SHA256, which System SSL on z/OS 3.1 drops (seen in the real report).
    lint_errors = {
        (f.code, f.message.split(" lists ")[1].split(",")[0])
        for f in lint(reading.policy, release="3.1")
        if f.severity == "error" and f.code != "dangling-reference"
    }
    assert lint_errors == {("suite-not-implemented", "1303 TLS_CHACHA20_POLY1305_SHA256")}


# What differs between the file and the report because the file was edited after the report
# was taken: the report's COLATTLJ still has the Jobname, Userid and RemoteAddr that the file
# has commented out, and its TNEA has HandshakeRole ServerWithClientAuth (the file's line 58,
# now a comment) where the file says Server.
EDITED_SINCE_THE_REPORT = {
    ("COLATTLJ", "remote address"),
    ("COLATTLJ", "job name"),
    ("COLATTLJ", "user ID"),
    ("COLATTLJ", "handshake role"),
    ("COLATTLS", "handshake role"),
    ("TNZZZZ", "handshake role"),
}


def test_pagenttn_effective_settings_equal_what_policy_agent_installed_on_zos_3_1():
    policy = read_policy(sample(PAGENTTN)).policy
    if not SAMPLE_PASEARCH.is_file():
        pytest.skip("the real pasearch report is absent")
    report = {rule.name: rule for rule in parse_pasearch(SAMPLE_PASEARCH.read_text()).rules}

    compared = 0
    for name, settings in effective_all(policy, release="3.1").items():
        installed = report[name]
        condition = installed.condition
        rule = policy.rules[name]
        mine = {
            "protocols": [p.value for p in settings.enabled_protocols],
            "ciphers": (
                None
                if settings.ciphers_from == "system-ssl-default"
                else list(settings.v3_cipher_suites)
            ),
            "handshake role": settings.handshake_role,
            "direction": settings.direction,
            "remote address": str(rule.remote_addr or "All"),
            "local ports": str(rule.local_port_range or "0"),
            "remote ports": str(rule.remote_port_range or "0"),
            "job name": rule.jobname or "",
            "user ID": rule.userid or "",
        }
        remote = condition.remote_addr
        theirs = {
            "protocols": effective_protocols(installed),
            "ciphers": effective_ciphers(installed),
            "handshake role": (installed.detail("Environment") or {}).get("HandshakeRole"),  # type: ignore[union-attr]
            "direction": condition.direction,
            "remote address": remote.from_addr
            if remote.from_addr == remote.to_addr
            else f"{remote.from_addr}-{remote.to_addr}",
            "local ports": _ports(condition.local_port_from, condition.local_port_to),
            "remote ports": _ports(condition.remote_port_from, condition.remote_port_to),
            "job name": condition.job_name,
            "user ID": condition.user_id,
        }
        for fact, value in mine.items():
            if (name, fact) in EDITED_SINCE_THE_REPORT:
                assert value != theirs[fact], (name, fact, "the known edit is gone")
                continue
            assert value == theirs[fact], (name, fact)
            compared += 1
    assert compared == 9 * 9 - len(EDITED_SINCE_THE_REPORT)


def _ports(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def test_the_deployment_check_finds_only_the_edits_made_since_the_real_report():
    from attls.reports.compare import compare_report

    policy = read_policy(sample(PAGENTTN)).policy
    if not SAMPLE_PASEARCH.is_file():
        pytest.skip("the real pasearch report is absent")
    loaded = parse_pasearch(SAMPLE_PASEARCH.read_text())

    differences = {(d.rule, d.fact) for d in compare_report(policy, loaded, image="TCPIP")}

    # 1303 is absent from the real lists and from the expected ones alike: z/OS 3.1 drops it.
    assert differences == {
        ("COLATTLJ", "remote address"),
        ("COLATTLJ", "job name"),
        ("COLATTLJ", "user ID"),
        ("COLATTLJ", "HandshakeRole"),
        ("COLATTLS", "HandshakeRole"),
        ("TNZZZZ", "HandshakeRole"),
        # Rules of the EasyAT-TLS policy, loaded on the same system.
        ("DEFAULTRULE12", "rule"),
        ("DEFAULTRULE13", "rule"),
        ("GPMSERVE", "rule"),
    }
