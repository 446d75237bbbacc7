from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    """Roles (as Django groups) and the checks every view and endpoint uses; users, sign-in
    lock-outs and API tokens.

    The lowest Django layer, so that policies, fleet, audits and portal can all ask
    "may this user do that?" the same way.
    """

    name = "accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from accounts.lockout import record_lockout

        # Role groups are created after every migrate by a post_migrate hook rather
        # than by a data migration, for two reasons:
        # - Django creates permissions in post_migrate too, so a data migration runs
        #   before they exist on a fresh database and could never grant them to a
        #   role; this hook runs after auth's (accounts is listed after auth).
        # - `flush` (run between transactional tests) empties the tables and then
        #   emits post_migrate, so the groups come back; rows from a data migration
        #   would be gone.
        post_migrate.connect(_ensure_role_groups, sender=self, dispatch_uid="accounts-role-groups")
        user_locked_out.connect(record_lockout, dispatch_uid="accounts-record-lockout")


def _ensure_role_groups(*, using: str, **kwargs: Any) -> None:
    from accounts.roles import ensure_role_groups

    ensure_role_groups(using=using)
