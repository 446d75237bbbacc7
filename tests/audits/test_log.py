import io

import pytest
from django.core.management import CommandError, call_command

from accounts.roles import Role
from audits.log import append, verify_chain
from audits.models import AuditEntry
from policies import services
from policies.models import GroupAction
from tests.conftest import PASSWORD


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
