"""Signing evidence packs (PAdES with pyHanko) and checking an uploaded pack.

The signature is PAdES baseline: B-B with the organisation's PKCS#12 key, B-T when an
RFC 3161 time-stamp authority is configured (EVIDENCE_TSA_URL). Verification validates the
signature against the configured trust roots (EVIDENCE_TRUST_ROOTS; the demo CA in the demo),
never fetching anything, and looks the file's SHA-256 up in the ledger: the EvidencePack rows.

`demo_signing_key_create` makes the demo CA and signing certificate with `cryptography`;
`manage.py ensure_demo_signing_key` calls it on first run of `make demo`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

from audits.models import EvidencePack, RunState

log = logging.getLogger(__name__)

SIGNATURE_FIELD = "EvidencePackSignature"
# id-kp-documentSigning (RFC 9336): what the certificate is for, stated in the certificate.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


class SigningUnavailable(Exception):
    """The signing key cannot be used: missing, unreadable, or no passphrase configured."""


# --- the demo CA -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoKey:
    p12: Path
    ca_pem: Path
    signer_subject: str
    created: bool


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Evidence signing (DEMO)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def demo_signing_key_create(
    *,
    p12_path: Path,
    ca_path: Path,
    passphrase: str,
    organisation: str = "AT-TLS portal demo",
    days: int = 3 * 365,
) -> DemoKey:
    """Creates a demo CA (its private key is discarded) and a signing certificate it issues.

    Writes the PKCS#12 (key, certificate, CA) to `p12_path` and the CA certificate (PEM) to
    `ca_path`; files that already exist are left alone. ECDSA P-384 for the CA and P-256 for
    the signer: at least 112 bits of security, as SP 800-52r2 asks of certificates.
    """
    if p12_path.exists():
        subject = _p12_subject(p12_path, passphrase, restore_ca=ca_path)
        return DemoKey(p12_path, ca_path, subject, created=False)
    if not passphrase:
        raise SigningUnavailable("EVIDENCE_SIGNING_PASSPHRASE is not set")
    now = datetime.now(UTC).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = _name(f"{organisation} evidence CA (DEMO)", organisation)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days + 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA384())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"{organisation} evidence signing (DEMO)", organisation)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Non-repudiation (content commitment) is what PAdES validators expect of a
            # signature that commits to a document.
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    p12 = pkcs12.serialize_key_and_certificates(
        name=b"evidence-signing",
        key=key,
        cert=cert,
        cas=[ca_cert],
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase.encode()),
    )
    p12_path.parent.mkdir(parents=True, exist_ok=True)
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    # The key file is readable by its owner only; the CA certificate is public.
    p12_path.touch(mode=0o600, exist_ok=False)
    p12_path.write_bytes(p12)
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return DemoKey(p12_path, ca_path, subject.rfc4514_string(), created=True)


def _p12_subject(path: Path, passphrase: str, *, restore_ca: Path) -> str:
    """The key's subject; writes the CA certificate from the PKCS#12 when its file is gone."""
    try:
        _, cert, chain = pkcs12.load_key_and_certificates(
            path.read_bytes(), passphrase.encode() if passphrase else None
        )
    except ValueError as error:
        raise SigningUnavailable(f"{path} cannot be opened with the passphrase: {error}") from None
    if not restore_ca.exists() and chain:
        restore_ca.parent.mkdir(parents=True, exist_ok=True)
        restore_ca.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return cert.subject.rfc4514_string() if cert is not None else "?"


def signer_name(cert: asn1_x509.Certificate) -> str:
    """`Common name, Organisation` of a certificate's subject, as a reader names a signer."""
    subject = cert.subject.native
    parts = [subject.get("common_name"), subject.get("organization_name")]
    name = ", ".join(str(p) for p in parts if p)
    return name or cert.subject.human_friendly


# --- signing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedPdf:
    data: bytes
    signer: str  # the signing certificate's subject, as a person reads it
    level: str  # PAdES-B-B or PAdES-B-T
    timestamped: bool


@lru_cache(maxsize=4)
def _signer(path: str, mtime_ns: int, passphrase: str):  # type: ignore[no-untyped-def]
    """The pyHanko signer for a PKCS#12 file; reloaded when the file changes."""
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load_pkcs12(path, passphrase=passphrase.encode() or None)
    if signer is None:
        raise SigningUnavailable(f"{path} could not be loaded with EVIDENCE_SIGNING_PASSPHRASE")
    return signer


def load_signer():  # type: ignore[no-untyped-def]
    path = Path(settings.EVIDENCE_SIGNING_P12)
    passphrase = settings.EVIDENCE_SIGNING_PASSPHRASE
    if not path.is_file():
        raise SigningUnavailable(
            f"no signing key at {path} (EVIDENCE_SIGNING_P12); in a demo, run"
            " `manage.py ensure_demo_signing_key`"
        )
    if not passphrase:
        raise SigningUnavailable("EVIDENCE_SIGNING_PASSPHRASE is not set")
    return _signer(str(path), path.stat().st_mtime_ns, passphrase)


def sign_pdf(pdf: bytes, *, reason: str, location: str = "") -> SignedPdf:
    """Signs `pdf` (PAdES B-B, or B-T with a time-stamp when EVIDENCE_TSA_URL is set)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps import HTTPTimeStamper

    signer = load_signer()
    timestamper = None
    if settings.EVIDENCE_TSA_URL:
        timestamper = HTTPTimeStamper(
            settings.EVIDENCE_TSA_URL, timeout=settings.EVIDENCE_TSA_TIMEOUT_SECONDS
        )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location or None,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = signers.sign_pdf(writer, meta, signer=signer, timestamper=timestamper)
    subject = signer_name(signer.signing_cert)
    return SignedPdf(
        data=out.getvalue(),
        signer=subject,
        level="PAdES-B-T" if timestamper else "PAdES-B-B",
        timestamped=timestamper is not None,
    )


# --- verification ----------------------------------------------------------------------------


@dataclass
class VerificationResult:
    """What an uploaded PDF proves: its signature, its signer, and its place in the ledger."""

    intact: bool  # signed bytes unchanged, the signature mathematically valid, covering it all
    trusted: bool  # the signing certificate chains to a configured trust root
    signer: str
    signed_at: datetime | None
    matches_ledger: EvidencePack | None
    problems: list[str] = field(default_factory=list)
    sha256: str = ""
    timestamped: bool = False
    level: str = ""

    @property
    def ok(self) -> bool:
        return self.intact and self.trusted and self.matches_ledger is not None


def trust_roots() -> list[asn1_x509.Certificate]:
    """The configured trust roots, read from EVIDENCE_TRUST_ROOTS (PEM, one or more)."""
    path = Path(settings.EVIDENCE_TRUST_ROOTS)
    return list(_trust_roots(str(path), path.stat().st_mtime_ns)) if path.is_file() else []


@lru_cache(maxsize=4)
def _trust_roots(path: str, mtime_ns: int) -> tuple[asn1_x509.Certificate, ...]:
    roots = x509.load_pem_x509_certificates(Path(path).read_bytes())
    return tuple(
        asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER)) for root in roots
    )


def ledger_entry(sha256: str) -> EvidencePack | None:
    return (
        EvidencePack.objects.select_related("assessment", "created_by")
        .filter(pdf_sha256=sha256, status=RunState.SUCCEEDED)
        .first()
    )


def verify_pack(pdf_bytes: bytes) -> VerificationResult:
    """Checks an uploaded PDF: signature intact and trusted, who signed, and the ledger entry.

    Never raises on bad input: a file that is not a PDF, or not signed, is an answer with
    its problems listed.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    digest = hashlib.sha256(pdf_bytes).hexdigest()
    result = VerificationResult(
        intact=False,
        trusted=False,
        signer="",
        signed_at=None,
        matches_ledger=ledger_entry(digest),
        sha256=digest,
    )
    if result.matches_ledger is None:
        result.problems.append("no evidence pack in the ledger has this file's SHA-256")
    roots = trust_roots()
    if not roots:
        result.problems.append("no trust roots are configured (EVIDENCE_TRUST_ROOTS)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        signatures = reader.embedded_signatures
    except Exception as error:  # pyHanko raises several types for a damaged file
        result.problems.append(f"not a readable PDF: {error}")
        return result
    if not signatures:
        result.problems.append("the PDF carries no signature")
        return result
    if len(signatures) > 1:
        result.problems.append(f"the PDF carries {len(signatures)} signatures; the last is checked")
    embedded = signatures[-1]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        status = validate_pdf_signature(embedded, context)
    except Exception as error:  # a damaged signature container, digest, or certificate
        result.problems.append(f"the signature cannot be validated: {error}")
        return result
    result.signer = signer_name(status.signing_cert)
    result.trusted = bool(status.trusted)
    if status.timestamp_validity is not None:
        result.timestamped = True
        result.signed_at = status.timestamp_validity.timestamp
    else:
        result.signed_at = status.signer_reported_dt
    result.level = "PAdES-B-T" if result.timestamped else "PAdES-B-B"
    covers_all = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    try:
        damaged = _container_problems(pdf_bytes, embedded, roots, chain_trusted=result.trusted)
    except Exception as error:  # asn1crypto parses lazily: damage surfaces here
        damaged = [f"the signature container is damaged: {error}"]
    result.problems.extend(damaged)
    result.intact = bool(status.intact and status.valid and covers_all and not damaged)
    if not status.intact:
        result.problems.append("the document was changed after it was signed (digest mismatch)")
    elif not status.valid:
        result.problems.append("the signature value does not verify with the signer's key")
    if status.intact and not covers_all:
        result.problems.append("content was added after the signature (it does not cover the file)")
    if not (status.intact and status.valid):
        # pyHanko validates the certificate path only for a signature that verifies, so
        # `trusted` is False here whoever signed: say it was not checked, not "untrusted".
        result.problems.append(
            "whether the signer is trusted was not checked: the signature does not verify"
        )
    elif not result.trusted:
        result.problems.append(
            "the signing certificate does not chain to a configured trust root"
            + (f" ({status.trust_problem_indic})" if status.trust_problem_indic else "")
        )
    return result


def _container_problems(
    pdf_bytes: bytes,
    embedded: object,
    roots: list[asn1_x509.Certificate],
    *,
    chain_trusted: bool,
) -> list[str]:
    """Damage in the parts of the file that the signature cannot cover.

    PDF signatures sign every byte but their own /Contents: the CMS container, padded with
    zeros, written as a hex string. pyHanko checks what the signature covers, and the parts
    of the container that its verdict depends on (the signer's certificate and key, the
    signed attributes, the signature value); a byte changed anywhere else in the hole could
    leave that verdict unchanged. So every byte of the hole is accounted for here:

    - the ByteRange leaves out exactly one hex string, `<...>` in upper-case hex as pyHanko
      writes it, and covers everything else up to the end of the file;
    - that string decodes to the container pyHanko read: canonical DER, then zeros only;
    - the container's own unsigned fields say what its signer says (versions, digest
      algorithms, the signer's identifier as the bytes of an embedded certificate), in the
      signature and in a time-stamp token it carries;
    - each embedded certificate whose issuer is at hand carries that issuer's valid signature,
      with the bytes the signature leaves out (its algorithm, the bit string's unused-bit
      count) as RFC 5280 fixes them. When the signer chains to a trust root, every embedded
      certificate must have such an issuer: a changed issuer name would otherwise hide a
      changed certificate.

    (Any changed byte at all also changes the file's SHA-256, which the ledger catches.)
    """
    problems = _hole_problems(pdf_bytes, embedded)
    raw: bytes = embedded.pkcs7_content  # type: ignore[attr-defined]
    problems += _encoding_problems(raw)
    signed_data = embedded.signed_data  # type: ignore[attr-defined]
    problems += _signed_data_problems(signed_data, "signature")
    problems += _certificate_problems(signed_data, roots, chain_trusted=chain_trusted)
    for token in _timestamp_tokens(signed_data):
        problems += _signed_data_problems(token, "time-stamp token")
        problems += _certificate_problems(token, roots, chain_trusted=False)
    return problems


def _hole_problems(pdf_bytes: bytes, embedded: object) -> list[str]:
    """The ByteRange covers the whole file except exactly the signature's hex string."""
    start, before, hole_end, after = (int(n) for n in embedded.byte_range)  # type: ignore[attr-defined]
    if start != 0 or not 0 < before < hole_end or hole_end + after != len(pdf_bytes):
        return ["the signature does not cover the whole file apart from its own value"]
    match = re.fullmatch(rb"<([0-9A-F]*)>", pdf_bytes[before:hole_end])
    if match is None:
        return ["the signature container's hex encoding was changed"]
    digits = match[1]
    raw: bytes = embedded.pkcs7_content  # type: ignore[attr-defined]
    if len(digits) % 2 or bytes.fromhex(digits.decode("ascii")) != raw:
        return ["the bytes the signature leaves out are not the signature container"]
    return []


def _encoding_problems(raw: bytes) -> list[str]:
    """The container is one DER value, well-formed to the last byte, followed by zeros only."""
    from asn1crypto import parser

    length = parser.peek(raw)
    problems = []
    if any(raw[length:]):
        problems.append("the signature container's padding was changed")
    try:
        _check_der(raw[:length])
    except ValueError as error:
        problems.append(f"the signature container is not valid DER: {error}")
    return problems


# DER allows the constructed form only for these universal types (and never the reverse).
_SEQUENCE, _SET = 16, 17
# An integer's first byte may not be all sign bits that the next byte repeats.
_PADDED = ((0x00, 0), (0xFF, 1))


def _check_der(data: bytes) -> None:
    """Raises ValueError unless `data` is a run of DER values: minimal lengths, definite form,
    primitive strings, minimal integers, canonical booleans and nulls (X.690 10 and 11).

    asn1crypto reads leniently (a length that runs into the zero padding, a needlessly long
    length, a constructed string) and re-encoding through it is slow once pyHanko is
    loaded, so the walk is done here, over the bytes.
    """
    position = 0
    while position < len(data):
        identifier = data[position]
        position += 1
        tag_class, constructed, tag = identifier >> 6, bool(identifier & 0x20), identifier & 0x1F
        if tag == 0x1F:  # high tag number: base 128, no leading 0x80, at least 31
            tag = 0
            if data[position : position + 1] == b"\x80":
                raise ValueError("a tag number with a leading zero")
            while True:
                if position >= len(data):
                    raise ValueError("a tag runs past the end")
                byte = data[position]
                position += 1
                tag = tag << 7 | byte & 0x7F
                if not byte & 0x80:
                    break
            if tag < 0x1F:
                raise ValueError("a tag number in long form that fits in short form")
        if position >= len(data):
            raise ValueError("a length runs past the end")
        first = data[position]
        position += 1
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise ValueError("an indefinite length")
        else:
            size = first & 0x7F
            octets = data[position : position + size]
            position += size
            if len(octets) != size or octets[0] == 0:
                raise ValueError("a length with a leading zero or past the end")
            length = int.from_bytes(octets, "big")
            if length < 0x80:
                raise ValueError("a length in long form that fits in short form")
        content = data[position : position + length]
        if len(content) != length:
            raise ValueError("a value runs past the end of its container")
        position += length
        if tag_class == 0:  # universal
            if constructed != (tag in (_SEQUENCE, _SET)):
                raise ValueError(f"universal tag {tag} in the wrong form")
            if tag == 0:
                raise ValueError("an end-of-contents marker")
            if tag == 1 and content not in (b"\x00", b"\xff"):
                raise ValueError("a boolean other than 00 or FF")
            if tag == 5 and content:
                raise ValueError("a null with contents")
            if tag in (2, 10) and (
                not content or (len(content) > 1 and (content[0], content[1] >> 7) in _PADDED)
            ):
                raise ValueError("an integer that is empty or not minimally encoded")
        if constructed:
            _check_der(content)


def _signed_data_problems(signed_data: object, what: str) -> list[str]:
    """The unsigned fields of a SignedData agree with what its signers state (RFC 5652 5.1)."""
    signer_infos = list(signed_data["signer_infos"])  # type: ignore[index]
    problems = []
    declared = sorted(algorithm.dump() for algorithm in signed_data["digest_algorithms"])  # type: ignore[index]
    used = sorted({info["digest_algorithm"].dump() for info in signer_infos})
    if declared != used:
        problems.append(f"the {what}'s list of digest algorithms was changed")
    certificates = _embedded_certificates(signed_data)
    for info in signer_infos:
        expected = "v3" if info["sid"].name == "subject_key_identifier" else "v1"
        if info["version"].native != expected:
            problems.append(f"the {what}'s signer version was changed")
        # Names compare loosely (case, string type): the identifier must be the bytes of a
        # certificate that is there, not merely equal to them.
        if certificates and not any(_identifies(info["sid"], cert) for cert in certificates):
            problems.append(f"the {what}'s signer identifier was changed")
    if signed_data["version"].native != _signed_data_version(signed_data, signer_infos):  # type: ignore[index]
        problems.append(f"the {what}'s version was changed")
    return problems


def _identifies(sid: object, cert: asn1_x509.Certificate) -> bool:
    chosen = sid.chosen  # type: ignore[attr-defined]
    if sid.name == "subject_key_identifier":  # type: ignore[attr-defined]
        extension = cert.key_identifier_value
        return extension is not None and chosen.dump() == extension.dump()
    tbs = cert["tbs_certificate"]
    return (
        chosen["issuer"].dump() == tbs["issuer"].dump()
        and chosen["serial_number"].dump() == tbs["serial_number"].dump()
    )


def _embedded_certificates(signed_data: object) -> list[asn1_x509.Certificate]:
    return [
        choice.chosen
        for choice in signed_data["certificates"] or []  # type: ignore[index]
        if isinstance(choice.chosen, asn1_x509.Certificate)
    ]


def _signed_data_version(signed_data: object, signer_infos: list) -> str:  # type: ignore[type-arg]
    certificates = [c.name for c in signed_data["certificates"] or []]  # type: ignore[index]
    crls = [c.name for c in signed_data["crls"] or []]  # type: ignore[index]
    if "other" in certificates or "other" in crls:
        return "v5"
    if "v2_attr_cert" in certificates:
        return "v4"
    if (
        "v1_attr_cert" in certificates
        or any(info["version"].native == "v3" for info in signer_infos)
        or signed_data["encap_content_info"]["content_type"].native != "data"  # type: ignore[index]
    ):
        return "v3"
    return "v1"


def _timestamp_tokens(signed_data: object) -> list[object]:
    """The SignedData of each RFC 3161 time-stamp token among the signers' unsigned attributes."""
    tokens = []
    for info in signed_data["signer_infos"]:  # type: ignore[index]
        for attribute in info["unsigned_attrs"] or []:
            if attribute["type"].native == "signature_time_stamp_token":
                tokens.extend(value["content"] for value in attribute["values"])
    return tokens


def _certificate_problems(
    signed_data: object, roots: list[asn1_x509.Certificate], *, chain_trusted: bool
) -> list[str]:
    problems = []
    embedded_certs = _embedded_certificates(signed_data)
    root_ders = {root.dump() for root in roots}
    candidates = embedded_certs + list(roots)
    for cert in embedded_certs:
        if cert.dump() in root_ders:
            continue
        # The issuer signs the tbsCertificate only: the outer algorithm must repeat the inner
        # one (RFC 5280 4.1.1.2) and the signature is a whole number of bytes.
        if (
            cert["signature_algorithm"].dump() != cert["tbs_certificate"]["signature"].dump()
            or cert["signature_value"].contents[:1] != b"\x00"
        ):
            problems.append(
                f"an embedded certificate ({cert.subject.human_friendly}) was changed"
                " outside the part its issuer signs"
            )
            continue
        issuers = [c for c in candidates if c.subject == cert.issuer and c is not cert]
        if cert.issuer == cert.subject:
            issuers.append(cert)
        if not issuers:
            if chain_trusted:
                problems.append(
                    f"an embedded certificate ({cert.subject.human_friendly}) has no issuer"
                    " among the certificates at hand: it was changed or does not belong"
                )
            continue  # an untrusted chain: nothing to check it against
        try:
            mine = x509.load_der_x509_certificate(cert.dump())
            verified = False
            for issuer in issuers:
                try:
                    mine.verify_directly_issued_by(x509.load_der_x509_certificate(issuer.dump()))
                    verified = True
                    break
                except Exception:  # wrong key type, bad signature: try the next candidate
                    continue
        except ValueError:
            verified = False
        if not verified:
            problems.append(
                f"an embedded certificate ({cert.subject.human_friendly}) was changed:"
                " its issuer's signature does not verify"
            )
    return problems
