"""The top bar in a real browser: one line at the widths people use (1280 px and up), for the
user who sees every link, and every destination still reachable from it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Every destination of the top bar for a user with every role (templates/base.html).
DESTINATIONS = (
    ("dashboard", ()),
    ("policies:service-list", ()),
    ("policies:object-list", ()),
    ("policies:stack-list", ()),
    ("policies:import", ()),
    ("fleet:deployments", ()),
    ("rollouts:campaigns", ()),
    ("audits:index", ()),
    ("export-index", ()),
    ("alerts:deliveries", ()),
    ("accounts:users", ()),
    ("accounts:tokens", ()),
)


def _measure(page) -> dict[str, object]:
    return page.evaluate(
        """() => {
          const bar = document.querySelector('header.topbar');
          const shown = [...bar.querySelectorAll('a, button, input')]
            .filter(e => e.checkVisibility());
          const middle = e => {
            const r = e.getBoundingClientRect();
            return Math.round((r.top + r.bottom) / 2);
          };
          const middles = shown.map(middle);
          const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
          return {
            bar: bar.getBoundingClientRect().height,
            oneLine: 2.75 * rem,
            where: shown.map(e => (e.textContent || e.name).trim().slice(0, 12) + '@' + middle(e)),
            barScroll: bar.scrollHeight,
            spread: Math.max(...middles) - Math.min(...middles),
            linkHeights: Math.max(...[...bar.querySelectorAll('nav.nav a')]
              .filter(e => e.checkVisibility())
              .map(e => e.getBoundingClientRect().height)),
            overflow: bar.scrollWidth - bar.clientWidth,
          };
        }"""
    )


@pytest.mark.parametrize("width", [1280, 1400])
def test_the_top_bar_is_one_line_for_a_user_with_every_role(
    page, live_server, sign_in, make_user, shot, width
):
    everyone = make_user("hedy", *Role)
    sign_in(everyone)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}{reverse('policies:service-list')}")
    found = _measure(page)
    shot(page, f"nav-{width}")
    # One line: the bar keeps its own height (2.75rem), nothing sticks out of it, no link's
    # label breaks onto a second line, and every control sits on the same row.
    assert found["bar"] == found["oneLine"], found
    assert found["barScroll"] <= round(found["oneLine"]) + 1, found
    assert found["overflow"] <= 0, found
    assert found["linkHeights"] < 30, found  # one line of text plus its padding
    assert found["spread"] <= 3, found  # their middles, on one row

    # Every destination is still reachable from the bar, grouped ones through its menu.
    hrefs = set(page.eval_on_selector_all("header.topbar a", "links => links.map(a => a.pathname)"))
    missing = [name for name, args in DESTINATIONS if reverse(name, args=args) not in hrefs]
    assert not missing, missing


def test_the_more_menu_opens_and_leads_to_its_pages(page, live_server, sign_in, make_user, shot):
    sign_in(make_user("hedy", *Role))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/")
    users = page.locator("header.topbar").get_by_role("link", name="Users")
    assert not users.is_visible()
    page.locator(".nav-more > summary").click()
    assert users.is_visible()
    shot(page, "nav-more-open")
    users.click()
    page.wait_for_url(f"**{reverse('accounts:users')}")
    # The page it leads to marks the menu as where the user is.
    assert page.locator(".nav-more > summary").get_attribute("aria-current") == "page"


def test_the_more_menu_closes_on_escape_and_on_a_click_elsewhere(
    page, live_server, sign_in, make_user
):
    sign_in(make_user("hedy", *Role))
    page.goto(f"{live_server.url}/")
    menu = page.locator(".nav-more")
    page.locator(".nav-more > summary").click()
    assert menu.get_attribute("open") is not None
    page.keyboard.press("Escape")
    assert menu.get_attribute("open") is None
    page.locator(".nav-more > summary").click()
    page.locator("main h1").first.click()
    assert menu.get_attribute("open") is None
