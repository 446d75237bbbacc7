import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from fleet.services import DeploymentRefused
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_with_the_right_password_opens_the_dashboard(
    client: Client, make_user: Callable[..., User]
) -> None:
    make_user("olivia", Role.OPERATOR)

    response = client.post(reverse("login"), {"username": "olivia", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    assert dashboard.wsgi_request.user.get_username() == "olivia"


def test_login_with_a_wrong_password_stays_on_the_login_page(
    client: Client, make_user: Callable[..., User]
) -> None:
    make_user("olivia", Role.OPERATOR)

    response = client.post(reverse("login"), {"username": "olivia", "password": "nope"})

    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert client.get(reverse("dashboard")).status_code == 302


def test_dashboard_sends_an_anonymous_visitor_to_the_login_page(client: Client) -> None:
    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/"


def test_dashboard_shows_the_empty_fleet_and_the_users_role(
    client: Client, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("ada", Role.ARCHITECT))

    page = client.get(reverse("dashboard")).content.decode()

    assert "No LPARs yet" in page
    assert '<span class="role">architect</span>' in page


def test_logout_refuses_get(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user("olivia", Role.OPERATOR))

    response = client.get(reverse("logout"))

    assert response.status_code == 405
    assert client.get(reverse("dashboard")).status_code == 200


def test_logout_by_post_ends_the_session(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user("olivia", Role.OPERATOR))

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(reverse("dashboard")).status_code == 302


def test_pages_carry_the_csrf_token_on_body_for_htmx(
    client: Client, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("olivia", Role.OPERATOR))

    page = client.get(reverse("dashboard")).content.decode()

    assert '<body hx-boost="true" hx-headers=\'{"X-CSRFToken": "' in page


def _htmx_swaps(config: dict[str, Any], status: int) -> bool:
    """What htmx does with a response: the first responseHandling entry whose code matches."""
    for entry in config["responseHandling"]:
        if re.fullmatch(entry["code"], str(status)):
            return bool(entry["swap"])
    return False


def test_htmx_swaps_every_refusal_a_review_panel_answers_with(
    client: Client, make_user: Callable[..., User]
) -> None:
    """A panel's refusal (a missing acknowledgement or reason 400, a conflict 409, an invalid
    form 422) must replace the panel: htmx ignores any status its config does not swap, and the
    person would see nothing happen."""
    client.force_login(make_user("olivia", Role.OPERATOR))
    page = client.get(reverse("dashboard")).content.decode()
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', page)
    assert meta is not None
    config = json.loads(meta.group(1))
    refusals = {400, 409, 422} | {
        cls.http_status for cls in (DeploymentRefused, *DeploymentRefused.__subclasses__())
    }

    assert {status: _htmx_swaps(config, status) for status in refusals} == dict.fromkeys(
        refusals, True
    )
    assert not _htmx_swaps(config, 500) and not _htmx_swaps(config, 204)
