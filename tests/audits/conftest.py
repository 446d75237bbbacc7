"""A demo signing key per test session, and settings that keep packs out of var/.

The key is made the way `manage.py ensure_demo_signing_key` makes it, once per session
(in a temporary directory); every test then signs with it and trusts its CA.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django import Settings

from audits.signing import DemoKey, demo_signing_key_create

PASSPHRASE = "test-only-signing-passphrase"


@pytest.fixture(scope="session")
def demo_key(tmp_path_factory: pytest.TempPathFactory) -> DemoKey:
    directory = tmp_path_factory.mktemp("signing")
    return demo_signing_key_create(
        p12_path=directory / "evidence-signing.p12",
        ca_path=directory / "demo-ca.pem",
        passphrase=PASSPHRASE,
        organisation="Test Bank",
    )


@pytest.fixture(autouse=True)
def _evidence_settings(settings: Settings, demo_key: DemoKey, tmp_path: Path) -> None:
    settings.EVIDENCE_SIGNING_P12 = demo_key.p12
    settings.EVIDENCE_SIGNING_PASSPHRASE = PASSPHRASE
    settings.EVIDENCE_TRUST_ROOTS = demo_key.ca_pem
    settings.EVIDENCE_TSA_URL = ""
    settings.EVIDENCE_DIR = tmp_path / "evidence"
