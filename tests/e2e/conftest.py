"""Browser tests: Playwright (sync API) driving Debian's chromium against pytest-django's
live server. Never a downloaded browser; skipped cleanly where /usr/bin/chromium is missing.
Screenshots go to var/screenshots/ (git-ignored) for a person to look at."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are ordinary blocking calls, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


# Module scope, not session: a running Playwright owns the main thread's event loop, and
# the lparsim and fleet tests that follow need asyncio.run().
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=LAUNCH_ARGS,
            headless=True,
            viewport={"width": 1500, "height": 950},
        )
        yield context
        context.close()


class BrowserProblems(list[str]):
    """Console errors and CSP violations seen while a test ran: there must be none."""


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    """A fresh tab, signed out, that records console errors and failed requests."""
    browser.clear_cookies()
    tab = browser.new_page()
    problems = BrowserProblems()

    def on_console(message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        # A 403, 409 or 422 is an answer the tests expect and check; CSP violations, script
        # errors and 5xx are not.
        if message.type == "error" and not re.search(r"status of 4\d\d", text):  # type: ignore[attr-defined]
            problems.append(f"console error: {text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.problems = problems  # type: ignore[attr-defined]
    tab.set_default_timeout(5000)
    yield tab
    tab.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def sign_in(browser, live_server) -> Callable[[User], None]:
    """Signs a user in by session cookie: quicker than the login form, which one test uses."""

    def sign(user: User) -> None:
        client = Client()
        client.force_login(user)
        browser.clear_cookies()
        browser.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )

    return sign


@pytest.fixture
def shot() -> Callable[[object, str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(tab: object, name: str) -> Path:
        path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        tab.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    return take


@contextmanager
def htmx_settled(tab: Any) -> Iterator[None]:
    """Returns once htmx has swapped in and settled the answer to the request the block made.

    Playwright sees an answer when its headers arrive; htmx swaps it in after that, and when
    it settles (20 ms later) focuses the new page's [autofocus] field. A test that types into
    a form htmx answers with the same form again (a failed sign-in) must wait for both:
    typing earlier goes into the form being replaced, or into the field htmx then focuses.
    """
    tab.evaluate(
        """() => {
            window.e2eSettled = false;
            document.addEventListener(
                "htmx:afterSettle", () => { window.e2eSettled = true; }, {once: true}
            );
        }"""
    )
    yield
    tab.wait_for_function("() => window.e2eSettled === true")
