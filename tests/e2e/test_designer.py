"""The designer in a real browser: the journeys of issue 3."""

from __future__ import annotations

import re

import pytest

from accounts.roles import Role
from policies.models import EnvironmentAction, PolicyVersion
from tests.conftest import PASSWORD
from tests.e2e.estate import build_estate

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def estate(make_user):
    return build_estate(make_user("ada", Role.ARCHITECT), owner=make_user("owen", Role.APP_OWNER))


def test_an_architect_drops_tls12_previews_the_impact_saves_and_publishes(
    page, live_server, estate, shot
):
    # Signs in through the login form, like a person.
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".topbar .who")).to_have_text("ada")

    page.get_by_role("link", name="Shared objects").click()
    page.get_by_role("link", name="envTls12_13").click()
    expect(page.locator("h1")).to_contain_text("envTls12_13")
    page.get_by_role("link", name="Edit", exact=True).click()

    preview = page.locator("#preview")
    expect(preview.get_by_test_id("statement")).to_contain_text(re.compile(r"TLSv1\.2\s+On"))
    expect(page.locator("#impact")).to_have_text("used by 12 rules on 2 stacks")
    # Linted as `attls lint --profile nist` lints: the estate's cipher set lists an RSA key
    # transport suite (009C), which SP 800-52r2 leaves out, so the preview is not "lint clean".
    expect(
        preview.locator("tr.sev-warning", has_text="NIST-800-52r2-AppD-rsa-key-transport").first
    ).to_be_visible()
    tls11 = preview.locator("tr.sev-warning", has_text="NIST-800-52r2-3.1-tls11")
    expect(tls11).to_have_count(0)
    shot(page, "01-architect-edit-environment")

    # TLS 1.1 On: SP 800-52r2 says no, and the preview names the control to cite.
    page.locator("#id_tlsv1_1").check()
    expect(tls11.first).to_contain_text("enables TLSv1.1")
    page.locator("#id_tlsv1_1").uncheck()
    expect(tls11).to_have_count(0)

    page.locator("#id_tlsv1_2").uncheck()

    # The unsaved change, previewed: the statement, the rules it reaches, the new lint.
    expect(preview.get_by_test_id("statement")).to_contain_text(re.compile(r"TLSv1\.2\s+Off"))
    expect(page.locator("#impact")).to_contain_text("12 rules change")
    expect(preview).to_contain_text("TLSv1.2 On → Off")
    expect(preview.locator("tr.sev-error")).to_contain_text("no-protocol")  # BATCHXFR, SYSB
    expect(preview.locator(".badge-new").first).to_be_visible()
    expect(preview.locator("pre.diff .line.add").first).to_contain_text("Off")
    shot(page, "02-architect-preview-without-tls12")
    assert EnvironmentAction.objects.get(name="envTls12_13").tlsv1_2 is True  # not saved yet

    page.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("saved (revision 2)")
    assert EnvironmentAction.objects.get(name="envTls12_13").tlsv1_2 is False

    page.get_by_role("link", name="Stacks").click()
    page.get_by_role("link", name="SYSA/TCPIP", exact=True).click()
    expect(page.locator("pre.diff .line.del")).to_contain_text(re.compile(r"TLSv1\.2\s+On"))
    expect(page.locator("pre.diff .line.add")).to_contain_text(re.compile(r"TLSv1\.2\s+Off"))
    page.get_by_label("Note").fill("Drop TLS 1.2: every SYSA client negotiates TLS 1.3.")
    shot(page, "03-architect-stack-draft-vs-v1")
    # TLS 1.3 alone leaves the RSA key transport suite (TLS 1.2 only) unused: the draft is
    # clean against SP 800-52r2 too, so there is no warning to acknowledge.
    expect(page.get_by_text("lint clean")).to_be_visible()
    expect(page.get_by_label(re.compile(r"I acknowledge \d+ warning"))).to_have_count(0)
    page.get_by_role("button", name="Publish v2").click()

    expect(page).to_have_url(re.compile(r"/design/stacks/SYSA/TCPIP/versions/2/$"))
    expect(page.locator("h1")).to_contain_text("SYSA/TCPIP v2")
    expect(page.locator(".note-text")).to_contain_text("Drop TLS 1.2")
    expect(page.locator("pre.diff .line.add")).to_contain_text(re.compile(r"TLSv1\.2\s+Off"))
    shot(page, "04-architect-published-v2")
    version = PolicyVersion.objects.get(stack__lpar__name="SYSA", number=2)
    assert version.author.username == "ada"

    # SYSB has the partner that stays on TLS 1.2: its draft now has a lint error.
    page.goto(f"{live_server.url}/design/stacks/SYSB/TCPIP/")
    page.get_by_label("Note").fill("Drop TLS 1.2 on SYSB too")
    page.get_by_role("button", name="Publish v1").click()
    refused = page.get_by_test_id("publish-refused")
    expect(refused).to_contain_text("lint error")
    expect(refused).to_contain_text("no-protocol")
    expect(refused).to_contain_text("BATCHXFR")
    shot(page, "05-architect-publish-refused")
    assert not PolicyVersion.objects.filter(stack__lpar__name="SYSB").exists()


def test_an_app_owner_sees_only_their_services_and_is_refused_another_teams(
    page, live_server, estate, sign_in, shot
):
    sign_in(estate.services["CICSWEB1"].owners.get())

    page.goto(f"{live_server.url}/design/services/")
    rows = page.locator("#service-table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#service-table tbody")).to_contain_text("CICSWEB1")
    expect(page.locator("#service-table tbody")).not_to_contain_text("MQCHIN")
    expect(page.locator("nav.nav")).not_to_contain_text("Stacks")
    expect(page.locator("a[href$='/edit/']")).to_have_count(0)
    shot(page, "06-app-owner-services")

    page.get_by_role("link", name="CICSWEB1").click()
    expect(page.locator("h1")).to_contain_text("CICSWEB1")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    shot(page, "07-app-owner-service")

    other = estate.services["MQCHIN"]
    response = page.goto(f"{live_server.url}/design/services/{other.uuid}/")
    assert response.status == 403
    response = page.goto(f"{live_server.url}/design/stacks/SYSA/TCPIP/")
    assert response.status == 403


def test_an_auditor_reads_everything_and_reaches_no_edit_form(
    page, live_server, estate, sign_in, make_user, shot
):
    sign_in(make_user("audrey", Role.AUDITOR))
    service = estate.services["CICSWEB1"]
    environment = estate.objects["environment"]
    readable = [
        "/design/services/",
        f"/design/services/{service.uuid}/",
        "/design/objects/",
        f"/design/objects/environment-action/{environment.uuid}/",
        "/design/stacks/",
        "/design/stacks/SYSA/TCPIP/",
        "/design/stacks/SYSA/TCPIP/versions/",
        "/design/stacks/SYSA/TCPIP/versions/1/",
    ]
    for path in readable:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        expect(page.locator("a[href*='/edit/'], a[href$='/new/']")).to_have_count(0)
        expect(page.locator("form[action*='/publish/'], form[action*='/assign/']")).to_have_count(0)
        expect(page.locator("nav.nav")).not_to_contain_text("Import")
    shot(page, "08-auditor-version")
    page.goto(f"{live_server.url}/design/stacks/SYSA/TCPIP/")
    expect(page.locator("#publish")).to_contain_text("Publishing needs the architect role")
    shot(page, "09-auditor-stack")

    forms = [
        f"/design/services/{service.uuid}/edit/",
        "/design/services/new/",
        f"/design/objects/environment-action/{environment.uuid}/edit/",
        "/design/objects/keyring/new/",
        "/design/import/",
    ]
    for path in forms:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 403, path
