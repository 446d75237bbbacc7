"""`make serve` (scripts/serve.sh): gunicorn with the production settings and WhiteNoise, and a
browser that signs in through it and loads the dashboard.

The script is run as `make serve` runs it, on a free loopback port, against the test database
(committed rows: transactional_db); the test stops gunicorn's master by its PID."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection as db_connection

from tests.conftest import PASSWORD
from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS
from tests.fleet.ui_estate import build_fleet
from tests.integration.harness import ROOT, free_port

pytestmark = pytest.mark.slow
# collectstatic compresses every file once (gzip and brotli): slow on a loaded machine.
START_SECONDS = 240


def database_url() -> str:
    """The test database pytest-django created, for the gunicorn processes."""
    params = db_connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    auth = params.get("USER") or ""
    if params.get("PASSWORD"):
        auth += f":{params['PASSWORD']}"
    host = f"{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}"
    return f"postgres://{auth}{'@' if auth else ''}{host}/{params['NAME']}"


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.serve_dir = tmp_path / "serve"
        self.log = tmp_path / "serve.log"
        env = {
            key: value
            for key, value in os.environ.items()
            # The e2e conftest allows the ORM in Playwright's loop; never in production.
            if key
            not in (
                "DJANGO_SECRET_KEY",
                "FLEET_SECRETS_KEY",
                "DJANGO_DEBUG",
                "DJANGO_ALLOW_ASYNC_UNSAFE",
            )
        }
        env.update(
            {
                "DATABASE_URL": database_url(),
                "DATABASE_CONN_MAX_AGE": "0",
                "SERVE_PORT": str(self.port),
                "SERVE_WORKERS": "2",
                "SERVE_DIR": str(self.serve_dir),
                # Kept between runs (var/ is not in git): collected again only when it changed.
                "DJANGO_STATIC_ROOT": str(ROOT / "var" / "test-serve-static"),
                # No broker answers there: the dashboard must not need one.
                "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
            }
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["scripts/serve.sh"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"make serve exited:\n{self.log.read_text()[-4000:]}")
            try:
                httpx.get(f"{self.url}/login/", verify=False, timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.5)
        pytest.fail(f"gunicorn did not answer:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def test_make_serve_runs_gunicorn_with_whitenoise_and_a_browser_signs_in_through_it(
    transactional_db: None, make_user: Any, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    fleet = build_fleet(make_user)
    auditor = fleet.people["auditor"]
    # The tests hash with MD5 for speed; the production settings know only the real hashers.
    auditor.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    auditor.save(update_fields=["password"])
    served = Served(tmp_path)
    try:
        served.wait_until_up()
        log = served.log.read_text()
        assert "check --deploy" in log and "System check identified no issues" in log
        assert re.search(r"Listening at: https://127\.0\.0\.1:\d+", log)
        cert = ssl.create_default_context(cafile=served.serve_dir / "loopback-cert.pem")
        # Production settings: plain HTTP is sent to HTTPS, HTTPS answers with HSTS.
        login = httpx.get(f"{served.url}/login/", verify=cert, timeout=10)
        assert login.status_code == 200
        assert "max-age=31536000" in login.headers["Strict-Transport-Security"]
        static: list[Any] = []
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
            )
            try:
                context = browser.new_context(ignore_https_errors=True)
                tab = context.new_page()
                tab.set_default_timeout(15000)
                tab.on(
                    "response",
                    lambda r: static.append(r) if "/static/" in r.url else None,
                )
                tab.goto(f"{served.url}/")
                tab.fill("input[name=username]", auditor.username)
                tab.fill("input[name=password]", PASSWORD)
                tab.click("button[type=submit]")
                tab.wait_for_url(f"{served.url}/")
                body = tab.inner_text("main")
                assert "SYSA" in body and "SYSB" in body
                assert tab.locator("text=audrey").count() >= 1
                stylesheet = next(r for r in static if "/static/css/portal." in r.url)
                # WhiteNoise serves the collected, hashed name for a year, compressed.
                assert re.search(r"/static/css/portal\.[0-9a-f]{12}\.css$", stylesheet.url)
                assert stylesheet.status == 200
                headers = stylesheet.all_headers()
                assert "immutable" in headers["cache-control"]
                assert headers.get("content-encoding") in ("gzip", "br")
                context.close()
            finally:
                browser.close()
        health = httpx.get(f"{served.url}/healthz/", verify=cert, timeout=10)
        assert health.status_code == 503  # no broker: the balancer takes it out
        assert health.json()["checks"]["database"]["ok"] is True
        assert health.json()["checks"]["broker"]["ok"] is False
    finally:
        served.stop()
    assert served.process.returncode is not None
