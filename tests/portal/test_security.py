import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.roles import Role

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a fresh interpreter, so settings are read from `env` from scratch."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"))
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env() -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.com",
        "FLEET_SECRETS_KEY": Fernet.generate_key().decode(),
    }


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_the_fleet_secrets_key() -> None:
    env = production_env()
    del env["FLEET_SECRETS_KEY"]

    result = run_manage("check", **env)

    assert result.returncode != 0
    assert "FLEET_SECRETS_KEY must be set" in result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    env = production_env()
    del env["DJANGO_SECRET_KEY"]

    result = run_manage("check", **env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_settings_refuse_to_start_without_allowed_hosts() -> None:
    env = production_env()
    del env["ALLOWED_HOSTS"]

    result = run_manage("check", **env)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("logged_in", [False, True], ids=["login page", "dashboard"])
def test_pages_carry_a_content_security_policy_allowing_only_our_own_files(
    client: Client, make_user: Callable[..., User], logged_in: bool
) -> None:
    if logged_in:
        client.force_login(make_user("olivia", Role.OPERATOR))
    url = reverse("dashboard") if logged_in else reverse("login")

    response = client.get(url)

    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


@pytest.mark.django_db
def test_pages_load_scripts_and_styles_only_from_our_static_files(client: Client) -> None:
    page = client.get(reverse("login")).content.decode()

    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert sources
    assert all(source.startswith("/static/") for source in sources), sources
    assert "<style" not in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None


@pytest.mark.django_db
def test_security_headers_are_set(client: Client) -> None:
    response = client.get(reverse("login"))

    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
