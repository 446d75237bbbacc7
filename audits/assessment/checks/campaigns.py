"""Check of SP 800-53 CM-3 and CM-4 for rollout campaigns, with SP 800-207's continuous
monitoring (tenet 5): every step promoted in the period had its gate passed on its bake
time's verifications, or a skip asked by one operator and approved by another.

What is judged is the list audits/campaigns.py builds from what rollouts stored (the same list
the pack prints): a step's `promotion` says how it left its gate.
"""

from __future__ import annotations

from audits.assessment.checks.registry import check
from audits.assessment.facts import FAIL, NA, PASS, Context, Finding, Verdict
from audits.campaigns import PROMOTED_OK
from audits.catalog import Control


@check("campaign_gates")
def check_campaign_gates(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    for campaign in ctx.campaigns:
        name = f"campaign {campaign['name']}"
        promoted = [s for s in campaign["steps"] if s["promoted"]]
        if not promoted:
            verdict.findings.append(
                Finding(PASS, f"{name}: no step promoted in the period, nothing passed a gate")
            )
        for step in promoted:
            what = f"{name} step {step['position']} ({step['cohort']})"
            skip = step["skip"]
            text = f"{what}: {step['promotion']}"
            if skip is not None:
                text += (
                    f" (asked by {skip['requested_by']}, approved by"
                    f" {skip['approved_by'] or 'nobody'}: {skip['reason']})"
                )
            elif step["promotion"] not in PROMOTED_OK:
                text += f" (last verdict: {step['verdict'] or 'none'})"
            outcome = PASS if step["promotion"] in PROMOTED_OK else FAIL
            verdict.findings.append(Finding(outcome, text))
    verdict.evidence["campaigns"] = [c["name"] for c in ctx.campaigns]
    verdict.empty = (NA, "no rollout campaign had a step in the period")
    return verdict
