"""Certificates for lparsim: a CA, the z/OSMF server certificate, key-ring certificates.

Everything is generated with `cryptography`. A certificate is kept as PEM (certificate and
private key) with its serial and validity, and written to a file when Python's `ssl` needs
one (`load_cert_chain` reads files only). `not_after` may be in the past: that is how an
expired key-ring certificate is made.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_key(key_type: str = "ec-p256") -> PrivateKey:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise ValueError(f"unknown key type {key_type!r}")


def key_type_of(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"rsa-{key.key_size}"
    return "ec-p384" if key.curve.name == "secp384r1" else "ec-p256"


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def private_key(self) -> PrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
        return key

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def common_name(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def expired(self, at: dt.datetime | None = None) -> bool:
        return (at or now()) > self.not_after

    def write(self, path: Path) -> Path:
        """Writes certificate and key into one PEM file (private: mode 0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as file:
            file.write(self.cert_pem + self.key_pem)
        tmp.replace(path)
        return path

    def saved(self, path: Path) -> Issued:
        self.write(path)
        return self

    @classmethod
    def read(cls, path: Path) -> Issued:
        data = path.read_bytes()
        marker = data.find(b"-----BEGIN", data.find(b"-----END CERTIFICATE-----"))
        if marker < 0:
            raise ValueError(f"{path} does not hold a certificate followed by its key")
        return cls(data[:marker], data[marker:])


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_ca(
    common_name: str = "lparsim test CA", *, days: float = 3650, key_type: str = "ec-p256"
) -> Issued:
    key = generate_key(key_type)
    name = _name(common_name, "lparsim")
    start = now() - dt.timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# Where the simulated CA says its certificate, OCSP responder and CRL are (AIA, CRLDP).
PKI_URL = "http://pki.lparsim.test"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "ca"


def issue(
    ca: Issued,
    *,
    common_name: str,
    not_after: dt.datetime,
    not_before: dt.datetime | None = None,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    key_type: str = "ec-p256",
    key_pem: bytes | None = None,
    serial: int | None = None,
    client: bool = False,
) -> Issued:
    """A leaf certificate signed by `ca`.

    Pass `key_pem` and `serial` to re-sign an existing certificate with other dates (the
    same certificate, as far as a key ring is concerned).
    """
    if key_pem is not None:
        loaded = serialization.load_pem_private_key(key_pem, password=None)
        assert isinstance(loaded, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
        key: PrivateKey = loaded
    else:
        key = generate_key(key_type)
    ca_cert = ca.certificate
    ca_key = ca.private_key
    if not_before is None:
        not_before = min(now() - dt.timedelta(hours=1), not_after - dt.timedelta(days=1))
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans.extend(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    if client:
        usages.reverse()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, "lparsim"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(usages),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    # What a corporate CA puts in a server certificate and SP 800-52r2 §3.2.1 asks for: key
    # usage for the key type (critical), where to fetch the issuer, its OCSP responder and
    # CRL. The addresses are names only: nothing in lparsim answers them.
    signs_only = isinstance(key, ec.EllipticCurvePrivateKey)
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            key_encipherment=not signs_only,
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    issuer = _slug(ca.common_name)
    builder = builder.add_extension(
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(f"{PKI_URL}/ocsp/{issuer}"),
                ),
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(f"{PKI_URL}/{issuer}.crt"),
                ),
            ]
        ),
        critical=False,
    )
    builder = builder.add_extension(
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(f"{PKI_URL}/{issuer}.crl")],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        critical=False,
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def days_from_now(days: float) -> dt.datetime:
    return now() + dt.timedelta(days=days)


def load_or_create_ca(cert_path: Path | None, key_path: Path | None, store: Path) -> Issued:
    """The CA given in the configuration, or the one generated (once) into `store`."""
    if cert_path is not None and key_path is not None:
        return Issued(cert_path.read_bytes(), key_path.read_bytes())
    if store.is_file():
        return Issued.read(store)
    return create_ca().saved(store)
