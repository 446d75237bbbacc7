import importlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.roles import Role
from audits import browse
from audits.log import (
    FIELDS,
    GENESIS,
    append,
    audit_checkpoint_write,
    canonical_v1,
    chain_head,
    entry_hash,
    reanchor,
    verify_chain,
)
from audits.models import Assessment, AuditCheckpoint, AuditEntry, EvidencePack
from audits.tasks import audit_chain_checkpoint
from policies import services
from policies.models import GroupAction
from tests.conftest import PASSWORD

migration_0004 = importlib.import_module("audits.migrations.0004_reanchor_audit_chain")


def test_every_design_write_is_appended_to_the_chain(make_user):
    architect = make_user("ada", Role.ARCHITECT)
    group = services.shared_object_create(
        actor=architect, model=GroupAction, fields={"name": "grpMaster"}
    )
    services.shared_object_update(
        actor=architect, obj=group, fields={"trace": 6}, expected_revision=1
    )

    entries = list(AuditEntry.objects.order_by("sequence"))
    assert [(e.actor, e.action, e.object_type) for e in entries] == [
        ("ada", "create", "GroupAction"),
        ("ada", "update", "GroupAction"),
    ]
    assert entries[1].data["after"]["trace"] == 6
    assert entries[1].prev_hash == entries[0].hash
    assert verify_chain().intact


def test_sign_ins_and_refused_sign_ins_are_logged(client, make_user):
    make_user("grace", Role.AUDITOR)

    client.post("/login/", {"username": "grace", "password": PASSWORD})
    client.logout()
    client.post("/login/", {"username": "grace", "password": "wrong"})

    assert list(AuditEntry.objects.values_list("actor", "action")) == [
        ("grace", "login"),
        ("grace", "login failed"),
    ]


@pytest.mark.django_db
def test_one_tampered_row_is_found_and_named():
    for number in range(10):
        append(actor="ops", action="note", summary=f"entry {number}")
    AuditEntry.objects.filter(sequence=7).update(summary="nothing to see here")

    with pytest.raises(CommandError, match=r"BROKEN at entry #7: entry #7 was changed"):
        call_command("audit_verify", stdout=io.StringIO())


@pytest.mark.django_db
def test_a_removed_row_is_found():
    for number in range(5):
        append(actor="ops", action="note", summary=f"entry {number}")
    AuditEntry.objects.filter(sequence=3).delete()

    check = verify_chain()

    assert (check.broken_at, check.reason) == (4, "entry #3 is missing (next is #4)")


@pytest.mark.django_db
def test_an_intact_chain_is_reported_with_its_length():
    for number in range(3):
        append(actor="ops", action="note", summary=f"entry {number}", data={"n": number})
    out = io.StringIO()

    call_command("audit_verify", stdout=out)

    assert out.getvalue().startswith("audit log intact: 3 entries verified")


# --- the chain, closed (issue 12) -------------------------------------------------------------

HEAD_AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _entries(count: int) -> None:
    for number in range(count):
        append(actor="ops", action="note", summary=f"entry {number}", data={"n": number})


def _v1_chain(count: int) -> None:
    """Entries as the portal wrote them before chain version 2: fields joined by '|'."""
    previous = GENESIS
    for sequence in range(1, count + 1):
        fields = {
            "sequence": sequence,
            "at": HEAD_AT - timedelta(days=1, seconds=-sequence),
            "actor": "ops",
            "action": "update",
            "object_type": "Service",
            "object_id": "12",
            "summary": f"x|entry {sequence}",
            "data": {"n": sequence},
        }
        digest = entry_hash(previous, canonical_v1(**fields))
        AuditEntry.objects.create(**fields, version=1, prev_hash=previous, hash=digest)
        previous = digest


def _verify_fails(pattern: str) -> None:
    with pytest.raises(CommandError, match=pattern):
        call_command("audit_verify", stdout=io.StringIO())


@pytest.mark.django_db
def test_entries_deleted_from_the_end_are_named_with_the_checkpoint_that_recorded_them():
    _entries(100)
    checkpoint = audit_checkpoint_write(at=HEAD_AT)
    assert checkpoint is not None and checkpoint.sequence == 100
    assert verify_chain().intact

    AuditEntry.objects.filter(sequence__gt=80).delete()

    check = verify_chain()
    assert check.broken_at == 81
    assert check.reason == (
        f"entries 81\N{EN DASH}100 are missing: checkpoint 2026-12-07 01:00 recorded head"
        f" #100 {checkpoint.hash}"
    )
    _verify_fails(r"BROKEN at entry #81: entries 81.100 are missing: checkpoint 2026-12-07 01:00")


@pytest.mark.django_db
def test_a_checkpoint_written_after_the_cut_does_not_hide_it():
    _entries(30)
    audit_checkpoint_write(at=HEAD_AT)
    AuditEntry.objects.filter(sequence__gt=10).delete()
    audit_checkpoint_write(at=HEAD_AT + timedelta(hours=1))  # records the shortened head

    assert verify_chain().reason.startswith("entries 11\N{EN DASH}30 are missing: checkpoint")


@pytest.mark.django_db
def test_entries_deleted_from_the_end_are_named_with_the_evidence_pack_that_recorded_them(
    make_user,
):
    auditor = make_user("audrey", Role.AUDITOR)
    _entries(40)
    head = chain_head()
    assert head is not None
    assessment = Assessment.objects.create(
        scope_kind="estate",
        period_start=HEAD_AT - timedelta(days=1),
        period_end=HEAD_AT,
        created_by=auditor,
    )
    pack = EvidencePack.objects.create(
        assessment=assessment,
        created_by=auditor,
        chain_sequence=head.sequence,
        chain_hash=head.hash,
    )
    EvidencePack.objects.filter(pk=pack.pk).update(created_at=HEAD_AT)
    AuditEntry.objects.filter(sequence__gt=20).delete()

    _verify_fails(
        rf"BROKEN at entry #21: entries 21.40 are missing: evidence pack {str(pack.uuid)[:8]}"
        rf" of 2026-12-07 01:00 recorded head #40 {head.hash}"
    )


@pytest.mark.django_db
def test_a_log_cut_back_and_written_again_is_found_at_the_recorded_head():
    _entries(10)
    audit_checkpoint_write(at=HEAD_AT)
    AuditEntry.objects.filter(sequence__gt=5).delete()
    _entries(5)  # the same sequence numbers again, other hashes

    check = verify_chain()

    assert check.broken_at == 10
    assert "is not the one checkpoint 2026-12-07 01:00 recorded as head" in check.reason


@pytest.mark.django_db
def test_text_moved_between_two_fields_is_found_and_named():
    _entries(3)
    append(actor="ops", action="update", object_id="12", summary="x|y")
    _entries(3)
    moved = {"object_id": "12|x", "summary": "y"}
    # Version 1 joined the fields with '|': it could not see this move.
    entry = AuditEntry.objects.get(sequence=4)
    fields = {name: getattr(entry, name) for name in FIELDS}
    assert canonical_v1(**fields) == canonical_v1(**(fields | moved))

    AuditEntry.objects.filter(sequence=4).update(**moved)

    _verify_fails(r"BROKEN at entry #4: entry #4 was changed after it was written")


@pytest.mark.django_db
def test_the_reanchor_keeps_old_entries_verifying_and_records_the_old_head():
    _v1_chain(5)
    old_head = AuditEntry.objects.get(sequence=5)

    migration_0004.reanchor(django_apps, None)  # what the migration runs
    _entries(2)

    anchor = AuditEntry.objects.get(sequence=6)
    assert (anchor.version, anchor.action, anchor.prev_hash) == (2, "re-anchor", old_head.hash)
    assert anchor.data["old_head"] == {"sequence": 5, "hash": old_head.hash}
    assert anchor.data["version_1_entries"] == 5
    assert list(AuditEntry.objects.values_list("version", flat=True)) == [1] * 5 + [2] * 3
    assert reanchor() is None  # once only
    check = verify_chain()
    assert check.intact and check.entries == 8, check


@pytest.mark.django_db
def test_after_the_reanchor_a_field_moved_in_an_old_entry_is_found():
    _v1_chain(5)
    reanchor()
    # The '|' join hides the move from entry #3's own hash; the re-anchor's digest does not.
    AuditEntry.objects.filter(sequence=3).update(object_id="12|x", summary="entry 3")
    moved = AuditEntry.objects.get(sequence=3)
    fields = {name: getattr(moved, name) for name in FIELDS}
    assert entry_hash(moved.prev_hash, canonical_v1(**fields)) == moved.hash

    check = verify_chain()

    assert check.broken_at == 6
    assert check.reason.startswith("a version-1 entry among #1\N{EN DASH}#5 was changed")


@pytest.mark.django_db
def test_an_entry_cannot_go_back_to_version_1_after_the_reanchor():
    _entries(3)
    AuditEntry.objects.filter(sequence=2).update(version=1)

    assert verify_chain().broken_at == 2


@pytest.mark.django_db
def test_beat_records_the_head_once_per_change():
    assert audit_chain_checkpoint() == "head unchanged (or the log is empty)"
    _entries(2)
    assert audit_chain_checkpoint() == "head #2 recorded"
    assert audit_chain_checkpoint() == "head unchanged (or the log is empty)"
    _entries(1)
    assert audit_chain_checkpoint() == "head #3 recorded"
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "holds the head recorded by the checkpoint" in out.getvalue()
    assert AuditCheckpoint.objects.count() == 2


def test_the_checkpoint_runs_on_beat_at_the_configured_interval():
    beat = settings.CELERY_BEAT_SCHEDULE["audits-chain-checkpoint"]
    assert beat["task"] == "audits.tasks.audit_chain_checkpoint"
    assert beat["schedule"] == float(settings.AUDIT_CHECKPOINT_SECONDS)


@pytest.mark.django_db
def test_the_log_filter_offers_each_action_once_in_order() -> None:
    for action in ("login", "create", "login", "create", "approve"):
        append(actor="ops", action=action, summary=action)

    assert browse.actions() == ["approve", "create", "login"]
