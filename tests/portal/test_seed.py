import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from policies.models import EnvironmentAction, GroupAction, Lpar, Service, Stack
from policies.services import stack_draft


@pytest.fixture(autouse=True)
def _demo_mode(settings):
    # Demo users (known passwords) are refused unless DEBUG is on, as in `make demo`.
    settings.DEBUG = True


def seed() -> str:
    from io import StringIO

    out = StringIO()
    call_command("seed_datacenter", stdout=out)
    return out.getvalue()


def test_the_seed_builds_the_reference_data_center(db):
    output = seed()

    assert sorted(Lpar.objects.values_list("name", flat=True)) == ["LAB1", "SYSA", "SYSB"]
    production = Service.objects.filter(stack__lpar__kind="production")
    assert production.count() == 30
    tiers = {tier: production.filter(tier=tier).count() for tier in ("low", "medium", "high")}
    assert tiers == {"low": 10, "medium": 10, "high": 10}
    assert production.filter(direction="Outbound").exists()
    assert set(production.values_list("phase", flat=True)) == {"inventory"}
    assert "created 3 lpars, 3 stacks, 5 shared objects" in output


def test_the_shared_objects_are_the_accounts_policy_model(db):
    seed()

    environment = EnvironmentAction.objects.get(name="eAct_TLS12_13")
    assert (environment.tlsv1, environment.tlsv1_1) == (False, False)
    assert (environment.tlsv1_2, environment.tlsv1_3) == (True, True)
    assert environment.cipher_set is not None
    assert environment.cipher_set.suites == ["1301", "1302", "C02B", "C02C", "C02F", "C030"]
    assert GroupAction.objects.get(name="gAct_MASTER").ttls_enabled
    outbound = Service.objects.filter(direction="Outbound")
    assert all(s.rule.connection_action.name == "cAct_CLIENT" for s in outbound)


def test_every_stack_draft_is_a_valid_policy_without_lint_errors(db):
    seed()

    for stack in Stack.objects.all():
        draft = stack_draft(stack=stack)
        assert draft.policy.rules
        assert draft.errors == [], (stack, draft.errors)


def test_seeding_twice_changes_nothing_and_keeps_an_architects_edits(db):
    seed()
    GroupAction.objects.filter(name="gAct_MASTER").update(trace=255)
    counts = (Service.objects.count(), EnvironmentAction.objects.count())

    output = seed()

    assert (Service.objects.count(), EnvironmentAction.objects.count()) == counts
    assert GroupAction.objects.get(name="gAct_MASTER").trace == 255
    assert "created 0 lpars, 0 stacks, 0 shared objects, 0 services" in output


def test_one_demo_user_per_role_and_the_app_owner_owns_one_team(db):
    seed()

    owner = User.objects.get(username="appowner")
    owned = Service.objects.filter(owners=owner)
    assert owned.exists()
    assert len(set(owned.values_list("owner_team", flat=True))) == 1
    assert set(User.objects.values_list("username", flat=True)) >= {
        "architect",
        "operator",
        "auditor",
        "appowner",
        "admin",
    }


def test_the_seed_plans_the_demo_campaign_in_its_inventory_once(db):
    from rollouts.models import Campaign

    output = seed()
    campaign = Campaign.objects.get()
    assert campaign.phase == "inventory" and campaign.bake_seconds == 120
    assert sorted(s.label for s in campaign.stacks.all()) == ["SYSA/TCPIP", "SYSB/TCPIP"]
    assert campaign.owner.username == "operator"
    # The candidate is validated on LAB1 first (the lab cohort has no tier), then the tiers.
    assert campaign.lab_stack is not None and campaign.lab_stack.label == "LAB1/TCPIP"
    assert [(c.kind, c.tier) for c in campaign.cohorts.all()] == [
        ("lab", ""),
        ("pilot", "low"),
        ("rollout", "medium"),
        ("rollout", "high"),
    ]
    assert "planned: Traffic inventory, 120 s bake" in output
    assert "kept" in seed() and Campaign.objects.count() == 1
