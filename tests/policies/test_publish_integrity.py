"""What is published is what was designed: the form refuses the injection, publishing
refuses any text that would not read back as the model, stored versions that are not their
model are marked untrusted."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from attls.policy import parse_policy
from policies import services
from policies.models import ChangeRecord, Keyring, PolicyVersion, Service
from tests.policies.api.test_value_injection import HIDDEN_RULE


@pytest.fixture
def design(stack, shared, make_service):
    return {"service": make_service("TN3270", 992), **shared}


def _keyring_post(keyring: Keyring, **changes) -> dict:
    data = {
        "revision": keyring.revision,
        "name": keyring.name,
        "description": keyring.description,
        "ring": keyring.ring,
        "certificate_labels": "\n".join(keyring.certificate_labels),
    }
    data.update(changes)
    return data


def test_the_hidden_rule_injection_through_the_form_is_refused_naming_the_field(
    client, architect, design
):
    keyring = design["keyring"]
    client.force_login(architect)
    records = ChangeRecord.objects.count()

    response = client.post(
        reverse("policies:object-edit", args=["keyring", keyring.uuid]),
        _keyring_post(keyring, ring=HIDDEN_RULE),
    )

    assert response.status_code == 422
    errors = response.context["form"].errors
    assert list(errors) == ["ring"]
    assert "The key ring contains a line break" in errors["ring"][0]
    assert Keyring.objects.get(pk=keyring.pk).ring == "TCPIP/SharedRing"
    assert ChangeRecord.objects.count() == records


def test_a_label_with_a_blank_is_refused_by_the_form(client, architect, design):
    keyring = design["keyring"]
    client.force_login(architect)

    response = client.post(
        reverse("policies:object-edit", args=["keyring", keyring.uuid]),
        _keyring_post(keyring, certificate_labels="SRV\nMy Label"),
    )

    assert response.status_code == 422
    assert "blank" in response.context["form"].errors["certificate_labels"][0]


# --- publishing a design written around the validators ------------------------------------------


def _publish_refusal(stack, architect) -> str:
    versions = PolicyVersion.objects.count()
    with pytest.raises(services.PublishRefused) as refused:
        services.policy_version_publish(stack=stack, actor=architect, note="try")
    assert PolicyVersion.objects.count() == versions
    return str(refused.value)


def test_publishing_refuses_a_value_the_renderer_cannot_write(stack, architect, design):
    # Written straight to the table, as a row saved before the validators existed would be.
    Keyring.objects.filter(pk=design["keyring"].pk).update(ring=HIDDEN_RULE)

    reason = _publish_refusal(stack, architect)

    assert reason.startswith("The design cannot be written as a policy file:")
    assert "TTLSKeyringParms ringShared: Keyring contains a line break" in reason


def test_publishing_refuses_a_text_that_would_not_parse(stack, architect, design):
    # No character the renderer refuses, but no port either (a row written past the
    # validators, as before them): the text is written, and reading it back fails.
    Service.objects.filter(pk=design["service"].pk).update(
        local_port_low=70000, local_port_high=70000
    )

    reason = _publish_refusal(stack, architect)

    assert reason.startswith("The policy text would not read back as the design")
    assert "the text does not parse" in reason
    assert "70000" in reason


def test_publishing_refuses_a_text_that_reads_back_as_another_policy(stack, architect, design):
    # Policy Agent reads job names in capitals: the text would not say what the model says.
    Service.objects.filter(pk=design["service"].pk).update(jobname="tn3270*")

    reason = _publish_refusal(stack, architect)

    assert 'TTLSRule TN3270: Jobname is "tn3270*" in the design but "TN3270*" in the text' in reason


def test_a_sound_design_publishes_a_text_that_is_its_model(stack, architect, design):
    version = services.policy_version_publish(stack=stack, actor=architect, note="first")

    assert version.text_problem == ""
    assert version.is_trusted
    assert set(parse_policy(version.text).rules) == {"TN3270"}


# --- versions stored before the check ------------------------------------------------------------


def _smuggled_version(stack, architect) -> PolicyVersion:
    """A version as the injection stored it: a hidden rule in the text, not in the model."""
    sound = services.policy_version_publish(stack=stack, actor=architect, note="first")
    text = sound.text.replace(
        "TTLSKeyringParms                  ringShared",
        "TTLSRule hidden\n{\n  LocalPortRange 1-65535\n  Direction Both\n  Priority 2000000\n"
        "  TTLSGroupActionRef grpMaster\n  TTLSEnvironmentActionRef envTls12_13\n}\n\n"
        "TTLSKeyringParms ringShared",
    )
    return PolicyVersion.objects.create(
        stack=stack,
        number=2,
        text=text,
        sha256="0" * 64,
        model=sound.model,
        author=architect,
        note="stored by the injection",
        parent=sound,
    )


def test_the_check_marks_a_stored_version_whose_text_hides_a_rule(stack, architect, design):
    smuggled = _smuggled_version(stack, architect)
    broken = PolicyVersion.objects.create(
        stack=stack,
        number=3,
        text="TTLSRule broken\n{\n",
        sha256="1" * 64,
        model={},
        author=architect,
        note="does not parse",
        parent=smuggled,
    )

    changed = services.policy_versions_check(actor=architect)

    assert {version.number for version in changed} == {2, 3}
    smuggled.refresh_from_db()
    broken.refresh_from_db()
    assert "TTLSRule hidden is in the text but not in the design" in smuggled.text_problem
    assert broken.text_problem.startswith("Its text does not parse:")
    assert PolicyVersion.objects.get(number=1).text_problem == ""
    assert ChangeRecord.objects.filter(action="mark", object_uuid=smuggled.uuid).count() == 1
    # A second run changes nothing and records nothing.
    assert services.policy_versions_check(actor=architect) == []
    assert ChangeRecord.objects.filter(action="mark").count() == 2


def test_the_data_migration_marks_stored_versions_the_same_way(stack, architect, design):
    smuggled = _smuggled_version(stack, architect)
    migration = importlib.import_module("policies.migrations.0004_mark_untrusted_versions")

    migration.mark_untrusted(apps, None)

    smuggled.refresh_from_db()
    assert "TTLSRule hidden" in smuggled.text_problem
    assert PolicyVersion.objects.get(number=1).text_problem == ""


def test_an_untrusted_version_says_so_on_its_pages(client, stack, architect, design):
    smuggled = _smuggled_version(stack, architect)
    services.policy_versions_check(actor=architect)
    client.force_login(architect)

    detail = client.get(reverse("policies:version-detail", args=["SYSA", "TCPIP", 2]))
    listing = client.get(reverse("policies:version-list", args=["SYSA", "TCPIP"]))

    assert detail.status_code == 200
    assert 'data-testid="untrusted-version"' in detail.text
    assert "Untrusted version: it is never deployed." in detail.text
    assert "TTLSRule hidden is in the text but not in the design" in detail.text
    assert "untrusted</span>" in listing.text
    assert smuggled.number == 2


def test_a_row_saved_before_the_validators_can_still_be_corrected_and_then_published(
    client, stack, architect, design
):
    keyring = design["keyring"]
    Keyring.objects.filter(pk=keyring.pk).update(ring=HIDDEN_RULE)
    keyring.refresh_from_db()
    client.force_login(architect)

    edit = client.get(reverse("policies:object-edit", args=["keyring", keyring.uuid]))
    stack_page = client.get(reverse("policies:stack-detail", args=["SYSA", "TCPIP"]))

    assert edit.status_code == 200
    assert "This design cannot be written as a policy file" in edit.text
    assert stack_page.status_code == 200
    corrected = client.post(
        reverse("policies:object-edit", args=["keyring", keyring.uuid]),
        _keyring_post(keyring, ring="TCPIP/SharedRing"),
    )
    assert corrected.status_code == 302
    version = services.policy_version_publish(stack=stack, actor=architect, note="corrected")
    assert parse_policy(version.text).keyring_parms["ringShared"].keyring == "TCPIP/SharedRing"


def test_the_publish_page_gives_the_reason_of_the_refusal(client, stack, architect, design):
    Service.objects.filter(pk=design["service"].pk).update(jobname="tn3270*")
    client.force_login(architect)

    response = client.post(
        reverse("policies:stack-publish", args=["SYSA", "TCPIP"]),
        {"note": "try", "acknowledge_warnings": "on"},
        headers={"HX-Request": "true", "HX-Target": "publish"},
    )

    assert response.status_code == 422
    assert "The policy text would not read back as the design" in response.text
    assert "TTLSRule TN3270: Jobname is &quot;tn3270*&quot; in the design" in response.text
    assert not PolicyVersion.objects.exists()


def test_the_design_check_lists_rows_saved_before_the_validators(stack, design):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("design_values_check", stdout=out)
    assert "every design value is one the validators accept" in out.getvalue()

    Keyring.objects.filter(pk=design["keyring"].pk).update(ring=HIDDEN_RULE)
    with pytest.raises(CommandError, match="1 value"):
        call_command("design_values_check", stdout=(out := StringIO()))
    assert f"Keyring {design['keyring'].uuid} ring: The key ring contains a line break" in (
        out.getvalue()
    )


def test_the_version_check_command_fails_while_an_untrusted_version_is_stored(
    stack, architect, design
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    _smuggled_version(stack, architect)
    out = StringIO()

    with pytest.raises(CommandError, match="1 published version"):
        call_command("policy_versions_check", stdout=out)

    assert "SYSA/TCPIP v2 is now untrusted" in out.getvalue()
