"""`python -m attls` works without the portal: run as a real subprocess, as a user would."""

import subprocess
import sys
from pathlib import Path

from tests.attls.conftest import FIXTURES

POLICY = str(FIXTURES / "sysa-tcpip.policy")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attls", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_lint_prints_each_finding_with_file_line_and_column():
    result = run("lint", POLICY)

    assert result.returncode == 0
    assert f"{POLICY}:107:1: warning: TTLSRule 'LegacyFtp' is cleartext" in result.stdout
    assert result.stdout.rstrip().endswith("4 rule(s), 0 error(s), 1 warning(s)")


def test_lint_of_a_broken_file_lists_every_problem_and_exits_2():
    result = run("lint", "-", stdin="Bogus x\nTTLSGroupAction g\n{\n  TTLSEnabled Maybe\n}\n")

    assert result.returncode == 2
    assert "-:1:1: error: unknown statement 'Bogus'" in result.stderr
    assert "-:4:15: error: TTLSEnabled: expected On or Off, got 'Maybe'" in result.stderr


def test_lint_against_a_profile_names_the_offending_rule(tmp_path: Path):
    weak = tmp_path / "weak.policy"
    weak.write_text(
        Path(POLICY)
        .read_text()
        .replace("    TLSv1                     Off", "    TLSv1                     On")
    )
    result = run("lint", str(weak), "--profile", "nist")

    assert result.returncode in (0, 1)
    assert "TLSv1" in result.stdout and "TN3270" in result.stdout


def test_render_prints_the_canonical_form_that_parses_back():
    first = run("render", POLICY)
    second = run("render", "-", stdin=first.stdout)

    assert first.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout.startswith("TTLSRule                          MQToPartner\n{\n")


def test_explain_names_the_winning_rule_and_its_effective_settings():
    result = run("explain", POLICY, "--local-port", "992", "--job", "TN3270A")

    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Winning rule: TN3270 (priority 250)"
    assert "  protocols On          TLSv1.2, TLSv1.3" in lines
    assert "    C02F  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in lines


def test_explain_says_so_when_no_rule_matches():
    result = run("explain", POLICY, "--local-port", "8080", "--job", "OTHER")

    assert result.returncode == 1
    assert "No rule matches" in result.stdout


def test_pasearch_summary_reads_a_report(sample_pasearch_text, tmp_path: Path):
    report = tmp_path / "report.txt"
    report.write_text(sample_pasearch_text)

    result = run("pasearch-summary", str(report))

    assert result.returncode == 0
    assert "TCPIP (pasearch CS 3.1): 12 rules" in result.stdout
    assert "TNZZZZ" in result.stdout


def test_pasearch_summary_of_garbage_names_the_line():
    result = run("pasearch-summary", "-", stdin="\n\nthis is not pasearch output\n")

    assert result.returncode == 2
    assert result.stderr.startswith("-:3: error:")


def run_bytes(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "attls", *args],
        capture_output=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_lint_reads_an_ebcdic_file_as_it_reads_the_same_file_in_utf8():
    from attls.textcodec import encode_ebcdic

    text = Path(POLICY).read_text()
    ebcdic = run_bytes("lint", "-", stdin=encode_ebcdic(text))
    utf8 = run_bytes("lint", "-", stdin=text.encode())

    assert ebcdic.returncode == utf8.returncode == 0
    assert ebcdic.stdout == utf8.stdout


def test_lint_of_a_file_with_a_stray_byte_warns_at_its_line_instead_of_a_traceback():
    text = Path(POLICY).read_text().encode()
    result = run_bytes("lint", "-", stdin=b"# \xa9 1999\n" + text)

    assert result.returncode == 0
    assert b"-:1:3: warning: byte 0xA9 is not UTF-8" in result.stdout
    assert b"Traceback" not in result.stderr


def test_lint_goes_on_after_syntax_errors_so_every_problem_shows_in_one_run():
    broken = Path(POLICY).read_text() + "\nTLSRule typo\n{\n  Direction Inbound\n}\n"
    result = run("lint", "-", stdin=broken)

    assert result.returncode == 2
    assert "error: unknown statement 'TLSRule'" in result.stderr
    assert "warning: TTLSRule 'LegacyFtp' is cleartext" in result.stdout


def test_every_failure_is_one_line_never_a_traceback(tmp_path: Path):
    garbage = bytes(range(256)) * 40 + b"{{{{}}}}\x00\xff" * 100
    for command in ("lint", "render", "pasearch-summary"):
        result = run_bytes(command, "-", stdin=garbage)
        assert result.returncode == 2, command
        assert b"Traceback" not in result.stderr, command
    missing = run("lint", str(tmp_path / "absent.policy"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr


COMMENTED = """\
# Telnet for the operators
TTLSRule TN3270
{
  LocalPortRange 23   # the TN3270 port
  Direction Inbound
  TTLSGroupActionRef g
}
TTLSGroupAction g
{
  # no TLS yet: planned for Q3
  TTLSEnabled Off
}
"""


def test_render_keeps_comments_on_request_before_what_they_preceded():
    kept = run("render", "--keep-comments", "-", stdin=COMMENTED)
    plain = run("render", "-", stdin=COMMENTED)

    assert kept.returncode == plain.returncode == 0
    assert "#" not in plain.stdout
    lines = kept.stdout.splitlines()
    assert lines[0] == "# Telnet for the operators" and lines[1].startswith("TTLSRule")
    assert lines[lines.index("  # the TN3270 port") + 1].startswith("  LocalPortRange")
    assert "  # no TLS yet: planned for Q3" in lines
    # Rendering what was rendered changes nothing: comments round-trip.
    again = run("render", "--keep-comments", "-", stdin=kept.stdout)
    assert again.stdout == kept.stdout


def test_explain_names_the_release_says_what_it_drops_and_states_the_tie_rule():
    policy = Path(POLICY).read_text()
    tie = (
        "TTLSRule Tn3270Twin\n{\n  LocalPortRange 992\n  Direction Inbound\n  Priority 250\n"
        "  TTLSGroupActionRef gClear\n}\n"
        "TTLSGroupAction gClear\n{\n  TTLSEnabled Off\n}\n"
    )
    result = run(
        "explain",
        "-",
        "--local-port",
        "992",
        "--job",
        "TN3270A",
        "--release",
        "3.2",
        stdin=policy + tie,
    )

    assert result.returncode == 0, result.stderr
    assert "(z/OS 3.2)" in result.stdout
    assert "this tool assumes EBCDIC collation" in result.stdout
