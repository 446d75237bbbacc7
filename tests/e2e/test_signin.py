"""Sign-in and user management in a real browser: the lock-out page after 10 wrong passwords,
the admin's user pages and the owner's token page, and an error page on a boosted link."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from tests.conftest import PASSWORD

from .conftest import htmx_settled

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ten_wrong_passwords_show_the_lockout_page(page, live_server, make_user, shot) -> None:
    make_user("otto", Role.OPERATOR)
    page.goto(f"{live_server.url}/login/")
    # The browser focuses the username field (autofocus) when it renders the page: start
    # typing once it has, so that no keystroke goes to the field focused meanwhile.
    expect(page.locator("#id_username")).to_be_focused()

    for n in range(10):
        page.fill("#id_username", "otto")
        page.fill("#id_password", f"guess-{n}")
        # One attempt at a time, each typed into the form that answered the last one: htmx
        # drops a form's request while its last one is in flight, and the answer (the same
        # form) is swapped in and settled after its response arrives.
        with (
            htmx_settled(page),
            page.expect_response(
                lambda r: r.url.endswith("/login/") and r.request.method == "POST"
            ),
        ):
            page.click("button[type=submit]")

    expect(page.locator("h1")).to_have_text("Signing in is locked")
    shot(page, "signin-locked")
    with htmx_settled(page):
        page.get_by_role("link", name="Back to the login page").click()
    expect(page.locator("h1")).to_have_text("Log in")
    page.fill("#id_username", "otto")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Signing in is locked")


def test_an_admin_creates_a_user_and_the_user_makes_a_token(
    page, live_server, make_user, sign_in, shot
) -> None:
    sign_in(make_user("adam", Role.ADMIN))
    page.goto(f"{live_server.url}/")
    page.locator(".nav-more > summary").click()  # Users is under the top bar's "More"
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="New user").click()
    page.fill("#id_username", "olga")
    page.fill("#id_password1", "a long new passphrase 2026")
    page.fill("#id_password2", "a long new passphrase 2026")
    page.get_by_label("auditor — reads everything, evidence packs, the audit log").check()
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("h1")).to_contain_text("olga")
    expect(page.locator(".alert-success")).to_contain_text("User olga created.")
    shot(page, "user-detail")

    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "a long new passphrase 2026")
    page.click("button[type=submit]")
    page.locator(".topbar .who").click()
    page.fill("#id_name", "inventory script")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("new-token-secret")).to_contain_text("attls_")
    expect(page.get_by_test_id("token-table")).to_contain_text("inventory script")
    shot(page, "api-tokens")


def test_a_forbidden_page_reached_by_a_boosted_link_shows_the_403_page(
    page, live_server, make_user, sign_in
) -> None:
    sign_in(make_user("olivia", Role.OPERATOR))
    page.goto(f"{live_server.url}/")
    # A link to a page the role may not open, followed the way htmx boosts every link.
    page.evaluate(
        """() => {
            const link = document.createElement("a");
            link.href = "/accounts/users/";
            link.textContent = "users";
            link.id = "forbidden";
            document.querySelector("main").appendChild(link);
            htmx.process(link);
        }"""
    )
    page.click("#forbidden")

    expect(page.get_by_test_id("error-403")).to_contain_text("nothing was changed")
