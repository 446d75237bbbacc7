"""Single sign-on in a real browser: "Sign in with <provider>" on the login page, the provider's
own authorization page, and back to the dashboard signed in with the mapped role. The provider
is the loopback one of tests/accounts/conftest.py."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from accounts.models import IdentitySource
from accounts.roles import Role, roles_of
from accounts.services import directory_group_mapping_create
from tests.accounts.conftest import oidc, oidc_issuer, oidc_person  # noqa: F401 - fixtures

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_in_with_the_provider_from_the_login_page(browser, live_server, oidc) -> None:  # noqa: F811
    directory_group_mapping_create(
        actor=None, source=IdentitySource.OIDC, group="zos-auditors", roles=[Role.AUDITOR]
    )
    oidc_person(oidc, "sub-e2e", preferred_username="quinn", groups=["zos-auditors"])
    browser.clear_cookies()
    tab = browser.new_page()
    # The provider's page asks a CDN for its stylesheet: tests talk to loopback only.
    tab.route(re.compile(r"^https?://(?!localhost[:/]|127\.0\.0\.1[:/])"), lambda r: r.abort())
    tab.set_default_timeout(10000)
    try:
        tab.goto(f"{live_server.url}/login/")
        tab.get_by_role("link", name="Sign in with Test Bank SSO").click()
        tab.get_by_placeholder("sub").fill("sub-e2e")
        tab.get_by_role("button", name="Authorize").click()

        tab.wait_for_url(f"{live_server.url}/")
        expect(tab.locator("body")).to_contain_text("quinn")
    finally:
        tab.close()
    assert roles_of(User.objects.get(username="quinn")) == [Role.AUDITOR]
