"""Named groups and signature pairs of TTLSSignatureParms, as pasearch prints them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attls import tlsgroups
from attls.errors import AttlsError
from attls.tlsgroups import (
    GroupCodeError,
    SigalgCodeError,
    SignatureParmsError,
    UnknownGroupError,
    UnknownSigalgError,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
NIST_CATALOG = SHARED / "nist-catalog.yaml"

SIGNATURE_PARMS_FIELDS = (
    "ClientECurves",
    "ClientKeyShareGroups",
    "ServerKeyShareGroups",
    "ServerKexECurves",
    "SignaturePairs",
    "OcspRequestSigalg",
)


def _first_action_signature_parms(report: str) -> dict[str, list[str]]:
    """The code lists of the first action in the report, which sets no TTLSSignatureParms."""
    fields: dict[str, list[str]] = {}
    current: str | None = None
    for line in report.splitlines():
        label = line.strip().removesuffix(":")
        if line.strip().endswith(":") and label in SIGNATURE_PARMS_FIELDS:
            if label in fields:
                break  # the second action starts
            current = label
            fields[current] = []
            continue
        entry = re.fullmatch(r" +([0-9A-F]{4})  \S+\s*", line)
        if entry and current is not None:
            fields[current].append(entry.group(1))
        elif current is not None and not entry:
            current = None
    return fields


def test_group_names_are_the_ones_pasearch_prints() -> None:
    assert tlsgroups.group_name("0023") == "secp256r1"
    assert tlsgroups.group_name("0029") == "X25519"
    assert tlsgroups.group_name("0030") == "X448"
    assert tlsgroups.group_name("0019") == "secp192r1"


def test_group_codes_are_the_zero_padded_decimal_iana_numbers() -> None:
    assert all(g.code == f"{g.iana_id:04d}" for g in tlsgroups.all_groups())


def test_sigalg_names_are_the_ones_pasearch_prints() -> None:
    assert tlsgroups.sigalg_name("0601") == "TLS_SIGALG_SHA512_WITH_RSA"
    assert tlsgroups.sigalg_name("0202") == "TLS_SIGALG_SHA1_WITH_DSA"
    assert tlsgroups.sigalg_name("0804") == "TLS_SIGALG_SHA256_WITH_RSASSA_PSS"


def test_sigalg_codes_are_hash_byte_then_signature_byte_for_pkcs1_dsa_and_ecdsa() -> None:
    hash_byte = {"SHA1": "02", "SHA224": "03", "SHA256": "04", "SHA384": "05", "SHA512": "06"}
    signature_byte = {"RSA": "01", "DSA": "02", "ECDSA": "03"}
    for sigalg in tlsgroups.all_sigalgs():
        if sigalg.signature_algorithm in signature_byte:
            expected = hash_byte[sigalg.hash_algorithm] + signature_byte[sigalg.signature_algorithm]
            assert sigalg.code == expected
        assert sigalg.name == (
            f"TLS_SIGALG_{sigalg.hash_algorithm}_WITH_{sigalg.signature_algorithm}"
        )


def test_no_two_groups_or_sigalgs_share_a_code_or_a_name() -> None:
    for entries in (tlsgroups.all_groups(), tlsgroups.all_sigalgs()):
        assert len({e.code for e in entries}) == len(entries)
        assert len({e.name for e in entries}) == len(entries)


def test_unknown_codes_raise_key_errors_that_name_the_code() -> None:
    with pytest.raises(UnknownGroupError) as group_error:
        tlsgroups.group_name("0256")
    assert str(group_error.value) == "named group code '0256' is not in the registry"
    with pytest.raises(UnknownSigalgError) as sigalg_error:
        tlsgroups.sigalg_name("0101")
    assert str(sigalg_error.value) == "signature pair code '0101' is not in the registry"
    for error in (group_error.value, sigalg_error.value):
        assert isinstance(error, KeyError)
        assert isinstance(error, AttlsError)


def test_only_groups_tls13_allows_are_marked_for_tls13() -> None:
    assert {g.code for g in tlsgroups.all_groups() if g.tls13} == {
        "0023",
        "0024",
        "0025",
        "0029",
        "0030",
    }


def test_every_code_in_the_real_zos_report_is_known_by_its_printed_name(
    sample_pasearch_text: str,
) -> None:
    report = sample_pasearch_text
    lines = set(re.findall(r"^ +([0-9A-F]{4})  (\S+)\s*$", report, re.MULTILINE))
    groups = {(code, name) for code, name in lines if not name.startswith("TLS_")}
    sigalgs = {(code, name) for code, name in lines if name.startswith("TLS_SIGALG_")}
    assert groups and sigalgs
    assert {(code, tlsgroups.group_name(code)) for code, _ in groups} == groups
    assert {(code, tlsgroups.sigalg_name(code)) for code, _ in sigalgs} == sigalgs


def test_defaults_match_what_pasearch_shows_for_an_action_that_sets_nothing(
    sample_pasearch_text: str,
) -> None:
    observed = _first_action_signature_parms(sample_pasearch_text)
    assert observed == {
        "ClientECurves": list(tlsgroups.DEFAULT_CLIENT_ECURVES),
        "ClientKeyShareGroups": list(tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS),
        "ServerKeyShareGroups": list(tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS),
        "ServerKexECurves": list(tlsgroups.DEFAULT_SERVER_KEX_ECURVES),
        "SignaturePairs": list(tlsgroups.DEFAULT_SIGNATURE_PAIRS),
        "OcspRequestSigalg": [tlsgroups.DEFAULT_OCSP_REQUEST_SIGALG],
    }


def test_defaults_hold_only_known_codes() -> None:
    for codes in (
        tlsgroups.DEFAULT_CLIENT_ECURVES,
        tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS,
        tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS,
        tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
    ):
        assert all(tlsgroups.get_group(code) is not None for code in codes)
    assert all(tlsgroups.get_sigalg(code) is not None for code in tlsgroups.DEFAULT_SIGNATURE_PAIRS)
    assert tlsgroups.get_sigalg(tlsgroups.DEFAULT_OCSP_REQUEST_SIGALG) is not None


def test_group_security_strengths_agree_with_the_nist_catalog() -> None:
    yaml = pytest.importorskip("yaml")
    if not NIST_CATALOG.is_file():
        pytest.skip(f"NIST catalog not available at {NIST_CATALOG}")
    catalog: dict[str, Any] = yaml.safe_load(NIST_CATALOG.read_text(encoding="utf-8"))
    for row in catalog["reference"]["named_groups"]:
        group = tlsgroups.get_group(row["code"])
        if group is not None:
            assert (group.name.lower(), group.security_bits) == (row["name"], row["security_bits"])


# --- parsing concatenated codes --------------------------------------------------------------


def test_group_codes_are_split_in_order() -> None:
    assert tlsgroups.parse_group_codes("00230024002500210019") == [
        "0023",
        "0024",
        "0025",
        "0021",
        "0019",
    ]


def test_sigalg_codes_are_split_in_order_and_upper_cased() -> None:
    assert tlsgroups.parse_sigalg_codes("04010403") == ["0401", "0403"]
    assert tlsgroups.parse_sigalg_codes(" 0806 ") == ["0806"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "00230022",
            "ClientECurves chunk 2 ('0022') is not a named group known to the registry "
            "(known: 0019, 0021, 0023, 0024, 0025, 0029, 0030)",
        ),
        (
            "002",
            "ClientECurves value '002' has 3 characters, not a multiple of 4, and the last "
            "chunk '002' is incomplete",
        ),
        ("0023x029", "ClientECurves chunk 2 ('x029') is not a 4-digit named group code"),
        (
            "Any",
            "ClientECurves value 'Any' is a keyword, not a list of codes; handle it before "
            "parsing codes",
        ),
        ("", "ClientECurves value is empty: give at least one code"),
        (
            "0023 0024",
            "ClientECurves value '0023 0024' contains blanks: write the 4-character codes run "
            "together, with nothing between them",
        ),
    ],
)
def test_bad_group_codes_are_explained(value: str, message: str) -> None:
    with pytest.raises(GroupCodeError) as raised:
        tlsgroups.parse_group_codes(value)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


def test_group_errors_name_the_parameter_they_were_given() -> None:
    with pytest.raises(GroupCodeError, match=r"^ServerKeyShareGroups chunk 1 \('0099'\)"):
        tlsgroups.parse_group_codes("0099", parameter="ServerKeyShareGroups")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "04010101",
            "SignaturePairs chunk 2 ('0101') is not a signature pair known to the registry "
            "(known: 0201, 0202, 0203, 0301, 0302, 0303, 0401, 0402, 0403, 0501, 0503, 0601, "
            "0603, 0804, 0805, 0806)",
        ),
        ("04GG", "SignaturePairs chunk 1 ('04GG') is not a 4-character hex signature pair code"),
        (
            "0401010",
            "SignaturePairs value '0401010' has 7 characters, not a multiple of 4, and the last "
            "chunk '010' is incomplete",
        ),
    ],
)
def test_bad_sigalg_codes_are_explained(value: str, message: str) -> None:
    with pytest.raises(SigalgCodeError) as raised:
        tlsgroups.parse_sigalg_codes(value)
    assert str(raised.value) == message
    assert isinstance(raised.value, SignatureParmsError)


@given(st.lists(st.sampled_from([g.code for g in tlsgroups.all_groups()]), min_size=1))
def test_any_list_of_known_group_codes_round_trips(codes: list[str]) -> None:
    assert tlsgroups.parse_group_codes("".join(codes)) == codes


@given(st.lists(st.sampled_from([a.code for a in tlsgroups.all_sigalgs()]), min_size=1))
def test_any_list_of_known_sigalg_codes_round_trips(codes: list[str]) -> None:
    assert tlsgroups.parse_sigalg_codes("".join(codes)) == codes


@given(st.text(max_size=30))
def test_parsers_raise_only_signature_parms_errors_on_any_text(value: str) -> None:
    for parse, lookup in (
        (tlsgroups.parse_group_codes, tlsgroups.get_group),
        (tlsgroups.parse_sigalg_codes, tlsgroups.get_sigalg),
    ):
        try:
            codes = parse(value)
        except SignatureParmsError:
            continue
        assert codes and all(lookup(code) is not None for code in codes)
