"""The audits pages in a browser: generate a pack, download it, verify it, browse the log.

The pack task runs eagerly here (no worker in browser tests): the generate request returns
once the pack is signed, and the pack page shows it finished. Screenshots: var/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django import Settings

from audits.signing import DemoKey
from portal.celery import app
from tests.audits.estate import Assessed, build_assessed
from tests.conftest import SIGNING_PASSPHRASE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


@pytest.fixture
def signing(settings: Settings, demo_key: DemoKey, tmp_path: Path) -> None:
    settings.EVIDENCE_SIGNING_P12 = demo_key.p12
    settings.EVIDENCE_TRUST_ROOTS = demo_key.ca_pem
    settings.EVIDENCE_SIGNING_PASSPHRASE = SIGNING_PASSPHRASE
    settings.EVIDENCE_DIR = tmp_path / "evidence"


@pytest.fixture
def assessed(make_user) -> Assessed:
    return build_assessed(make_user)


def test_an_auditor_generates_downloads_and_verifies_a_pack(
    page, sign_in, shot, live_server, assessed: Assessed, eager_tasks, signing, tmp_path: Path
) -> None:
    sign_in(assessed.people["auditor"])
    page.goto(f"{live_server.url}/audits/")
    shot(page, "audits-index")

    page.select_option("#id_scope_kind", "lpar")
    page.select_option("#id_lpar", "SYSA")
    page.get_by_role("button", name="Generate").click()
    # With eager tasks the request itself generates the pack before it redirects.
    page.wait_for_url("**/audits/packs/**", timeout=60_000)
    page.get_by_test_id("pack-status").filter(has_text="Succeeded").wait_for(timeout=60_000)
    shot(page, "audits-pack")

    with page.expect_download() as download_info:
        page.get_by_test_id("download-pdf").click()
    pdf = tmp_path / "pack.pdf"
    download_info.value.save_as(str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")

    page.goto(f"{live_server.url}/audits/verify/")
    page.set_input_files("input[type=file]", str(pdf))
    page.get_by_role("button", name="Verify").click()
    page.get_by_test_id("verdict").filter(has_text="Valid.").wait_for()
    shot(page, "audits-verify-valid")

    page.goto(f"{live_server.url}/audits/log/")
    page.get_by_test_id("chain-status").filter(has_text="Chain intact").wait_for()
    assert page.get_by_test_id("log-table").filter(has_text="evidence").count() == 1
    shot(page, "audits-log")
