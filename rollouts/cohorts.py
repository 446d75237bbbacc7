"""The cohorts while they have not started: which services each holds, and their shape (add,
rename, remove and reorder). The rules are those
of every planning write (rollouts.services): an architect or an operator, the campaign locked,
a refusal changes nothing, every change a change record. A cohort whose step started (and
every cohort before it: steps follow the cohorts' order) is fixed; so is the lab cohort's
place, first.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from policies.models import Service
from rollouts.models import Campaign, Cohort, CohortKind
from rollouts.services import (
    CampaignRefused,
    User,
    _locked,
    _not_finished,
    _plans,
    _record,
)

COHORT_NAME_MAX = Cohort._meta.get_field("name").max_length or 64
# Positions are unique per campaign: a reorder parks the moving rows beyond every real one.
_PARKED = 1_000_000


def started_upto(campaign: Campaign) -> int:
    """The position of the last cohort a step was made for (-1: none). Steps follow the
    cohorts' order, so every cohort at or before it has started and is fixed."""
    found = campaign.steps.filter(cohort__isnull=False).aggregate(upto=Max("cohort__position"))
    return -1 if found["upto"] is None else int(found["upto"])


def cohort_at(campaign: Campaign, position: int, field: str = "position") -> Cohort:
    """The campaign's cohort at `position`; a ValidationError on `field` when there is none."""
    found = campaign.cohorts.filter(position=position).first()
    if found is None:
        raise ValidationError({field: "No cohort at this position."})
    return found


@transaction.atomic
def cohort_services_set(*, actor: User, cohort: Cohort, services: Sequence[Service]) -> Cohort:
    """Moves services into a cohort (out of any other of the campaign) before it started.
    Refused for a service of a cohort that started, and when a service of the scope would be
    left in no cohort (a version would then carry its rule from the first step on)."""
    _plans(actor)
    campaign = _locked(cohort.campaign)
    upto = started_upto(campaign)
    if cohort.position <= upto:
        raise CampaignRefused(f"{cohort.name} has started; its services are fixed")
    _not_finished(campaign)
    scope = set(campaign.services.values_list("id", flat=True))
    if cohort.kind != CohortKind.LAB and any(s.id not in scope for s in services):
        raise ValidationError({"services": "Only services of the campaign's scope"})
    fixed = set(
        campaign.cohorts.filter(position__lte=upto).values_list("services__id", flat=True)
    ) - {None}
    taken = sorted(s.name for s in services if s.id in fixed)
    if taken:
        raise CampaignRefused(
            f"{', '.join(taken)} belong{'s' if len(taken) == 1 else ''} to a cohort that has"
            " started; its services are fixed"
        )
    chosen = {s.id for s in services}
    # From the through table: no NULL of an empty cohort (NOT IN with a NULL drops every row).
    elsewhere = set(
        Cohort.services.through.objects.filter(cohort__campaign=campaign)
        .exclude(cohort=cohort)
        .values_list("service_id", flat=True)
    )
    left = [
        s
        for s in cohort.services.all()
        if s.id in scope and s.id not in chosen and s.id not in elsewhere
    ]
    if cohort.kind != CohortKind.LAB and left:
        names = ", ".join(sorted(s.name for s in left))
        raise ValidationError(
            {"services": f"{names} would be left in no cohort: move it to another cohort"}
        )
    for other in campaign.cohorts.exclude(pk=cohort.pk).filter(position__gt=upto):
        other.services.remove(*services)
    cohort.services.set(services)
    _record(
        actor,
        "cohort",
        campaign,
        {"cohort": cohort.name, "services": sorted(s.name for s in services)},
    )
    return cohort


def _open_cohort(campaign: Campaign, cohort: Cohort) -> Cohort:
    """The cohort as stored now (the campaign is locked), refused when its step started."""
    _not_finished(campaign)
    fresh = Cohort.objects.get(pk=cohort.pk, campaign=campaign)
    if fresh.position <= started_upto(campaign):
        raise CampaignRefused(f"{fresh.name} has started; it can no longer be changed")
    return fresh


def _cohort_name(campaign: Campaign, name: str, *, other_than: Cohort | None = None) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise ValidationError({"name": "Give the cohort a name."})
    if len(clean) > COHORT_NAME_MAX:
        raise ValidationError({"name": f"At most {COHORT_NAME_MAX} characters."})
    same = campaign.cohorts.filter(name__iexact=clean)
    if other_than is not None:
        same = same.exclude(pk=other_than.pk)
    if same.exists():
        raise ValidationError({"name": f"The campaign has a cohort named {clean} already."})
    return clean


def _arrange(campaign: Campaign, ordered: list[Cohort], upto: int) -> None:
    """Stores `ordered` as positions 0, 1, ...; the first cohort after the lab is the pilot,
    the later ones rollouts (the kinds of cohorts that started stay as they ran)."""
    moved = [(index, c) for index, c in enumerate(ordered) if c.position != index]
    for index, cohort in moved:
        Cohort.objects.filter(pk=cohort.pk).update(position=_PARKED + index)
    first = next((c for c in ordered if c.kind != CohortKind.LAB), None)
    for index, cohort in enumerate(ordered):
        kind = cohort.kind
        if cohort.kind != CohortKind.LAB and cohort.position > upto:
            kind = CohortKind.PILOT if cohort is first else CohortKind.ROLLOUT
        if (index, kind) != (cohort.position, cohort.kind):
            Cohort.objects.filter(pk=cohort.pk).update(position=index, kind=kind)


def _movable(cohort: Cohort) -> None:
    if cohort.kind == CohortKind.LAB:
        raise CampaignRefused(
            "the lab cohort comes first and holds the lab stack's services; it stays"
        )


@transaction.atomic
def cohort_add(*, actor: User, campaign: Campaign, name: str) -> Cohort:
    """An empty cohort after the last one (the pilot when it is the first after the lab)."""
    _plans(actor)
    locked = _locked(campaign)
    _not_finished(locked)
    clean = _cohort_name(locked, name)
    last = locked.cohorts.order_by("-position").first()
    pilot = not locked.cohorts.exclude(kind=CohortKind.LAB).exists()
    cohort = Cohort.objects.create(
        campaign=locked,
        position=last.position + 1 if last is not None else 0,
        name=clean,
        kind=CohortKind.PILOT if pilot else CohortKind.ROLLOUT,
    )
    _record(actor, "cohort add", locked, {"cohort": clean, "position": cohort.position})
    return cohort


@transaction.atomic
def cohort_rename(*, actor: User, cohort: Cohort, name: str) -> Cohort:
    _plans(actor)
    locked = _locked(cohort.campaign)
    fresh = _open_cohort(locked, cohort)
    before = fresh.name
    fresh.name = _cohort_name(locked, name, other_than=fresh)
    fresh.save(update_fields=["name"])
    _record(actor, "cohort rename", locked, {"cohort": before, "name": fresh.name})
    return fresh


@transaction.atomic
def cohort_remove(*, actor: User, cohort: Cohort) -> None:
    """Removes an empty cohort not started; the later ones move up."""
    _plans(actor)
    locked = _locked(cohort.campaign)
    fresh = _open_cohort(locked, cohort)
    _movable(fresh)
    count = fresh.services.count()
    if count:
        raise CampaignRefused(
            f"{fresh.name} holds {count} service{'s' if count != 1 else ''}: move"
            f" {'them' if count != 1 else 'it'} to another cohort first"
        )
    upto = started_upto(locked)
    fresh.delete()
    _arrange(locked, list(locked.cohorts.order_by("position")), upto)
    _record(actor, "cohort remove", locked, {"cohort": fresh.name})


@transaction.atomic
def cohort_move(*, actor: User, cohort: Cohort, position: int) -> Cohort:
    """Moves a cohort not started to `position`, among the cohorts not started (after the lab
    cohort); those between shift by one."""
    _plans(actor)
    locked = _locked(cohort.campaign)
    fresh = _open_cohort(locked, cohort)
    _movable(fresh)
    ordered = list(locked.cohorts.order_by("position"))
    upto = started_upto(locked)
    fixed = [c for c in ordered if c.position <= upto or c.kind == CohortKind.LAB]
    lowest, highest = len(fixed), len(ordered) - 1
    if not lowest <= position <= highest:
        raise ValidationError(
            {"position": f"A position from {lowest} to {highest} (cohorts not started)."}
        )
    before = fresh.position
    rest = [c for c in ordered if c.pk != fresh.pk]
    rest.insert(position, next(c for c in ordered if c.pk == fresh.pk))
    _arrange(locked, rest, upto)
    _record(actor, "cohort move", locked, {"cohort": fresh.name, "from": before, "to": position})
    fresh.refresh_from_db()
    return fresh
