"""The kinds of shared object an architect designs once and rules name: one registry.

Each kind's slug (in the designer's URLs, /design/objects/<slug>/, and in usage keys), its
model, its label in lists, the AT-TLS statement it becomes, and what its list reads with it.
Every table that used to be keyed by these slugs is read from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model, QuerySet
from django.http import Http404

from policies.models import CipherSet, ConnectionAction, EnvironmentAction, GroupAction, Keyring


@dataclass(frozen=True)
class SharedObjectKind:
    slug: str
    model: type[Model]
    label: str  # a list's heading: "Key rings"
    statement: str  # the policy statement it is written as: "TTLSKeyringParms"
    list_related: tuple[str, ...] = ()  # read with the objects in the designer's list

    def listed(self) -> QuerySet[Model]:
        """Every object of the kind, with what its row shows."""
        objects = self.model._default_manager.all()
        return objects.select_related(*self.list_related) if self.list_related else objects


# In the order the designer lists them.
SHARED_OBJECT_KINDS: dict[str, SharedObjectKind] = {
    kind.slug: kind
    for kind in (
        SharedObjectKind("group-action", GroupAction, "Group actions", "TTLSGroupAction"),
        SharedObjectKind(
            "environment-action",
            EnvironmentAction,
            "Environment actions",
            "TTLSEnvironmentAction",
            ("keyring", "cipher_set"),
        ),
        SharedObjectKind(
            "connection-action",
            ConnectionAction,
            "Connection actions",
            "TTLSConnectionAction",
            ("cipher_set",),
        ),
        SharedObjectKind("cipher-set", CipherSet, "Cipher sets", "TTLSCipherParms"),
        SharedObjectKind("keyring", Keyring, "Key rings", "TTLSKeyringParms"),
    )
}


def kind_named(slug: str) -> SharedObjectKind:
    """The kind a URL names; 404 for any other slug."""
    try:
        return SHARED_OBJECT_KINDS[slug]
    except KeyError:
        raise Http404(f"no shared object type {slug!r}") from None


def kind_of(obj: Model) -> str:
    """The slug of a shared object's kind."""
    for kind in SHARED_OBJECT_KINDS.values():
        if isinstance(obj, kind.model):
            return kind.slug
    raise TypeError(f"not a shared object: {obj!r}")


def model_of(slug: str) -> type[Model]:
    return kind_named(slug).model
