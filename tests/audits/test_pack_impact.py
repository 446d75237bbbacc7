"""Change impact in the evidence pack (issue 15): per deployment, the prediction stored with
it, the acknowledgement and the comparison after it, as the assessment's report stored them;
the PDF prints those figures and OSCAL carries them as observations whose source is the
stored prediction.

On the reference estate, SYSA's pending v2 deployment is predicted again once a cleartext
client and a TLS 1.2 client of CICSWEB1 have been seen (fleet.impact's own prediction), then
approved with an acknowledgement and run; afterwards AT-TLS refuses the cleartext client
(predicted and refused) and a peer nobody had seen (unpredicted refusal). The estate's
earlier deployment has lost its prediction: the pack says so and OSCAL has no observation
of it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from audits import evidence, oscal
from audits.assessing import assessment_execute
from audits.models import Assessment, ScopeKind
from audits.services import assessment_create
from audits.templatetags.audits_pdf import impact_label
from fleet.impact import history
from fleet.impact.models import ImpactPrediction
from fleet.impact.predict import prediction_store
from fleet.services import DeploymentNeedsConfirmation, deployment_approve
from tests.audits.estate import build_assessed
from tests.audits.test_evidence import pdf_text, squash
from tests.fleet.test_impact import CLIENT, refused, runs_without_service_a, seen
from tests.fleet.ui_estate import _succeed

STRANGER = "10.9.9.9"  # never seen before the change
REASON = "The web team retires its cleartext client this week."


def test_the_pack_prints_and_oscal_carries_the_stored_change_impact(make_user, tmp_path) -> None:
    fleet = build_assessed(make_user).fleet
    web = fleet.service_a
    seen(web, CLIENT)  # cleartext on a port v2 secures: will break
    seen(web, "10.1.1.2", "app-tls", "TLSv1.2", "C02F")  # safe
    # SYSA runs v2 without CICSWEB1's rule: the pending v2 brings it back, a change for its
    # peers (a peer whose rule stays the same is unchanged, not counted as breaking).
    runs_without_service_a(fleet)
    (target,) = fleet.pending.targets.all()
    prediction = prediction_store(target)
    assert prediction.will_break == 1
    approver = fleet.people["operator2"]
    try:
        deployment_approve(deployment=fleet.pending, actor=approver, acknowledge_impact=REASON)
    except DeploymentNeedsConfirmation as stale:  # v2 went live on SYSA since the request
        deployment_approve(
            deployment=fleet.pending,
            actor=approver,
            acknowledge_impact=REASON,
            confirm_stale=stale.token,
        )
    now = timezone.now()
    deployed = _succeed(fleet.pending, approver, now - timedelta(hours=1))
    history.record_refusals(
        fleet.sysa,
        refused(web.name, (CLIENT, "5003"), (CLIENT, "5003"), (STRANGER, "5003")),
        window_from=now - timedelta(minutes=30),
        read_at=now,
    )
    ImpactPrediction.objects.filter(target__deployment=fleet.deployed).delete()

    pending = assessment_create(
        actor=fleet.people["auditor"],
        scope_kind=ScopeKind.ESTATE,
        scope={},
        period_start=now - timedelta(days=3),
        period_end=now,
    )
    assessment = Assessment.objects.select_related("created_by").get(
        pk=assessment_execute(assessment=pending).pk
    )
    impact = assessment.report["impact"]
    rows = {row["uuid"]: row for row in impact["deployments"]}

    # The report stores fleet.impact's prediction, acknowledgement and comparison unchanged.
    (mine,) = rows[str(deployed.uuid)]["targets"]
    stored = mine["prediction"]
    assert stored["uuid"] == str(prediction.uuid)
    assert dict(stored["counts"])["will-break"] == 1 and dict(stored["counts"])["safe"] >= 1
    assert rows[str(deployed.uuid)]["acknowledgement"] == {
        "by": approver.get_username(),
        "at": rows[str(deployed.uuid)]["acknowledgement"]["at"],
        "reason": REASON,
        "peers": 1,
    }
    compared = dict(mine["comparison"]["counts"])
    assert compared == {
        "predicted-refused": 1,
        "predicted-fine": 0,
        "warned-refused": 0,
        "unpredicted-refusal": 1,
        "unchanged-refused": 0,
    }
    assert [(p["peer"], p["outcome"], p["refused"]) for p in mine["comparison"]["peers"]] == [
        (STRANGER, "unpredicted-refusal", 1),
        (CLIENT, "predicted-refused", 2),
    ]
    (lost,) = rows[str(fleet.deployed.uuid)]["targets"]
    assert lost["prediction"] is None
    # precision and recall of the period: v1's comparison (no peer then) adds nothing to them
    assert impact["compared"] == 2 and (impact["precision"], impact["recall"]) == (1.0, 0.5)
    # the catalog control judged the same comparison
    control = assessment.results.get(control_id=oscal.IMPACT_CONTROL)
    assert "1 predicted and refused" in control.rationale
    assert "1 unpredicted refusal" in control.rationale

    # The PDF prints the stored figures.
    results = list(assessment.results.select_related("exception__owner"))
    context = evidence.pack_context(
        assessment=assessment,
        results=results,
        pack_uuid=uuid.uuid4(),
        generated_by=fleet.people["auditor"],
        generated_at=now,
        manifest=evidence.manifest_of(assessment.report["manifest_runs"]),
    )
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(evidence.render_pdf(context))
    text = squash(pdf_text(pdf))
    section = text.split("Change impact: prediction, acknowledgement, comparison")[1]
    section = section.split("Design changes in the period")[0]
    totals = ", ".join(f"{n} {impact_label(k)}" for k, n in impact["counts"])
    assert f"Over {impact['compared']} compared targets of the period: {totals}" in section
    assert "precision 100 %, recall 50.0 %" in section
    printed = section.split(f"Deployment {str(deployed.uuid)[:8]}")[1].split("Deployment ")[0]
    verdicts = ", ".join(f"{impact_label(v)} {n}" for v, n in stored["counts"])
    assert f"peers of the last {stored['window_days']} days: {verdicts}" in printed
    assert f"Breakage acknowledged by {approver.get_username()}" in printed
    assert REASON in printed
    outcomes = ", ".join(f"{n} {impact_label(k)}" for k, n in mine["comparison"]["counts"])
    assert outcomes in printed
    stranger = f"{web.name} {STRANGER} refused 1\N{MULTIPLICATION SIGN} (unpredicted refusal;"
    assert f"{stranger} prediction: unknown peer)" in printed
    missing = section.split(f"Deployment {str(fleet.deployed.uuid)[:8]}")[1].split("Deployment ")[0]
    assert "No prediction stored." in missing
    assert "Not compared: no prediction to compare with." in missing

    # OSCAL: an observation of the prediction and one of the comparison, sourced.
    document = oscal.assessment_results(assessment, results=results)
    assert oscal.validate(document) == []
    result = document["assessment-results"]["results"][0]
    short = str(deployed.uuid)[:8]
    found = {o["title"]: o for o in result["observations"] if short in o["title"]}
    (predicted,) = [o for t, o in found.items() if t.startswith("Predicted impact")]
    (after,) = [o for t, o in found.items() if t.startswith("Refusals after")]
    props = {p["name"]: p["value"] for p in predicted["props"]}
    assert props["impact-will-break"] == "1"
    assert props["impact-acknowledged-by"] == approver.get_username()
    props = {p["name"]: p["value"] for p in after["props"]}
    assert props["impact-predicted-refused"] == "1"
    assert props["impact-unpredicted-refusal"] == "1"
    resources = {r["uuid"]: r for r in document["assessment-results"]["back-matter"]["resources"]}
    for observation in (predicted, after):
        source = resources[observation["relevant-evidence"][0]["href"][1:]]
        assert source["props"][0]["value"] == str(prediction.uuid)
    assert not [o for o in result["observations"] if str(fleet.deployed.uuid)[:8] in o["title"]]
    (finding,) = [f for f in result["findings"] if f["target"]["target-id"] == control.control_id]
    related = {r["observation-uuid"] for r in finding["related-observations"]}
    assert {predicted["uuid"], after["uuid"]} <= related
