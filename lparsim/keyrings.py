"""The key rings of one LPAR: RACF-style rings holding certificates by label.

Certificates are issued by the simulator's CA on first start and kept in the work directory,
so a restart serves the same certificates (with the same expiry). Two operations change a ring
while the LPAR runs:

* `expire(ring, label)`: the same certificate (same key, same serial) as if its not-after date
  had passed. AT-TLS environments that hold it keep holding it, now expired.
* `renew(ring, label, days)`: a new certificate under the label, as an operator would connect
  a replacement with RACDCERT. Environments already open keep the old one until they are
  rebuilt (reference §1.6: bump EnvironmentUserInstance and refresh).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

from lparsim import pki
from lparsim.config import CertificateConfig, KeyRingConfig


@dataclass(frozen=True)
class CertRecord:
    ring: str
    label: str
    issued: pki.Issued
    path: Path  # certificate + key, for ssl.load_cert_chain
    default: bool

    @property
    def serial(self) -> int:
        return self.issued.serial

    @property
    def not_after(self) -> dt.datetime:
        return self.issued.not_after

    def expired(self, at: dt.datetime | None = None) -> bool:
        return self.issued.expired(at)

    def describe(self) -> dict[str, object]:
        return {
            "ring": self.ring,
            "label": self.label,
            "default": self.default,
            "subject": self.issued.subject,
            "serial": f"{self.serial:X}",
            "not_before": self.issued.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "expired": self.expired(),
        }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


class KeyRingStore:
    def __init__(self, directory: Path, ca: pki.Issued, ca_file: Path) -> None:
        self.directory = directory
        self.ca = ca
        self.ca_file = ca_file
        self.rings: dict[str, dict[str, CertRecord]] = {}
        self.version = 0  # bumped on every change; contexts built from rings watch it

    def load(self, rings: list[KeyRingConfig]) -> None:
        """Reads every configured certificate from disk, issuing those that are missing."""
        for ring in rings:
            records: dict[str, CertRecord] = {}
            for cert in ring.certificates:
                records[cert.label] = self._load_or_issue(ring.name, cert)
            self.rings[ring.name] = records

    def _file(self, ring: str, label: str) -> Path:
        return self.directory / _slug(ring) / f"{_slug(label)}.pem"

    def _meta(self, ring: str, label: str) -> Path:
        return self._file(ring, label).with_suffix(".json")

    def _load_or_issue(self, ring: str, cert: CertificateConfig) -> CertRecord:
        path = self._file(ring, cert.label)
        meta = self._meta(ring, cert.label)
        if path.is_file() and meta.is_file():
            return CertRecord(ring, cert.label, pki.Issued.read(path), path, cert.default)
        issued = pki.issue(
            self.ca,
            common_name=cert.common_name,
            not_after=pki.days_from_now(cert.not_after_days),
            dns_names=(cert.common_name,),
            key_type=cert.key_type,
        )
        return self._save(ring, cert.label, issued, cert.default, {"key_type": cert.key_type})

    def _save(
        self, ring: str, label: str, issued: pki.Issued, default: bool, info: dict[str, object]
    ) -> CertRecord:
        # SSL contexts read the file when they are built, so rewriting it later is safe.
        self.version += 1
        path = issued.write(self._file(ring, label))
        self._meta(ring, label).write_text(json.dumps({**info, "serial": f"{issued.serial:X}"}))
        return CertRecord(ring, label, issued, path, default)

    def get(self, ring: str, label: str | None) -> CertRecord | None:
        """The certificate under `label`, or the ring's default when label is None."""
        records = self.rings.get(ring)
        if records is None:
            return None
        if label is None:
            return next((r for r in records.values() if r.default), None)
        return records.get(label)

    def has_ring(self, ring: str) -> bool:
        return ring in self.rings

    def all(self) -> list[CertRecord]:
        return [record for records in self.rings.values() for record in records.values()]

    def first_ring(self) -> str | None:
        return next(iter(self.rings), None)

    def find(self, ring: str | None, label: str | None) -> CertRecord:
        """A certificate named by ring and label; either may be omitted (first / default)."""
        ring_name = ring or self.first_ring()
        if ring_name is None or ring_name not in self.rings:
            raise KeyError(f"no key ring {ring!r}")
        record = self.get(ring_name, label)
        if record is None:
            raise KeyError(f"no certificate {label!r} in key ring {ring_name}")
        return record

    def expire(self, ring: str | None, label: str | None) -> CertRecord:
        record = self.find(ring, label)
        past = pki.now() - dt.timedelta(minutes=5)
        issued = pki.issue(
            self.ca,
            common_name=record.issued.common_name,
            not_before=record.issued.not_before
            if record.issued.not_before < past
            else past - dt.timedelta(days=1),
            not_after=past,
            dns_names=(),
            key_pem=record.issued.key_pem,
            serial=record.serial,
        )
        new = self._save(record.ring, record.label, issued, record.default, {"expired": True})
        self.rings[record.ring][record.label] = new
        return new

    def renew(self, ring: str | None, label: str | None, days: float) -> CertRecord:
        record = self.find(ring, label)
        common_name = record.issued.common_name
        issued = pki.issue(
            self.ca,
            common_name=common_name,
            not_after=pki.days_from_now(days),
            dns_names=(common_name,),
            key_type=pki.key_type_of(record.issued.private_key),
        )
        new = self._save(record.ring, record.label, issued, record.default, {"renewed": True})
        self.rings[record.ring][record.label] = new
        return new
