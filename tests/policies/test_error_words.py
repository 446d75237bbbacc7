"""Errors a person can act on: sentences naming the fields, never a database constraint's name,
never a field's name twice, and what was pasted or uploaded still in the form afterwards."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from policies.models import Service
from tests.policies.test_views import (
    as_user,
    design_state,
    environment_post_data,
    htmx,
    service_post_data,
)

PORTS = "The local port range ends at 80, below its first port 9000"
BROKEN = "TTLSRule TN3270\n{\n  LocalPortRange 992\n  Bogus 1\n}\n"


@pytest.fixture
def design(make_service, shared) -> dict:
    return {"a": make_service("CICSWEB1", 8443, jobname="CICSPRD1"), **shared}


def textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea name="{name}"[^>]*>\n?(.*?)</textarea>', html, re.S)
    assert found, f"no textarea {name}"
    return found.group(1)


def test_a_port_range_given_high_to_low_is_a_sentence_on_the_field_not_a_constraint_name(
    client, architect, design
) -> None:
    service = design["a"]
    as_user(client, architect)
    before = design_state()

    for url, data in (
        (
            reverse("policies:service-edit", args=[service.uuid]),
            service_post_data(service, local_port_low=9000, local_port_high=80),
        ),
        (
            reverse("policies:service-create"),
            service_post_data(service, name="NEWSVC", local_port_low=9000, local_port_high=80),
        ),
    ):
        response = client.post(url, data)
        assert response.status_code == 422
        assert "Constraint" not in response.text and "ports_ordered" not in response.text
        assert response.context["form"].errors["local_port_high"] == [
            PORTS + ": give the lower port first, or the same port twice for a single port."
        ]
        assert 'value="9000"' in response.text  # what was typed stays
    assert design_state() == before


def test_the_api_says_the_same_sentence_for_a_partial_update(architect, design) -> None:
    service = design["a"]
    api = APIClient()
    api.force_authenticate(architect)

    response = api.patch(
        f"/api/services/{service.uuid}/",
        {"revision": service.revision, "local_port_low": 9000},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "local_port_high": [
            f"The local port range ends at {service.local_port_high}, below its first port"
            " 9000: give the lower port first, or the same port twice for a single port."
        ]
    }
    assert Service.objects.get(pk=service.pk).local_port_low == service.local_port_low


def test_no_error_names_its_field_twice(client, architect, design) -> None:
    environment = design["environment"]
    as_user(client, architect)

    response = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment, name="bad name", server_kex_ecurves="0023 9999"),
        headers=htmx("preview"),
    )

    text = response.text
    assert "The preview waits for valid input" in text
    assert "<li><strong>Name</strong>: The name contains a blank" in text
    assert "<li><strong>ServerKexECurves</strong>: &#x27;9999&#x27; is not a named group" in text
    assert "ServerKexECurves: ServerKexECurves" not in text
    assert "Name</strong>: Name" not in text

    api = APIClient()
    api.force_authenticate(architect)
    answer = api.patch(
        f"/api/environment-actions/{environment.uuid}/",
        {"revision": environment.revision, "server_kex_ecurves": ["0023", "9999"]},
        format="json",
    ).json()
    assert answer["server_kex_ecurves"][0].startswith("'9999' is not a named group code")


def test_an_uploaded_file_that_does_not_parse_stays_in_the_text_box(
    client, architect, stack
) -> None:
    as_user(client, architect)
    upload = SimpleUploadedFile("legacy.policy", BROKEN.encode())

    response = client.post(
        reverse("policies:import"), {"stack": str(stack.uuid), "text": "", "upload": upload}
    )

    assert response.status_code == 422
    assert textarea(response.text, "text") == BROKEN
    assert "Bogus" in response.context["form"]["text"].value()


def test_a_confirmation_that_cannot_be_read_keeps_the_text_to_preview_again(
    client, architect, stack
) -> None:
    as_user(client, architect)

    response = client.post(
        reverse("policies:import-apply"), {"stack": str(stack.uuid), "text": BROKEN, "sha256": ""}
    )

    assert response.status_code == 422
    assert "preview the file again" in response.text
    assert "Bogus 1" in textarea(response.text, "text")
