"""The cipher registry: codes, names, protocol versions, SP 800-52r2 status and value parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attls import ciphers
from attls.ciphers import (
    CipherSuite,
    CipherValueError,
    NistStatus,
    Protocol,
    UnknownCipherError,
)
from attls.errors import AttlsError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
NIST_CATALOG = SHARED / "nist-catalog.yaml"

SUITES = ciphers.all_suites()


def _read_nist_reference() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    if not NIST_CATALOG.is_file():
        pytest.skip(f"NIST catalog not available at {NIST_CATALOG}")
    reference: dict[str, Any] = yaml.safe_load(NIST_CATALOG.read_text(encoding="utf-8"))[
        "reference"
    ]
    return reference


# --- the registry itself ---------------------------------------------------------------------


def test_the_registry_holds_every_suite_of_the_reference_table() -> None:
    # attls.md §6, the cipher codes a portal user is most likely to meet.
    reference_codes = (
        "1301", "1302", "1303", "C02B", "C02C", "C02F", "C030", "C023", "C024", "C027", "C028",
        "C009", "C00A", "C013", "C014", "C008", "C012", "009C", "009D", "009E", "009F", "00A2",
        "00A3", "003C", "003D", "0067", "006B", "002F", "0035", "0033", "0039", "0032", "0038",
        "000A", "0016", "0013", "0009", "0004", "0005", "0001", "0002", "003B", "CCA8", "CCA9",
    )  # fmt: skip
    missing = [code for code in reference_codes if ciphers.get(code) is None]
    assert missing == []


def test_codes_are_four_upper_case_hex_digits_in_ascending_order() -> None:
    assert all(re.fullmatch(r"[0-9A-F]{4}", s.code) for s in SUITES)
    assert [s.code for s in SUITES] == sorted((s.code for s in SUITES), key=lambda c: int(c, 16))


def test_no_two_suites_share_a_code_or_a_name() -> None:
    codes = [s.code for s in SUITES]
    names = [s.iana_name for s in SUITES]
    openssl_names = [s.openssl_name for s in SUITES if s.openssl_name is not None]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    assert len(set(openssl_names)) == len(openssl_names)


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.code)
def test_every_suite_round_trips_between_code_iana_name_and_openssl_name(
    suite: CipherSuite,
) -> None:
    assert ciphers.by_code(suite.code) is suite
    assert ciphers.by_name(suite.iana_name) is suite
    if suite.openssl_name is not None:
        assert ciphers.by_openssl_name(suite.openssl_name) is suite


def test_only_the_null_null_suite_lacks_an_openssl_name() -> None:
    assert [s.code for s in SUITES if s.openssl_name is None] == ["0000"]


def test_tls13_suites_use_their_iana_name_in_openssl_too() -> None:
    for code in ("1301", "1302", "1303", "1304", "1305"):
        suite = ciphers.by_code(code)
        assert suite.openssl_name == suite.iana_name


@pytest.mark.parametrize(
    ("code", "iana_name", "openssl_name"),
    [
        ("C02B", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        ("C02F", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
        ("C023", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
        ("C027", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
        ("C028", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
        ("C024", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384"),
        ("C02C", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("003D", "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    ],
)
def test_the_pairs_printed_by_zos_pasearch_are_known(
    code: str, iana_name: str, openssl_name: str
) -> None:
    suite = ciphers.by_code(code)
    assert (suite.iana_name, suite.openssl_name) == (iana_name, openssl_name)


def test_every_cipher_line_of_the_real_zos_report_matches_the_registry(
    sample_pasearch_text: str,
) -> None:
    report = sample_pasearch_text
    pairs = set(re.findall(r"^ +([0-9A-F]{4})  (TLS_(?!SIGALG_)\w+)\s*$", report, re.MULTILINE))
    assert pairs, "the sample report should list v3CipherSuites"
    assert {(code, ciphers.by_code(code).iana_name) for code, _ in pairs} == pairs


def test_codes_match_an_independent_copy_of_the_iana_registry() -> None:
    # tls_parser (installed with sslyze) keeps its own table of IANA code points; it has no
    # TLS 1.3 entries, which the OpenSSL check in the pasearch pairs above covers.
    tls_parser = pytest.importorskip("tls_parser.cipher_suites")
    iana = {entry.name: f"{entry.value:04X}" for entry in tls_parser.CipherSuites}
    checked = [s for s in SUITES if s.iana_name in iana]
    assert len(checked) == len(SUITES) - 5
    assert [s.code for s in checked if iana[s.iana_name] != s.code] == []


@pytest.mark.parametrize(
    ("code", "fields"),
    [
        ("C02F", ("ECDHE", "RSA", "AES_128_GCM", "AEAD", True, True)),
        ("C024", ("ECDHE", "ECDSA", "AES_256_CBC", "SHA384", False, True)),
        ("000A", ("RSA", "RSA", "3DES_EDE_CBC", "SHA1", False, False)),
        ("0004", ("RSA", "RSA", "RC4_128", "MD5", False, False)),
        ("0003", ("RSA_EXPORT", "RSA", "RC4_40", "MD5", False, False)),
        ("0015", ("DHE", "RSA", "DES_CBC", "SHA1", False, True)),
        ("00A4", ("DH", "DSS", "AES_128_GCM", "AEAD", True, False)),
        ("C004", ("ECDH", "ECDSA", "AES_128_CBC", "SHA1", False, False)),
        ("C0AE", ("ECDHE", "ECDSA", "AES_128_CCM_8", "AEAD", True, True)),
        ("C09D", ("RSA", "RSA", "AES_256_CCM", "AEAD", True, False)),
        ("CCA9", ("ECDHE", "ECDSA", "CHACHA20_POLY1305", "AEAD", True, True)),
        ("003B", ("RSA", "RSA", "NULL", "SHA256", False, False)),
        ("1302", ("any", "any", "AES_256_GCM", "AEAD", True, True)),
        ("1305", ("any", "any", "AES_128_CCM_8", "AEAD", True, True)),
        ("0000", ("NULL", "NULL", "NULL", "NULL", False, False)),
    ],
)
def test_algorithm_fields_follow_the_iana_name(
    code: str, fields: tuple[str, str, str, str, bool, bool]
) -> None:
    suite = ciphers.by_code(code)
    assert (
        suite.key_exchange,
        suite.authentication,
        suite.bulk_cipher,
        suite.mac,
        suite.aead,
        suite.forward_secrecy,
    ) == fields


def test_two_char_code_exists_only_for_00xx_suites() -> None:
    assert ciphers.by_code("0035").two_char == "35"
    assert ciphers.by_code("000A").two_char == "0A"
    assert ciphers.by_code("C02F").two_char is None
    assert ciphers.by_code("1301").two_char is None
    assert all((s.two_char is None) != s.code.startswith("00") for s in SUITES)


# --- protocol versions -----------------------------------------------------------------------


def test_protocol_values_are_the_attls_keywords() -> None:
    assert [p.value for p in Protocol] == [
        "SSLv2",
        "SSLv3",
        "TLSv1",
        "TLSv1.1",
        "TLSv1.2",
        "TLSv1.3",
    ]


def test_tls13_suites_are_tls13_only_and_no_other_suite_runs_under_tls13() -> None:
    tls13 = {"1301", "1302", "1303", "1304", "1305"}
    assert all(ciphers.is_tls13_only(code) for code in tls13)
    assert {s.code for s in SUITES if Protocol.TLSV1_3 in s.protocols} == tls13
    assert not ciphers.is_tls13_only("C02F")


def test_suites_for_tls12_include_gcm_and_cbc_suites_but_not_tls13_ones() -> None:
    codes = {s.code for s in ciphers.suites_for([Protocol.TLSV1_2])}
    assert {"C02F", "C027", "002F", "000A"} <= codes
    assert "1301" not in codes
    # DES suites were withdrawn by TLS 1.2 and export suites by TLS 1.1.
    assert "0009" not in codes
    assert "0003" not in codes


def test_suites_for_accepts_attls_spellings_and_returns_the_union() -> None:
    codes = {s.code for s in ciphers.suites_for(["TLSv1.2", "TLSv1.3"])}
    assert {"1301", "C02F"} <= codes


def test_sslv3_cannot_negotiate_ecc_or_sha256_suites() -> None:
    codes = {s.code for s in ciphers.suites_for([Protocol.SSLV3])}
    assert {"002F", "0035", "000A", "0005"} <= codes
    assert not codes & {"C013", "C02F", "003C", "1301"}


def test_sslv2_negotiates_none_of_the_v3_suites() -> None:
    assert ciphers.suites_for([Protocol.SSLV2]) == ()


def test_the_null_null_suite_is_never_negotiated() -> None:
    assert ciphers.by_code("0000").protocols == frozenset()


# --- SP 800-52r2 -----------------------------------------------------------------------------


def test_approved_and_transition_suites_are_exactly_the_catalog_lists() -> None:
    reference = _read_nist_reference()
    approved = {
        (row["code"], row["name"])
        for key in ("cipher_suites_tls12_and_earlier", "cipher_suites_tls13")
        for row in reference[key]
    }
    transition = {
        (row["code"], row["name"])
        for row in reference["cipher_suites_transitional_rsa_key_transport"]
    }
    assert {(s.code, s.iana_name) for s in SUITES if s.nist_800_52r2 is NistStatus.APPROVED} == (
        approved
    )
    assert {
        (s.code, s.iana_name) for s in SUITES if s.nist_800_52r2 is NistStatus.TRANSITION
    } == transition


def test_the_catalog_counts_56_tls12_suites_and_four_tls13_suites() -> None:
    approved = [s for s in SUITES if s.nist_800_52r2 is NistStatus.APPROVED]
    assert len([s for s in approved if not s.tls13_only]) == 56
    assert len([s for s in approved if s.tls13_only]) == 4


@pytest.mark.parametrize(
    "suite",
    [s for s in SUITES if s.nist_800_52r2 is not NistStatus.NOT_LISTED],
    ids=lambda s: s.code,
)
def test_every_listed_suite_is_aes_aead_or_aes_cbc_with_sha1_or_sha2(suite: CipherSuite) -> None:
    assert suite.bulk_cipher.startswith("AES_")
    if not suite.aead:
        assert suite.bulk_cipher.endswith("_CBC")
        assert suite.mac in {"SHA1", "SHA256", "SHA384"}


def test_approved_suites_never_use_rsa_key_transport() -> None:
    assert not [
        s.code
        for s in SUITES
        if s.nist_800_52r2 is NistStatus.APPROVED and s.key_exchange.startswith("RSA")
    ]


def test_tls13_chacha20_and_legacy_suites_are_not_approved() -> None:
    for code in ("1303", "CCA8", "CCA9", "000A", "0005", "0001", "C012"):
        assert not ciphers.approved_800_52r2(code)
    assert ciphers.approved_800_52r2("C02F")
    assert ciphers.by_code("003D").nist_800_52r2 is NistStatus.TRANSITION


# --- lookups ---------------------------------------------------------------------------------


def test_by_code_ignores_case_and_surrounding_blanks() -> None:
    assert ciphers.by_code(" c02f ").code == "C02F"


def test_by_code_names_an_unknown_code_in_a_key_error() -> None:
    with pytest.raises(UnknownCipherError) as raised:
        ciphers.by_code("C0FF")
    assert isinstance(raised.value, KeyError)
    assert isinstance(raised.value, AttlsError)
    assert str(raised.value) == "cipher code C0FF is not in the registry"


def test_by_code_explains_a_code_of_the_wrong_shape() -> None:
    with pytest.raises(UnknownCipherError) as raised:
        ciphers.by_code("2F")
    assert str(raised.value) == "'2F' is not a cipher code: write 4 hex digits, such as C02F"


def test_get_returns_none_for_an_unknown_code() -> None:
    assert ciphers.get("FFFF") is None
    assert ciphers.get("c030") is ciphers.by_code("C030")


def test_by_name_accepts_any_case() -> None:
    assert ciphers.by_name("tls_rsa_with_aes_128_cbc_sha").code == "002F"


def test_by_name_refuses_an_unknown_name() -> None:
    with pytest.raises(UnknownCipherError, match="cipher name 'TLS_FOO' is not in the registry"):
        ciphers.by_name("TLS_FOO")


def test_by_openssl_name_accepts_the_pre_1_1_edh_spelling() -> None:
    assert ciphers.by_openssl_name("EDH-RSA-DES-CBC3-SHA").code == "0016"
    assert ciphers.by_openssl_name("dhe-rsa-des-cbc3-sha").code == "0016"


def test_by_openssl_name_refuses_an_unknown_name() -> None:
    with pytest.raises(UnknownCipherError, match="OpenSSL cipher name 'FOO' is not in"):
        ciphers.by_openssl_name("FOO")


# --- V3CipherSuites (2-character codes or one constant) --------------------------------------


def test_v3_cipher_suites_turns_2_char_codes_into_4_char_codes() -> None:
    assert ciphers.parse_v3_cipher_suites("0A2F35") == ["000A", "002F", "0035"]


def test_v3_cipher_suites_accepts_lower_case_hex() -> None:
    assert ciphers.parse_v3_cipher_suites("2f0a") == ["002F", "000A"]


def test_v3_cipher_suites_keeps_repeats_for_effective_order_to_drop() -> None:
    codes = ciphers.parse_v3_cipher_suites("352F35")
    assert codes == ["0035", "002F", "0035"]
    assert ciphers.effective_order(codes) == ["0035", "002F"]


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", ["C02F"]),
        ("TLS_AES_128_GCM_SHA256", ["1301"]),
        ("TLS_RSA_WITH_AES_256_CBC_SHA", ["0035"]),
    ],
)
def test_v3_cipher_suites_accepts_one_cipher_constant(value: str, codes: list[str]) -> None:
    assert ciphers.parse_v3_cipher_suites(value) == codes


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "0A2F3",
            "V3CipherSuites value '0A2F3' has an odd number of characters (5): 2-character "
            "codes come in pairs of hex digits, and the last chunk '3' is incomplete",
        ),
        (
            "0A0B35",
            "V3CipherSuites chunk 2 ('0B', that is 000B) is not a cipher suite known to the "
            "registry",
        ),
        ("0A2G35", "V3CipherSuites chunk 2 ('2G') is not hexadecimal"),
        (
            "TLS_FOO",
            "V3CipherSuites value 'TLS_FOO' is neither 2-character hex codes nor a known "
            "cipher constant name",
        ),
        ("  ", "V3CipherSuites value is empty: give one cipher"),
        (
            "0A 2F",
            "V3CipherSuites value '0A 2F' contains blanks: write the codes run together, with "
            "nothing between them",
        ),
        (
            "0A,2F",
            "V3CipherSuites value '0A,2F' contains ',': write the codes run together, with "
            "nothing between them",
        ),
    ],
)
def test_v3_cipher_suites_explains_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(CipherValueError) as raised:
        ciphers.parse_v3_cipher_suites(value)
    assert str(raised.value) == message
    assert raised.value.parameter == "V3CipherSuites"
    assert isinstance(raised.value, ValueError)


# --- V3CipherSuites4Char ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("1301C02F", ["1301", "C02F"]),
        ("C02BC02FC02CC030", ["C02B", "C02F", "C02C", "C030"]),
        ("c02b", ["C02B"]),
        ("003D", ["003D"]),
    ],
)
def test_v3_cipher_suites_4char_splits_4_char_codes(value: str, codes: list[str]) -> None:
    assert ciphers.parse_v3_cipher_suites_4char(value) == codes


def test_v3_cipher_suites_4char_refuses_a_cipher_constant_and_says_what_to_write() -> None:
    with pytest.raises(CipherValueError) as raised:
        ciphers.parse_v3_cipher_suites_4char("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    assert str(raised.value) == (
        "V3CipherSuites4Char takes only 4-character hex codes, not a cipher constant name "
        "such as 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256': AT-TLS treats that value as invalid "
        "and silently leaves the suite out; write V3CipherSuites "
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or V3CipherSuites4Char C02F"
    )


def test_v3_cipher_suites_4char_refuses_an_unknown_constant_too() -> None:
    with pytest.raises(CipherValueError) as raised:
        ciphers.parse_v3_cipher_suites_4char("TLS_FOO")
    assert str(raised.value) == (
        "V3CipherSuites4Char takes only 4-character hex codes, not a cipher constant name "
        "such as 'TLS_FOO': AT-TLS treats that value as invalid and silently leaves the suite "
        "out"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "C02FC0",
            "V3CipherSuites4Char value 'C02FC0' has 6 characters, not a multiple of 4, and the "
            "last chunk 'C0' is incomplete",
        ),
        (
            "C02FC0FF",
            "V3CipherSuites4Char chunk 2 ('C0FF') is not a cipher suite known to the registry",
        ),
        ("C02FXYZ1", "V3CipherSuites4Char chunk 2 ('XYZ1') is not hexadecimal"),
        (
            "C02F,C030",
            "V3CipherSuites4Char value 'C02F,C030' contains ',': write the codes run together, "
            "with nothing between them",
        ),
        ("", "V3CipherSuites4Char value is empty: give one cipher"),
    ],
)
def test_v3_cipher_suites_4char_explains_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(CipherValueError) as raised:
        ciphers.parse_v3_cipher_suites_4char(value)
    assert str(raised.value) == message
    assert raised.value.parameter == "V3CipherSuites4Char"


@given(st.lists(st.sampled_from([s.code for s in SUITES]), min_size=1, max_size=20))
def test_any_list_of_known_codes_round_trips_through_the_4char_form(codes: list[str]) -> None:
    assert ciphers.parse_v3_cipher_suites_4char("".join(codes)) == codes


@given(st.lists(st.sampled_from([s.two_char for s in SUITES if s.two_char]), min_size=1))
def test_any_list_of_2_char_codes_round_trips_through_the_2char_form(codes: list[str]) -> None:
    assert ciphers.parse_v3_cipher_suites("".join(codes)) == ["00" + c for c in codes]


@given(st.text(max_size=40))
def test_parsers_raise_only_cipher_value_error_on_any_text(value: str) -> None:
    for parse in (ciphers.parse_v3_cipher_suites, ciphers.parse_v3_cipher_suites_4char):
        try:
            codes = parse(value)
        except CipherValueError:
            continue
        assert codes and all(ciphers.get(code) is not None for code in codes)


# --- System SSL defaults ---------------------------------------------------------------------


def test_system_ssl_default_list_holds_known_suites_without_rc4_null_or_export() -> None:
    defaults = [ciphers.by_code(code) for code in ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS]
    assert len(set(ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS)) == len(defaults)
    assert not [s.code for s in defaults if s.bulk_cipher in {"NULL", "RC4_128", "RC4_40"}]
    assert not [s.code for s in defaults if s.key_exchange == "RSA_EXPORT"]
    assert all(s.two_char is not None for s in defaults)


def test_system_ssl_fips_default_is_an_ordered_subset_of_the_default() -> None:
    fips = list(ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS)
    assert [c for c in ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS if c in fips] == fips


def test_each_protocol_has_its_readers_name_oldest_first() -> None:
    from attls.ciphers import Protocol

    assert [p.label for p in Protocol] == [
        "SSL 2.0",
        "SSL 3.0",
        "TLS 1.0",
        "TLS 1.1",
        "TLS 1.2",
        "TLS 1.3",
    ]
    assert Protocol("TLSv1").label == "TLS 1.0"
