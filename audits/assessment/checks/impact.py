"""Check of SP 800-53 CM-4 (impact analyses), with SP 800-207's continuous diagnostics: every
deployment in the period carried a prediction of who it would break, breakage was accepted
with a reason before approval, and the refusals after it were compared with the prediction.

What is judged is what fleet.impact stored (the prediction with each target, the
acknowledgement with the deployment) and computed (the comparison), read through
audits.period.change_impact as the evidence pack's report reads it; nothing is re-derived.
"""

from __future__ import annotations

from audits import period
from audits.assessment.checks.registry import check
from audits.assessment.facts import PASS, UNKNOWN, WARN, Context, Finding, Verdict
from audits.catalog import Control
from audits.scope import scoped_targets
from fleet.impact import compare


@check("change_impact")
def check_change_impact(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    stacks = {s.id: s for s in ctx.stacks}
    for deployment in ctx.deployments:
        if deployment.started_at is None:
            continue  # never ran: no change to analyse
        short = str(deployment.uuid)[:8]
        ack, comparisons = period.change_impact(
            deployment, scoped_targets(deployment), ctx.period_end
        )
        for result in comparisons:
            stack = stacks.get(result.target.stack_id)
            if stack is None:
                continue
            prediction = result.prediction
            if prediction is None or prediction.error:
                why = prediction.error if prediction is not None else "none was stored"
                verdict.findings.append(
                    Finding(
                        UNKNOWN,
                        f"deployment {short} to {stack.label}: no impact analysis ({why})",
                        stack=stack,
                    )
                )
                continue
            counts = ", ".join(f"{n} {v}" for v, n in prediction.counts.items() if n)
            text = f"deployment {short} of {prediction.candidate} to {stack.label}: predicted"
            text += f" {counts or 'no peer'}"
            outcome = PASS
            if prediction.will_break:
                if ack is not None:
                    text += (
                        f"; breakage accepted by {ack.by.get_username()} before approval:"
                        f" {ack.reason}"
                    )
                else:
                    outcome = WARN
                    text += "; approved without an acknowledgement (emergency path)"
            if result.compared:
                outcome_counts = result.counts
                text += "; after it: " + ", ".join(
                    f"{n} {compare.OUTCOME_LABELS[k]}" for k, n in outcome_counts.items()
                )
                if outcome_counts[compare.UNPREDICTED]:
                    outcome = WARN
            verdict.findings.append(Finding(outcome, text, stack=stack))
    verdict.empty = (UNKNOWN, "no deployment ran in the period: no impact analysis to show")
    return verdict
