"""policies.changes.change_record: the one writer of the change log, chained by the audit log."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from audits.log import verify_chain
from audits.models import AuditEntry
from policies.changes import change_record
from policies.models import ChangeRecord, Stack


def test_a_change_names_its_object_and_is_chained(stack: Stack, architect) -> None:
    record = change_record(
        actor=architect,
        action="update",
        obj=stack,
        before={"policy_file": "/old"},
        after={"policy_file": stack.policy_file},
        note="moved",
    )

    stored = ChangeRecord.objects.get(pk=record.pk)
    assert (stored.actor, stored.action, stored.object_type) == (architect, "update", "Stack")
    assert (stored.object_uuid, stored.object_name) == (stack.uuid, str(stack))
    assert (stored.before, stored.after, stored.note) == (
        {"policy_file": "/old"},
        {"policy_file": stack.policy_file},
        "moved",
    )
    entry = AuditEntry.objects.get(data__change_record=record.pk)
    assert (entry.actor, entry.action, entry.object_id) == ("ada", "update", str(stack.uuid))
    assert verify_chain().intact


def test_the_system_is_no_actor_a_long_name_is_cut_and_no_uuid_is_none(db) -> None:
    class Unnamed:
        def __str__(self) -> str:
            return "x" * 300

    anonymous = change_record(actor=AnonymousUser(), action="finish", obj=Unnamed())
    system = change_record(actor=None, action="capture", obj=Unnamed(), object_type="Baseline")

    assert anonymous.actor is None and system.actor is None
    assert anonymous.object_type == "Unnamed" and system.object_type == "Baseline"
    assert anonymous.object_uuid is None
    assert anonymous.object_name == "x" * 100
    assert AuditEntry.objects.get(data__change_record=system.pk).actor == "system"
