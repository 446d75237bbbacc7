"""Rollout campaigns in the evidence (issue 16): the report stores each campaign of the period
and scope as the campaign stored it (baseline and end figures, steps with versions, deployment,
prediction, gate verdicts, skips), the PDF prints those figures with a skipped gate flagged,
OSCAL carries one observation per step, and HIST-CAMPAIGN-GATES judges the promotions.

The campaign runs in-process on the seeded reference estate (tests/rollouts/support.py): its
pilot passes its gate after the bake, the first rollout cohort fails on refusals and is
skipped by alice with bob's approval, and the last cohort is promoted.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from accounts.roles import Role
from audits import evidence, oscal
from audits.assessing import assessment_execute
from audits.assessment.checks.campaigns import check_campaign_gates
from audits.assessment.facts import FAIL, NA, PASS
from audits.campaigns import FOUR_EYES_SKIP, GATE_PASSED, LONE_SKIP, campaign_evidence
from audits.models import Assessment, ScopeKind
from audits.report import resolve_scope
from audits.services import assessment_create
from rollouts import figures, services, steps
from rollouts.models import ActionRequest, Campaign, Step, StepStatus
from tests.audits.test_evidence import pdf_text, squash
from tests.rollouts.support import deployed, planned, reference_estate, verified

REASON = "known batch retry: the partner's job resends"
NOT_YET = "\N{EN DASH}"  # an end state the campaign has not frozen yet


@pytest.fixture
def campaign(make_user: Any) -> SimpleNamespace:
    people = {
        "alice": make_user("alice", Role.OPERATOR, Role.ARCHITECT),
        "bob": make_user("bob", Role.OPERATOR),
        "carol": make_user("carol", Role.AUDITOR),
    }
    estate = reference_estate()
    found = planned(estate, people)
    alice, bob = people["alice"], people["bob"]

    def step_deployed() -> Step:
        step = services.campaign_promote(actor=alice, campaign=found)
        steps.step_start(step.id, "test")
        services.step_approve(actor=bob, step=Step.objects.get(pk=step.id))
        step.refresh_from_db()
        deployed(step)
        steps.campaign_evaluate(found.id)  # the bake begins
        return step

    step_deployed()
    for stack in estate:
        verified(stack, secured=True)
    steps.campaign_evaluate(found.id, now=timezone.now() + timedelta(seconds=61))
    failing = step_deployed()
    for stack in estate:
        verified(stack, secured=True, refused=3)
    assert steps.campaign_evaluate(found.id) == StepStatus.FAILED
    asked = services.gate_skip_request(actor=alice, step=failing, reason=REASON)
    services.gate_skip_approve(actor=bob, action=asked)
    services.campaign_promote(actor=alice, campaign=found)  # the last cohort: pending
    found.refresh_from_db()
    return SimpleNamespace(campaign=found, people=people, estate=estate)


def _stored(campaign: Campaign, kind: str = ScopeKind.ESTATE, scope: Any = None) -> Any:
    now = timezone.now()
    return SimpleNamespace(
        scope=resolve_scope(
            Assessment(scope_kind=kind, scope=scope or {}, period_start=now, period_end=now)
        ),
        start=now - timedelta(days=1),
        end=now + timedelta(hours=1),
    )


def _evidence(kind: str = ScopeKind.ESTATE, scope: Any = None) -> list[dict[str, Any]]:
    found = _stored(Campaign(), kind, scope)
    return campaign_evidence(found.scope, found.start, found.end)


def _judged(campaigns: list[dict[str, Any]]) -> tuple[str, list[str]]:
    verdict = check_campaign_gates(SimpleNamespace(campaigns=campaigns), None)  # type: ignore[arg-type]
    if not verdict.findings:
        return verdict.empty[0], [verdict.empty[1]]
    worst = FAIL if any(f.outcome == FAIL for f in verdict.findings) else PASS
    return worst, [f.text for f in verdict.findings]


@pytest.mark.slow
def test_the_pack_prints_and_oscal_carries_the_stored_campaign(campaign, tmp_path) -> None:
    stored_campaign = campaign.campaign
    now = timezone.now()
    pending = assessment_create(
        actor=campaign.people["carol"],
        scope_kind=ScopeKind.ESTATE,
        scope={},
        period_start=now - timedelta(days=1),
        period_end=now + timedelta(hours=1),  # the pilot's bake ended in the test's future
    )
    assessment = Assessment.objects.select_related("created_by").get(
        pk=assessment_execute(assessment=pending).pk
    )
    (stored,) = assessment.report["campaigns"]

    # The report holds the campaign's frozen baseline, unchanged, and its steps as stored.
    assert stored["baseline"] == stored_campaign.baseline["totals"]
    assert stored["end_state"] is None  # not finished
    assert [(s["position"], s["promotion"]) for s in stored["steps"]] == [
        (0, GATE_PASSED),
        (1, FOUR_EYES_SKIP),
        (2, None),
    ]
    pilot, skipped, last = stored["steps"]
    assert dict(pilot["evaluations"]) == {"passing": 1, "failed": 0, "waiting": 0}
    assert pilot["verdict"] == "passing"
    assert len(pilot["versions"]) == 2 and pilot["deployment"]["approved_by"] == "bob"
    assert pilot["impact"]["targets"] and all(
        t["stack"] in {s.label for s in campaign.estate} for t in pilot["impact"]["targets"]
    )
    refusals = next(k for k in skipped["checks"] if k["check"] == "refusals")
    assert refusals["verdict"] == "failed" and refusals["value"] > 0
    assert skipped["skip"]["requested_by"] == "alice" and skipped["skip"]["approved_by"] == "bob"
    assert skipped["skip"]["reason"] == REASON and skipped["skip"]["four_eyes"] is True
    assert stored["skipped_gates"] == [1]
    assert last["status"] == StepStatus.PENDING and not last["promoted"]
    control = assessment.results.get(control_id=oscal.CAMPAIGN_CONTROL)
    assert control.outcome == PASS, control.rationale
    assert "CM-3" in control.sp800_53 and "CM-4" in control.sp800_53

    # The PDF prints the stored figures and flags the skipped gate.
    results = list(assessment.results.select_related("exception__owner"))
    context = evidence.pack_context(
        assessment=assessment,
        results=results,
        pack_uuid=uuid.uuid4(),
        generated_by=campaign.people["carol"],
        generated_at=now,
        manifest=evidence.manifest_of(assessment.report["manifest_runs"]),
    )
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(evidence.render_pdf(context))
    text = squash(pdf_text(pdf))
    section = text.split("Rollout campaigns")[-1].split("Design changes in the period")[0]
    baseline = stored_campaign.baseline["totals"]
    assert f"Coverage {baseline['coverage']} % → {NOT_YET}" in section
    assert f"Deprecated protocols share {baseline['deprecated_share']} % → {NOT_YET}" in section
    assert f"Refused attempts {baseline['refused']} → {NOT_YET}" in section
    assert "gate skipped at step 1" in section
    printed = section.split("Step 1:")[1].split("Step 2:")[0]
    assert "GATE SKIPPED: asked by alice, approved by bob on" in printed
    assert REASON in printed and "WITHOUT A SECOND PERSON" not in printed
    assert "Promoted: skipped with four eyes." in printed
    assert "Promoted: gate passed." in section.split("Step 0:")[1].split("Step 1:")[0]

    # OSCAL: one observation per step, sourced, the skip flagged; the finding relates them.
    document = oscal.assessment_results(assessment, results=results)
    assert oscal.validate(document) == []
    result = document["assessment-results"]["results"][0]
    gates = [o for o in result["observations"] if o["title"].startswith("Gate of campaign")]
    assert len(gates) == 3
    flagged = next(o for o in gates if "step 1" in o["title"])
    props = {p["name"]: p["value"] for p in flagged["props"]}
    assert props["gate-skipped"] == "true" and props["skip-four-eyes"] == "true"
    assert (props["skip-requested-by"], props["skip-approved-by"]) == ("alice", "bob")
    assert "GATE SKIPPED" in flagged["description"] and REASON in flagged["description"]
    assert [e["description"] for e in flagged["relevant-evidence"]] == [
        oscal.GATE_SOURCE,
        oscal.SKIP_SOURCE,
    ]
    (finding,) = [f for f in result["findings"] if f["target"]["target-id"] == control.control_id]
    related = {r["observation-uuid"] for r in finding["related-observations"]}
    assert {o["uuid"] for o in gates} <= related


def test_the_control_fails_a_step_promoted_on_a_failed_gate_or_a_lone_skip(campaign) -> None:
    outcome, texts = _judged(_evidence())
    assert outcome == PASS, texts

    # Rows the services refuse to write: a skip approved by its requester, a pilot marked
    # failed while the next cohort went on. The control names both steps.
    ActionRequest.objects.filter(step__position=1).update(approved_by=campaign.people["alice"])
    Step.objects.filter(campaign=campaign.campaign, position=0).update(status=StepStatus.FAILED)
    campaigns = _evidence()
    assert [s["promotion"] for s in campaigns[0]["steps"][:2]] == [
        "promoted without a passed gate",
        LONE_SKIP,
    ]
    assert campaigns[0]["steps"][1]["skip"]["four_eyes"] is False
    outcome, texts = _judged(campaigns)
    assert outcome == FAIL
    failed = [t for t in texts if "step 0" in t or "step 1" in t]
    assert len(failed) == 2
    assert "asked by alice, approved by alice" in failed[1]


def test_the_control_is_not_applicable_without_a_campaign_in_the_period(campaign) -> None:
    found = _stored(campaign.campaign)
    # a period that ended before the campaign's first step (an unfinished step belongs to
    # every period after it began)
    earlier = found.start - timedelta(days=10)
    assert campaign_evidence(found.scope, earlier, earlier + timedelta(days=1)) == []
    assert len(campaign_evidence(found.scope, found.start, found.end)) == 1
    outcome, texts = _judged([])
    assert outcome == NA and "no rollout campaign" in texts[0]


def test_an_owners_pack_holds_only_the_steps_and_figures_of_its_services(campaign) -> None:
    stored = campaign.campaign
    pilot = stored.cohorts.get(position=0)
    service = pilot.services.select_related("stack__lpar").order_by("id").first()
    (mine,) = _evidence(ScopeKind.SERVICE, {"service": str(service.uuid)})

    assert mine["services"] == 1
    assert [s["position"] for s in mine["steps"]] == [0]  # its cohort's step only
    (step,) = mine["steps"]
    assert step["services"] == [f"{service.stack.label}/{service.name}"]
    assert [stack for stack, _ in step["versions"]] == [service.stack.label]
    assert [t["stack"] for t in step["impact"]["targets"]] == [service.stack.label]
    # its baseline: the campaign's stored figures of this service and its stack, summed the
    # way the campaign summed them all
    key, stack_key = str(service.id), str(service.stack_id)
    assert mine["baseline"] == figures.totals(
        {key: stored.baseline["services"][key]}, {stack_key: stored.baseline["stacks"][stack_key]}
    )
    assert mine["baseline"]["services"] == 1
    # a service of a later cohort sees that cohort's step, not the pilot's
    high = stored.cohorts.get(position=2).services.order_by("id").first()
    (theirs,) = _evidence(ScopeKind.SERVICE, {"service": str(high.uuid)})
    assert [s["position"] for s in theirs["steps"]] == [2]
