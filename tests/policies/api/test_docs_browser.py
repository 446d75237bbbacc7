"""The API docs in Debian's chromium: Swagger UI runs under our CSP and can call the API."""

import os
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")

# Recorded by the page itself: the browser reports CSP refusals as DOM events.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def browser_page():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(WATCH_CSP)
        yield page
        browser.close()


def test_swagger_ui_lists_the_api_and_runs_a_request_under_the_csp(
    live_server, architect, browser_page
):
    # `architect` comes before `browser_page`: Django refuses database calls while
    # Playwright's event loop runs in this thread.
    page = browser_page
    errors: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: foreign.append(r.url) if not r.url.startswith(live_server.url) else None,
    )

    page.goto(f"{live_server.url}/api/docs/")
    page.fill("#id_username", architect.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)

    if os.environ.get("SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOTS"]) / "api-docs-top.png"))
    assert "AT-TLS portal API" in page.inner_text(".info")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/stacks/{stack}/publish/" in path for path in paths)
    assert len(paths) > 30

    # Try one request from the page: the session cookie authenticates it.
    operation = page.locator("#operations-lpars-lpars_list")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status")
    status.wait_for(timeout=15_000)
    assert status.inner_text().strip() == "200"

    # A write from the page passes the CSRF check with the token the docs script carries.
    create = page.locator("#operations-lpars-lpars_create")
    create.locator(".opblock-summary").click()
    create.locator("button.try-out__btn").click()
    create.locator("textarea.body-param__text").fill('{"name": "SYSD", "kind": "lab"}')
    create.locator("button.execute").click()
    created = create.locator(".live-responses-table tbody .response-col_status")
    created.wait_for(timeout=15_000)
    assert created.inner_text().strip() == "201"

    if os.environ.get("SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOTS"]) / "api-docs-try-it-out.png"))
    assert page.evaluate("window.__violations") == []
    assert errors == []
    assert foreign == []
