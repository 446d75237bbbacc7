"""Every paginated list, paged in a real browser: Next swaps in the next rows (by htmx, in place,
the address bar following), Previous brings the first rows back.

The lists' page size is lowered to 3 here (a module constant the views read per request), so a
small estate has several pages; the pack list keeps its 25 and gets 26 packs.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import Assessment, EvidencePack
from fleet.models import Certificate, Deployment, DriftEvent, Incident
from tests.fleet.ui_estate import build_fleet

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SMALL_PAGE = 3

# (who, path, the id the pager targets, the rows inside it)
LISTS = [
    ("architect", "/design/services/", "service-table", "tbody tr"),
    ("operator", "/fleet/deployments/", "deployment-table", "tbody tr"),
    ("operator", "/fleet/drift/", "finding-table", "tbody tr"),
    ("operator", "/fleet/certificates/", "finding-table", "tbody tr"),
    ("operator", "/fleet/incidents/", "finding-table", "tbody tr"),
    ("operator", "/fleet/my-services/", "my-services", "article.service-card h2"),
    ("auditor", "/audits/log/", "log-table", "tbody tr"),
    ("auditor", "/audits/", "pack-list", "tbody tr"),
]


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("policies.views.PAGE_SIZE", SMALL_PAGE)
    monkeypatch.setattr("fleet.views.PAGE_SIZE", SMALL_PAGE)
    monkeypatch.setattr("audits.views.LOG_PAGE_SIZE", SMALL_PAGE)


def _more_findings(fleet) -> None:
    """Enough open drift, certificates, incidents and deployments for two pages of each."""
    now = timezone.now()
    for n in range(SMALL_PAGE + 1):
        DriftEvent.objects.create(
            stack=fleet.sysb,
            kind="policy",
            key=f"policy-{n}",
            detail=f"drift number {n}",
            opened_at=now - timedelta(minutes=n),
            last_seen_at=now,
        )
        Certificate.objects.create(
            stack=fleet.sysb,
            subject=f"CN=host{n}.sysb.bank.example",
            issuer="CN=Bank Issuing CA",
            serial=f"F{n:03d}",
            not_after=now + timedelta(days=5 + n),
            fingerprint=f"{n:02d}" * 32,
            rules=["TN3270B"],
            ports=[992],
            first_seen=now,
            last_seen=now,
        )
        Incident.objects.create(
            stack=fleet.sysb,
            kind="certificate-expired",
            summary=f"incident number {n}",
            opened_at=now - timedelta(minutes=n),
        )
        Deployment.objects.create(requested_by=fleet.people["operator"], note=f"paging {n}")


def _packs(fleet) -> None:
    auditor = fleet.people["auditor"]
    now = timezone.now()
    assessment = Assessment.objects.create(
        scope_kind="estate",
        period_start=now - timedelta(days=1),
        period_end=now,
        created_by=auditor,
    )
    EvidencePack.objects.bulk_create(
        EvidencePack(assessment=assessment, created_by=auditor) for _ in range(26)
    )


def _rows(page, target: str, rows: str) -> list[str]:
    return page.locator(f"#{target} {rows}").all_inner_texts()


def test_every_paginated_list_pages_forward_and_back_in_place(
    page, live_server, sign_in, make_user, small_pages, shot
):
    fleet = build_fleet(make_user, observations=1, hours=1)
    _more_findings(fleet)
    _packs(fleet)

    for who, path, target, rows in LISTS:
        sign_in(fleet.people[who])
        page.goto(f"{live_server.url}{path}")
        first = _rows(page, target, rows)
        assert first, f"{path}: no rows on the first page"
        pager = page.locator(f"#{target} nav.pager")
        expect(pager).to_contain_text("1–")  # noqa: RUF001 (the pager writes an en dash)
        # A full page load would drop this; htmx swapping the list in place keeps it.
        page.evaluate("window.pagingMarker = 'still here'")

        pager.get_by_role("link", name=re.compile("Next")).click()
        page.wait_for_url("**page=2**")
        expect(page.locator(f"#{target} nav.pager")).not_to_contain_text("1–")  # noqa: RUF001
        second = _rows(page, target, rows)
        assert second, f"{path}: no rows on the second page"
        assert second != first, f"{path}: Next did not change the rows"
        assert not set(second) & set(first) or path == "/audits/", f"{path}: rows repeat"
        assert page.evaluate("window.pagingMarker") == "still here", f"{path}: a full reload"
        assert page.locator(f"#{target}").count() == 1, f"{path}: the list was nested"
        shot(page, f"paging-{path}")

        page.locator(f"#{target} nav.pager").get_by_role(
            "link", name=re.compile("Previous")
        ).click()
        page.wait_for_url("**page=1**")
        assert _rows(page, target, rows) == first, f"{path}: Previous did not bring back page 1"
