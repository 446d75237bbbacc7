"""PAdES signatures on evidence packs, their verification, and the demo CA.

Signing uses the session's demo key (tests/audits/conftest.py), made like
`manage.py ensure_demo_signing_key` makes it. The time-stamp test runs a real RFC 3161
time-stamp authority over HTTP on 127.0.0.1 (pyHanko's own TSA logic behind http.server).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import call_command
from pytest_django import Settings
from weasyprint import HTML

from audits.models import Assessment, EvidencePack, RunState
from audits.signing import demo_signing_key_create, sign_pdf, verify_pack

# verify_pack looks every file up in the ledger (the EvidencePack table).
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return HTML(string="<h1>Evidence</h1><p>Coverage 97.5 %</p>").write_pdf()


@pytest.fixture
def signed(plain_pdf: bytes) -> bytes:
    return sign_pdf(plain_pdf, reason="test").data


def _flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] = ord("1") if changed[position] == ord("0") else (changed[position] + 1) % 256
    return bytes(changed)


def _ledger(data: bytes, make_user) -> EvidencePack:
    import hashlib

    auditor = make_user("audrey")
    now = datetime.now(UTC)
    assessment = Assessment.objects.create(
        scope_kind="estate",
        period_start=now - timedelta(days=1),
        period_end=now,
        catalog_version="0.1.0",
        catalog_sha256="0" * 64,
        created_by=auditor,
        status=RunState.SUCCEEDED,
    )
    return EvidencePack.objects.create(
        assessment=assessment,
        created_by=auditor,
        status=RunState.SUCCEEDED,
        pdf_sha256=hashlib.sha256(data).hexdigest(),
    )


# --- the demo CA ------------------------------------------------------------------------------


def test_the_demo_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    p12, ca = tmp_path / "signing" / "key.p12", tmp_path / "signing" / "ca.pem"

    first = demo_signing_key_create(p12_path=p12, ca_path=ca, passphrase="pw")
    again = demo_signing_key_create(p12_path=p12, ca_path=ca, passphrase="pw")

    assert first.created and not again.created
    assert p12.stat().st_mode & 0o777 == 0o600
    roots = x509.load_pem_x509_certificates(ca.read_bytes())
    assert len(roots) == 1
    assert roots[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "evidence signing (DEMO)" in first.signer_subject
    assert again.signer_subject == first.signer_subject


def test_a_lost_ca_file_is_written_again_from_the_pkcs12(tmp_path: Path) -> None:
    p12, ca = tmp_path / "key.p12", tmp_path / "ca.pem"
    demo_signing_key_create(p12_path=p12, ca_path=ca, passphrase="pw")
    original = ca.read_bytes()
    ca.unlink()

    demo_signing_key_create(p12_path=p12, ca_path=ca, passphrase="pw")

    assert ca.read_bytes() == original


def test_the_command_creates_the_key_on_first_run_only(settings: Settings, tmp_path: Path) -> None:
    settings.EVIDENCE_SIGNING_P12 = tmp_path / "signing" / "evidence-signing.p12"
    settings.EVIDENCE_TRUST_ROOTS = tmp_path / "signing" / "demo-ca.pem"
    out = io.StringIO()

    call_command("ensure_demo_signing_key", stdout=out)
    call_command("ensure_demo_signing_key", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("demo signing key created")
    assert lines[-1].startswith("signing key present")


# --- signing and verification -----------------------------------------------------------------


def test_a_signed_pack_is_intact_trusted_and_names_its_signer(signed: bytes) -> None:
    result = verify_pack(signed)

    assert result.intact and result.trusted
    assert result.signer == "Test Bank evidence signing (DEMO), Test Bank"
    assert result.level == "PAdES-B-B" and not result.timestamped
    assert result.signed_at is not None
    assert abs((datetime.now(UTC) - result.signed_at).total_seconds()) < 60
    assert result.matches_ledger is None
    assert result.problems == ["no evidence pack in the ledger has this file's SHA-256"]
    assert not result.ok


def test_a_signed_pack_in_the_ledger_is_valid(signed: bytes, make_user) -> None:
    pack = _ledger(signed, make_user)

    result = verify_pack(signed)

    assert result.ok
    assert result.matches_ledger == pack
    assert result.problems == []


def test_one_changed_byte_in_the_document_fails_validation(signed: bytes, make_user) -> None:
    _ledger(signed, make_user)
    # A figure in the page's content stream is compressed; change a byte of the info dictionary
    # text instead, which the signature covers as it covers every byte outside its own value.
    position = signed.index(b"/Producer") + 3

    result = verify_pack(_flip(signed, position))

    assert not result.intact
    assert result.matches_ledger is None
    assert not result.ok
    assert any("changed after it was signed" in p for p in result.problems)
    # The signer's certificate is the trusted one: a changed byte does not make it untrusted.
    assert not any("does not chain to a configured trust root" in p for p in result.problems)
    assert any("trusted was not checked" in p for p in result.problems)


def _signature_dictionary(signed: bytes) -> tuple[range, re.Match[bytes]]:
    """The byte positions of the signature dictionary's object, and its /Contents value."""
    value = re.search(rb"/Contents <([0-9A-F]+)>", signed)
    assert value is not None
    start = re.compile(rb"\d+ \d+ obj\s*<<\s*$").search(signed, 0, value.start())
    assert start is not None
    end = signed.index(b"endobj", value.end()) + len(b"endobj")
    assert b"/ByteRange [" in signed[value.end() : end]
    return range(start.start(), end), value


def _with_value(signed: bytes, value: re.Match[bytes], digits: bytes, at: int) -> bytes:
    """`signed` with hex digits of the signature value replaced, from digit `at` on."""
    start = value.start(1) + at
    return signed[:start] + digits + signed[start + len(digits) :]


@pytest.mark.slow  # about a minute: pyHanko takes ~10 ms a file and the value is 5 kB of hex
def test_no_single_changed_byte_leaves_the_signature_intact(signed: bytes, make_user) -> None:
    """Every byte of the signature dictionary (its /Contents value, which the signature cannot
    cover, with the hex string's delimiters, and the /ByteRange array) and every 97th byte
    of the file. Outside the value the digest catches a change; inside it, the checks of the
    container: hex spelling, DER, zero padding, unsigned fields, embedded certificates.
    The file is in the ledger, so `intact` alone must say no.

    Inside /Contents one of the two hex digits of each byte is changed (the one that gives
    the byte's high nibble): every byte of the container is still changed once, in half the
    time (pyHanko takes ~10 ms a file)."""
    _ledger(signed, make_user)
    dictionary, value = _signature_dictionary(signed)
    low_nibbles = set(range(value.start(1) + 1, value.end(1), 2))
    positions = sorted(
        {*(set(dictionary) - low_nibbles), *range(0, len(signed), 97), len(signed) - 1}
    )
    assert len(positions) > len(value.group(1)) // 2

    still_intact = [p for p in positions if verify_pack(_flip(signed, p)).intact]

    assert still_intact == []


def test_a_container_length_that_runs_into_the_padding_is_a_change(signed: bytes) -> None:
    # The outer SEQUENCE's two length bytes (30 82 LL LL): 16 bytes longer, it swallows
    # zeros of the padding, which a lenient reader accepts.
    _, value = _signature_dictionary(signed)
    length = int(value.group(1)[4:8], 16)

    result = verify_pack(_with_value(signed, value, b"%04X" % (length + 16), at=4))

    assert not result.intact
    assert any(p.startswith("the signature container is not valid DER") for p in result.problems)


def test_a_changed_field_the_signature_does_not_cover_is_a_change(signed: bytes) -> None:
    # SignedData's version (v1 here; RFC 5652 fixes it from the content) comes after
    # ContentInfo (30 82 LLLL, the 11-byte OID, A0 82 LLLL) and SignedData's header (30 82
    # LLLL): byte 25. pyHanko does not read it.
    _, value = _signature_dictionary(signed)
    assert value.group(1)[46:52] == b"020101"

    result = verify_pack(_with_value(signed, value, b"03", at=50))

    assert not result.intact
    assert "the signature's version was changed" in result.problems


def test_lower_case_hex_in_the_signature_value_is_a_change(signed: bytes) -> None:
    hole = re.search(rb"/Contents <([0-9A-F]+)>", signed)
    assert hole is not None
    letter = next(i for i in range(hole.start(1), hole.end(1)) if chr(signed[i]).isalpha())
    changed = bytearray(signed)
    changed[letter] = ord(chr(changed[letter]).lower())

    result = verify_pack(bytes(changed))

    assert not result.intact
    assert "the signature container's hex encoding was changed" in result.problems


def test_content_added_after_signing_is_reported(signed: bytes) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.set_info(
        generic.DictionaryObject({generic.NameObject("/Title"): generic.TextStringObject("edited")})
    )
    out = io.BytesIO()
    writer.write(out)

    result = verify_pack(out.getvalue())

    assert not result.intact
    assert any("added after the signature" in p for p in result.problems)


def test_a_signature_from_another_ca_is_intact_but_not_trusted(
    plain_pdf: bytes, settings: Settings, tmp_path: Path
) -> None:
    other = demo_signing_key_create(
        p12_path=tmp_path / "other.p12",
        ca_path=tmp_path / "other-ca.pem",
        passphrase="other",
        organisation="Someone Else",
    )
    trusted_roots = settings.EVIDENCE_TRUST_ROOTS
    settings.EVIDENCE_SIGNING_P12 = other.p12
    settings.EVIDENCE_SIGNING_PASSPHRASE = "other"
    data = sign_pdf(plain_pdf, reason="test").data
    settings.EVIDENCE_TRUST_ROOTS = trusted_roots

    result = verify_pack(data)

    assert result.intact and not result.trusted
    assert result.signer == "Someone Else evidence signing (DEMO), Someone Else"
    assert any("does not chain to a configured trust root" in p for p in result.problems)


def test_files_that_are_not_signed_packs_are_answered_not_raised(plain_pdf: bytes) -> None:
    garbage = verify_pack(b"this is not a PDF at all")
    unsigned = verify_pack(plain_pdf)

    assert not garbage.intact and garbage.problems[-1].startswith("not a readable PDF")
    assert not unsigned.intact and unsigned.problems[-1] == "the PDF carries no signature"


def test_signing_without_a_key_says_which_setting_is_missing(
    plain_pdf: bytes, settings: Settings, tmp_path: Path
) -> None:
    from audits.signing import SigningUnavailable

    settings.EVIDENCE_SIGNING_P12 = tmp_path / "nowhere.p12"

    with pytest.raises(SigningUnavailable, match="EVIDENCE_SIGNING_P12"):
        sign_pdf(plain_pdf, reason="test")


# --- a time-stamp authority: PAdES B-T --------------------------------------------------------


def _tsa_identity(tmp_path: Path) -> tuple[asn1_x509.Certificate, keys.PrivateKeyInfo, Path]:
    """A TSA certificate from a CA of its own; the CA's PEM to add to the trust roots."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA root")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's TSA: RSA
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = tmp_path / "tsa-ca.pem"
    pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        keys.PrivateKeyInfo.load(der_key),
        pem,
    )


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    cert, key, ca_pem = _tsa_identity(tmp_path)
    authority = DummyTimeStamper(tsa_cert=cert, tsa_key=key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = authority.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", ca_pem
    finally:
        server.shutdown()
        server.server_close()


def test_with_a_time_stamp_authority_the_signature_is_pades_b_t(
    plain_pdf: bytes, settings: Settings, tsa: tuple[str, Path], tmp_path: Path
) -> None:
    url, tsa_root = tsa
    roots = tmp_path / "roots.pem"
    roots.write_bytes(Path(settings.EVIDENCE_TRUST_ROOTS).read_bytes() + tsa_root.read_bytes())
    settings.EVIDENCE_TRUST_ROOTS = roots
    settings.EVIDENCE_TSA_URL = url

    signed = sign_pdf(plain_pdf, reason="test")
    result = verify_pack(signed.data)

    assert signed.level == "PAdES-B-T" and signed.timestamped
    assert result.intact and result.trusted
    assert result.timestamped and result.level == "PAdES-B-T"
    assert result.signed_at is not None
    assert abs((datetime.now(UTC) - result.signed_at).total_seconds()) < 60
