"""Property: any string through any field that reaches policy text is either refused, or
published as a version whose text reads back as its model.

Two doors: the service layer (what the forms and the API call, validators included), and
the table itself (a row written around the validators), where only the renderer's refusal
and publishing's re-read stand between the value and an LPAR.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from attls.policy import parse_policy
from attls.policy.render_check import text_model_differences
from attls.policy.serialize import policy_to_dict
from policies import services
from policies.models import ConnectionAction, EnvironmentAction, Keyring, Service, Stack

# Characters that matter to the policy reader, to z/OS names, to paths and to people.
SHARP = list("\n\r\t\x0b\x0c\x1c\x85\u2028\u202e\u200b\x00 {}#\"'\\/*.:?=%@$~-_")
PLAIN = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789")
VALID = [
    "TCPIP/SharedRing",
    "*TOKEN*/ATTLS",
    "SRV.LABEL",
    "TN3270*",
    "IZUSVR",
    "http://ocsp.example.com/ocsp",
    "/etc/pagent/T.policy",
    "svcNew",
    "10.1.0.0/16",
]
strings = st.one_of(
    st.text(alphabet=st.sampled_from(SHARP + PLAIN), max_size=40),
    st.text(max_size=12),
    st.sampled_from(VALID),
    st.builds(
        lambda a, b: a + b, st.sampled_from(VALID), st.text(st.sampled_from(SHARP), max_size=3)
    ),
)

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _Undo(Exception):
    """Raised to roll one example's writes back."""


@pytest.fixture
def world(stack, shared, make_service, architect) -> dict[str, Any]:
    connection = services.shared_object_create(
        actor=architect, model=ConnectionAction, fields={"name": "connClient"}
    )
    service = make_service("TN3270", 992, connection_action=connection)
    return {"service": service, "connection": connection, **shared}


# (object key in `world`, field) for every field whose value reaches the policy text.
FIELDS = [
    ("keyring", "ring"),
    ("keyring", "name"),
    ("keyring", "certificate_labels"),
    ("environment", "certificate_label"),
    ("environment", "ocsp_url"),
    ("environment", "name"),
    ("connection", "certificate_label"),
    ("service", "name"),
    ("service", "jobname"),
    ("service", "userid"),
    ("service", "remote_address"),
    ("stack", "policy_file"),
    ("stack", "name"),
]


def _write(
    world: dict[str, Any], stack: Stack, key: str, field: str, value: Any, architect
) -> None:
    if key == "stack":
        target = Stack.objects.get(pk=stack.pk)
        setattr(target, field, value)
        target.full_clean()
        target.save()
    elif key == "service":
        service = Service.objects.get(pk=world["service"].pk)
        services.service_update(
            actor=architect,
            service=service,
            fields={field: value},
            expected_revision=service.revision,
        )
    else:
        obj = type(world[key]).objects.get(pk=world[key].pk)
        services.shared_object_update(
            actor=architect, obj=obj, fields={field: value}, expected_revision=obj.revision
        )


def _assert_published_as_designed(stack: Stack, architect) -> None:
    version = services.policy_version_publish(stack=stack, actor=architect, note="property")
    assert version.text_problem == ""
    assert text_model_differences(version.text, version.model) == []
    # The model stored is the design's policy as generated now.
    assert version.model == policy_to_dict(services.stack_draft(stack=stack).policy)
    assert policy_to_dict(parse_policy(version.text)) == version.model


@pytest.mark.parametrize(("key", "field"), FIELDS)
def test_through_the_service_layer_a_value_is_refused_or_published_as_designed(
    world, stack, architect, key, field
):
    @PROPERTY
    @given(value=strings)
    def check(value: str) -> None:
        written = [value] if field == "certificate_labels" else value
        try:
            with transaction.atomic():
                try:
                    _write(world, stack, key, field, written, architect)
                except ValidationError as refusal:
                    assert refusal.message_dict, refusal  # refused, naming a field
                    event("refused by a validator")
                    raise _Undo from None
                _assert_published_as_designed(stack, architect)
                event("published as designed")
                raise _Undo
        except _Undo:
            pass

    check()


# Fields written straight to the table: the validators never see these values.
RAW_FIELDS = [
    (Keyring, "keyring", "ring"),
    (EnvironmentAction, "environment", "certificate_label"),
    (EnvironmentAction, "environment", "ocsp_url"),
    (Service, "service", "jobname"),
    (Service, "service", "userid"),
]


@pytest.mark.parametrize(("model", "key", "field"), RAW_FIELDS)
def test_around_the_validators_publishing_refuses_or_publishes_what_was_designed(
    world, stack, architect, model, key, field
):
    # What a row can hold at all: PostgreSQL's text refuses NUL and its varchar the excess
    # (SQLite keeps both), so such a value can never reach the renderer from a stored row.
    width = model._meta.get_field(field).max_length
    storable = strings.map(lambda text: text.replace("\x00", "")[:width])

    @PROPERTY
    @given(value=storable)
    def check(value: str) -> None:
        try:
            with transaction.atomic():
                model.objects.filter(pk=world[key].pk).update(**{field: value})
                try:
                    _assert_published_as_designed(stack, architect)
                    event("published as designed")
                except services.PublishRefused as refusal:
                    assert str(refusal)
                    event("publish refused")
                raise _Undo
        except _Undo:
            pass

    check()
