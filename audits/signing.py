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
    if not result.trusted:
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
    """Damage in the parts of the signature container that the signature cannot cover.

    PDF signatures sign every byte but their own /Contents: the CMS container, padded with
    zeros, written as a hex string. The certificates in it, the padding and the spelling of
    the hex are not covered, and a byte changed there can leave pyHanko's verdict unchanged.
    So: the hole holds upper-case hex as pyHanko writes it, the padding is zeros, each embedded
    certificate whose issuer is at hand (embedded, or a trust root) must carry that issuer's
    valid signature. When the signer chains to a trust root, every embedded certificate must
    have such an issuer: a changed issuer name would otherwise hide a changed certificate.
    (Any changed byte at all also changes the file's SHA-256, which the ledger catches.)
    """
    from asn1crypto import cms

    problems = []
    byte_range = [int(n) for n in embedded.byte_range]  # type: ignore[attr-defined]
    hole = pdf_bytes[byte_range[0] + byte_range[1] : byte_range[2]]
    if not re.fullmatch(rb"<[0-9A-F]*>", hole):
        problems.append("the signature container's hex encoding was changed")
    raw: bytes = embedded.pkcs7_content  # type: ignore[attr-defined]
    info = cms.ContentInfo.load(raw, strict=False)
    if raw[len(info.dump()) :].strip(b"\x00"):
        problems.append("the signature container's padding was changed")
    signed_data = embedded.signed_data  # type: ignore[attr-defined]
    embedded_certs = [
        choice.chosen
        for choice in signed_data["certificates"] or []
        if isinstance(choice.chosen, asn1_x509.Certificate)
    ]
    root_ders = {root.dump() for root in roots}
    candidates = embedded_certs + list(roots)
    for cert in embedded_certs:
        if cert.dump() in root_ders:
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
