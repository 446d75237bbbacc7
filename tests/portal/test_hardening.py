"""Signed-in answers are not cached; a 403 is one log line; 403/404/500 are styled pages."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.roles import Role
from portal.logfilters import ForbiddenAsOneLine


@pytest.fixture
def olivia(make_user: Callable[..., User]) -> User:
    return make_user("olivia", Role.OPERATOR)


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part}


@pytest.mark.parametrize(
    "path", ["/", "/fleet/deployments/", "/audits/verify/", "/accounts/tokens/", "/api/lpars/"]
)
def test_signed_in_pages_are_not_stored(olivia: User, path: str) -> None:
    client = Client()
    client.force_login(olivia)

    response = client.get(path)

    assert response.status_code == 200
    assert {"no-store", "private"} <= cache_control(response)


def test_answers_to_a_token_are_not_stored(olivia: User) -> None:
    _, secret = ApiToken.objects.create(user=olivia, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")

    response = client.get("/api/lpars/")

    assert response.status_code == 200
    assert "no-store" in cache_control(response)


def test_a_refusal_to_a_signed_in_user_is_not_stored_either(olivia: User) -> None:
    client = Client()
    client.force_login(olivia)

    response = client.get("/accounts/users/")

    assert response.status_code == 403
    assert "no-store" in cache_control(response)


def test_a_403_is_logged_as_one_line_without_a_traceback(
    olivia: User, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    client.force_login(olivia)

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/accounts/users/")

    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    record = records[0]
    assert record.exc_info is None and record.exc_text is None
    line = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in line
    assert "Traceback" not in line
    assert line == (
        "WARNING django.request: Forbidden: GET /accounts/users/ (user olivia, address 127.0.0.1)"
    )


def test_other_errors_keep_their_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: /",
            (),
            sys.exc_info(),
        )
    record.status_code = 500

    assert ForbiddenAsOneLine().filter(record)
    assert record.exc_info is not None


def test_the_403_page_is_styled_and_says_nothing_changed(olivia: User) -> None:
    client = Client()
    client.force_login(olivia)

    page = client.get("/accounts/users/").content.decode()

    assert 'data-testid="error-403"' in page
    assert "nothing was changed" in page
    assert "/static/css/portal.css" in page  # the portal's own page, with its header
    assert "olivia" in page


def test_the_404_page_is_styled(olivia: User) -> None:
    client = Client()
    client.force_login(olivia)

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert 'data-testid="error-404"' in page and "/no/such/page/" in page
    assert "/static/css/portal.css" in page


def test_the_500_page_renders_without_any_context() -> None:
    """Django renders 500.html with an empty context: no request, no user."""
    page = render_to_string("500.html")

    assert 'data-testid="error-500"' in page
    assert "/static/css/portal.css" in page
    assert "Log out" not in page
