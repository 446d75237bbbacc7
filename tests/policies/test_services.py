import pytest
from django.core.exceptions import ValidationError

from policies import services
from policies.models import ChangeRecord, GroupAction, PolicyVersion, Service


def test_a_service_with_bad_values_is_refused_with_field_errors_and_nothing_is_saved(
    stack, shared, architect
):
    with pytest.raises(ValidationError) as caught:
        services.service_create(
            actor=architect,
            fields={
                "stack": stack,
                "name": "x" * 33,
                "jobname": "TOOLONGJOB",
                "local_port_low": 70000,
                "local_port_high": 70000,
                "priority": 0,
                "group_action": shared["group"],
            },
        )

    errors = caught.value.message_dict
    assert set(errors) >= {"name", "jobname", "local_port_low", "priority"}
    assert "limit is 32" in errors["name"][0]
    assert Service.objects.count() == 0
    assert not ChangeRecord.objects.filter(object_type="Service").exists()


def test_every_write_records_who_and_what_before_and_after(shared, architect):
    group = shared["group"]

    services.shared_object_update(
        actor=architect, obj=group, fields={"trace": 6}, expected_revision=group.revision
    )

    record = ChangeRecord.objects.filter(object_type="GroupAction", action="update").get()
    assert record.actor == architect
    assert record.before["trace"] == 2
    assert record.after["trace"] == 6
    assert record.after["revision"] == 2


def test_a_save_based_on_a_stale_revision_is_refused_not_merged(shared, architect, make_user):
    second = make_user("grace")
    group = shared["group"]
    loaded_by_both = group.revision
    services.shared_object_update(
        actor=architect, obj=group, fields={"trace": 6}, expected_revision=loaded_by_both
    )

    with pytest.raises(services.StaleEdit) as caught:
        services.shared_object_update(
            actor=second, obj=group, fields={"trace": 7}, expected_revision=loaded_by_both
        )

    assert "changed by someone else" in str(caught.value)
    assert GroupAction.objects.get(pk=group.pk).trace == 6


def test_publishing_freezes_the_draft_as_an_immutable_numbered_version(
    stack, make_service, architect
):
    make_service("TN3270A", 992)

    version = services.policy_version_publish(stack=stack, actor=architect, note="first cut")

    assert version.number == 1
    assert version.text.startswith("# AT-TLS policy for SYSA/TCPIP")
    assert len(version.sha256) == 64
    assert version.model["rules"][0]["name"] == "TN3270A"
    with pytest.raises(ValueError, match="never changes"):
        version.note = "rewritten"
        version.save()
    assert PolicyVersion.objects.get(pk=version.pk).note == "first cut"


def test_publishing_with_nothing_changed_is_refused(stack, make_service, architect):
    make_service("TN3270A", 992)
    services.policy_version_publish(stack=stack, actor=architect, note="first cut")

    with pytest.raises(services.PublishRefused, match="Nothing changed since v1"):
        services.policy_version_publish(stack=stack, actor=architect, note="again")


def test_publishing_with_lint_errors_is_refused_with_the_list(
    stack, make_service, shared, architect
):
    environment = shared["environment"]
    services.shared_object_update(
        actor=architect,
        obj=environment,
        fields={"tlsv1_2": False, "tlsv1_3": False},
        expected_revision=environment.revision,
    )
    make_service("TN3270A", 992)

    with pytest.raises(services.PublishRefused) as caught:
        services.policy_version_publish(stack=stack, actor=architect, note="broken")

    assert caught.value.findings
    assert all(f.severity == "error" for f in caught.value.findings)
    assert not PolicyVersion.objects.exists()


def test_warnings_need_an_explicit_acknowledgement(stack, make_service, architect):
    make_service("TN3270A", 992)
    make_service("TN3270B", 992)  # same port, same priority: an overlap warning

    with pytest.raises(services.PublishRefused, match="acknowledge"):
        services.policy_version_publish(stack=stack, actor=architect, note="overlap")

    version = services.policy_version_publish(
        stack=stack, actor=architect, note="overlap", acknowledge_warnings=True
    )
    assert any(f["severity"] == "warning" for f in version.lint)


def test_the_draft_diff_shows_what_publication_would_change(stack, make_service, architect):
    make_service("TN3270A", 992)
    services.policy_version_publish(stack=stack, actor=architect, note="first")
    make_service("TN3270B", 993)

    draft = services.stack_draft(stack=stack)

    assert draft.changed
    diff = draft.diff()
    assert diff.startswith("--- SYSA/TCPIP v1\n+++ SYSA/TCPIP draft\n")
    assert "+TTLSRule                          TN3270B" in diff
