import pytest
from django.contrib.auth.models import Group

from accounts.roles import ROLE_GROUPS, Role, ensure_role_groups


def role_group_names() -> set[str]:
    return set(Group.objects.filter(name__in=ROLE_GROUPS.values()).values_list("name", flat=True))


def test_every_role_has_its_own_group() -> None:
    assert set(ROLE_GROUPS) == set(Role)
    assert len(set(ROLE_GROUPS.values())) == len(Role)


@pytest.mark.django_db
def test_migrate_creates_the_role_groups() -> None:
    assert role_group_names() == set(ROLE_GROUPS.values())


@pytest.mark.django_db(transaction=True)
def test_role_groups_survive_the_flush_between_transactional_tests() -> None:
    # A transactional test runs after a flush, which re-emits post_migrate.
    assert role_group_names() == set(ROLE_GROUPS.values())


@pytest.mark.django_db
def test_ensure_role_groups_is_idempotent() -> None:
    first = ensure_role_groups()
    second = ensure_role_groups()

    assert {role: group.pk for role, group in first.items()} == {
        role: group.pk for role, group in second.items()
    }
    assert Group.objects.filter(name__in=ROLE_GROUPS.values()).count() == len(Role)
