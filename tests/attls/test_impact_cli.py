"""`python -m attls impact OLD NEW --peers PEERS.csv`, end to end on files, and its peer file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attls.cli import main
from attls.errors import AttlsError
from attls.impact import ImpactInputError, predict
from attls.impact.peers_csv import PEERS_CSV_HEADER, read_peers_csv
from attls.policy import parse_policy
from tests.attls.test_impact import CANDIDATE, CURRENT

HEADER = ",".join(PEERS_CSV_HEADER)
PEERS = f"""{HEADER}
Inbound,23,10.0.0.1,51000,TN3270A,cleartext,,no
Inbound,992,10.0.0.2,51001,TN3270A,TLSv1;TLSv1.1,C013,no
Inbound,992,10.0.0.3,51002,TN3270A,TLSv1.2;TLSv1.3,C02F;1302,no
Outbound,40000,192.0.2.50,1416,MQP1CHIN,TLSv1.2,C02F,no
Inbound,8443,10.0.0.4,51003,CICSPAY1,TLSv1.2,009C,yes
Inbound,992,10.0.0.5,51004,TN3270A,,,no
"""


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(args), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {
        "new": tmp_path / "new.policy",
        "old": tmp_path / "old.policy",
        "peers": tmp_path / "peers.csv",
    }
    paths["new"].write_text(CANDIDATE)
    paths["old"].write_text(CURRENT)
    paths["peers"].write_text(PEERS)
    return {name: str(path) for name, path in paths.items()}


def test_impact_prints_a_verdict_line_per_peer_then_the_counts(files):
    status, out, err = run("impact", "-", files["new"], "--peers", files["peers"])

    assert status == 0, err
    lines = out.splitlines()
    by_address = {line.split()[2]: line for line in lines if line.split()[2].count(".") == 3}
    assert by_address["10.0.0.1"].startswith("will-break")
    assert "rule TN3270_Cleartext" in by_address["10.0.0.1"]
    assert "RC 5003" in by_address["10.0.0.1"]
    assert by_address["10.0.0.2"].startswith("will-break")
    assert "RC 412" in by_address["10.0.0.2"]
    assert by_address["10.0.0.3"].startswith("safe")
    assert by_address["192.0.2.50"].startswith("untested")
    assert "TLSv1.3" in by_address["192.0.2.50"]
    # A certificate newly validated and a dropped suite: not settled.
    assert by_address["10.0.0.4"].startswith("at-risk")
    assert by_address["10.0.0.5"].startswith("no-data")
    assert "service FTP: no-data (no peer observed)" in lines
    assert lines[-1] == "total: will-break 2, at-risk 1, untested 1, safe 1, no-data 1"


def test_impact_against_a_current_policy_uses_what_it_offered(files):
    status, out, _ = run("impact", files["old"], files["new"], "--peers", files["peers"])

    assert status == 0
    assert "total: will-break 2, at-risk 1, untested 1, safe 1, no-data 1" in out


@pytest.mark.parametrize(
    ("row", "where", "words"),
    [
        ("Sideways,23,10.0.0.1,1,J,cleartext,,no", ":2:1:", "expected Inbound or Outbound"),
        ("Inbound,99999,10.0.0.1,1,J,cleartext,,no", ":2:2:", "expected a port 0-65535"),
        ("Inbound,23,10.0.0.999,1,J,cleartext,,no", ":2:3:", "expected an IPv4 or IPv6"),
        ("Inbound,23,10.0.0.1,1,TOOLONGJOB,cleartext,,no", ":2:5:", "job name"),
        ("Inbound,23,10.0.0.1,1,J,TLSv9,,no", ":2:6:", "unknown version 'TLSv9'"),
        ("Inbound,23,10.0.0.1,1,J,TLSv1.2,XYZ,no", ":2:7:", "not a 4-hex code"),
        ("Inbound,23,10.0.0.1,1,J,TLSv1.2,,maybe", ":2:8:", "expected yes or no"),
        ("Inbound,23,10.0.0.1", ":2:4:", "expected 8 fields, found 3"),
    ],
)
def test_every_bad_row_is_one_error_line_naming_line_and_column(files, row, where, words):
    Path(files["peers"]).write_text(f"{HEADER}\n{row}\n")

    status, out, err = run("impact", "-", files["new"], "--peers", files["peers"])

    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(files["peers"] + where), err
    assert words in err


def test_a_wrong_header_names_the_first_wrong_column(files):
    Path(files["peers"]).write_text("direction,port,remote_address\n")

    status, _, err = run("impact", "-", files["new"], "--peers", files["peers"])

    assert status == 2
    assert err.startswith(files["peers"] + ":1:2: error: the header must be exactly")


def test_a_broken_policy_or_a_missing_file_is_one_error_line_and_status_2(files, tmp_path):
    broken = tmp_path / "broken.policy"
    broken.write_text("TTLSRule r\n{\n  Bogus 1\n}\n")

    status, _, err = run("impact", "-", str(broken), "--peers", files["peers"])
    assert status == 2
    assert len(err.splitlines()) == 1
    assert err.startswith(f"{broken}:")

    status, _, err = run("impact", "-", files["new"], "--peers", str(tmp_path / "nope.csv"))
    assert status == 2
    assert len(err.splitlines()) == 1
    assert "nope.csv" in err


@pytest.mark.parametrize(
    "argv",
    [("impact", "-", "new.policy"), ("impact", "-"), ("impact", "-", "x", "--peers")],
)
def test_a_bad_command_line_is_one_error_line_and_status_2(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))

    assert stopped.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_impact_runs_as_python_dash_m_attls(files):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "attls", "impact", "-", files["new"], "--peers", files["peers"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("total: will-break 2")


CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["Inbound", "Outbound", "23", "992", "65536", "-1", "10.0.0.1", "::1", "TN3270A",
         "cleartext", "TLSv1.2;TLSv1.3", "C02F;1301", "yes", "no", "", '"', "a,b"]
    ),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    header=st.one_of(st.just(HEADER), st.text(max_size=40)),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=10), max_size=6),
    raw_tail=st.text(max_size=30),
)
def test_any_peer_file_gives_peers_or_only_our_own_error(header, rows, raw_tail):
    text = header + "\n" + "\n".join(",".join(row) for row in rows) + "\n" + raw_tail
    try:
        peers = read_peers_csv(text)
    except ImpactInputError as error:
        assert error.line >= 1 and error.column >= 1
        return
    prediction = predict(None, _candidate(), peers)
    assert len(prediction.peers) == len({p.peer_key for p in peers})


_POLICY = []


def _candidate():
    if not _POLICY:
        _POLICY.append(parse_policy(CANDIDATE))
    return _POLICY[0]


@settings(max_examples=100, deadline=None)
@given(
    versions=st.frozensets(st.text(max_size=8), max_size=3),
    port=st.integers(min_value=-5, max_value=70000),
    address=st.one_of(st.text(max_size=12), st.just("10.0.0.1")),
)
def test_any_observation_built_in_code_gives_a_prediction_or_only_our_own_error(
    versions, port, address
):
    from attls.impact import PeerObservation

    observation = PeerObservation("Inbound", port, address, 1, "J", versions)
    try:
        prediction = predict(None, _candidate(), [observation])
    except AttlsError:
        return
    assert len(prediction.peers) == 1


def test_impact_marks_peers_the_change_does_not_affect_and_counts_them_apart(files, tmp_path):
    # Today's policy is the candidate; the next one removes only the payments rule.
    removed = parse_policy(CANDIDATE)
    del removed.rules["CICS_Payments"]
    from attls.policy import render_policy

    next_path = tmp_path / "next.policy"
    next_path.write_text(render_policy(removed))

    status, out, err = run("impact", files["new"], str(next_path), "--peers", files["peers"])

    assert status == 0, err
    by_address = {line.split()[2]: line for line in out.splitlines() if line.count(".") >= 3}
    assert by_address["10.0.0.1"].startswith("will-break")  # the verdict word stays
    assert (
        "rule TN3270_Cleartext (unchanged): unchanged by this candidate:" in by_address["10.0.0.1"]
    )
    assert "(unchanged)" in by_address["10.0.0.2"]
    assert "(unchanged)" not in by_address["10.0.0.4"]  # its rule is the one removed
    assert "total: will-break 0," in out
    assert "unchanged by this candidate (not counted above): will-break 2" in out

    status, out, _ = run("impact", "-", files["new"], "--peers", files["peers"])
    assert status == 0 and "(unchanged)" not in out and "unchanged by" not in out
