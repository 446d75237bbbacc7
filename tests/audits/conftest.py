"""Settings that sign with the session's demo key (tests/conftest.py) and keep packs out of var/."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django import Settings

from audits.signing import DemoKey
from tests.conftest import SIGNING_PASSPHRASE


@pytest.fixture(autouse=True)
def _evidence_settings(settings: Settings, demo_key: DemoKey, tmp_path: Path) -> None:
    settings.EVIDENCE_SIGNING_P12 = demo_key.p12
    settings.EVIDENCE_SIGNING_PASSPHRASE = SIGNING_PASSPHRASE
    settings.EVIDENCE_TRUST_ROOTS = demo_key.ca_pem
    settings.EVIDENCE_TSA_URL = ""
    settings.EVIDENCE_DIR = tmp_path / "evidence"
    settings.ZERT_DUMP_DIR = str(tmp_path / "zert")  # dumps the tests ingest are kept here
