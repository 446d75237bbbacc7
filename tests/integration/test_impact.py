"""Change impact against lparsim with a real worker: before v1, who will break; after, who did.

One scenario on the reference data center, before any AT-TLS: the portal collects zERT
(what every client negotiates with the applications' own TLS, or cleartext), the architect
publishes v1 and an operator requests its deployment, which carries its prediction. The
test holds the prediction to lparsim's client populations, read from the scenario file
(the portal never reads them): will-break is exactly the cleartext clients and the TLS
1.0/1.1 clients of the services v1 secures, and CLEARHOUSE, which rejects any TLS 1.3
offer, is untested with a refused pre-check. Approval is refused without an
acknowledgement (page and API); after deploying v1 anyway every refused peer was predicted
and no safe peer was refused; a client that appears after the prediction and is refused
opens an "unpredicted refusal" incident; removing CLEARHOUSE's rule is predicted safe for
it and it is not refused afterwards, while the clients v1 refuses are marked unchanged by
that removal (their rules stay): no acknowledgement is asked, and their refusals after it
are neither hits nor misses of the prediction.

Every client population in the scenario connects from its own loopback address (its `sim:`
keys; the portal ignores them), so each is one peer to the portal, as real clients are.
"""

from __future__ import annotations

import re
import socket
import ssl

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from attls.policy import parse_policy
from fleet import services as fleet
from fleet.impact import compare
from fleet.impact.models import ImpactAcknowledgement, ImpactPrediction
from fleet.models import (
    Deployment,
    Incident,
    IncidentKind,
    LparConnection,
    RunStatus,
    VerificationRun,
    ZertRun,
    ZertSource,
)
from fleet.zert import collect
from lparsim import zert as lparsim_zert

from .conftest import Lab, wait_for
from .test_deployment import finished, publish, steps, sysa

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERVAL = 8  # seconds between SYSA's verifications here
PARTNER_RULE = "MQ_Channel_to_Clearing_House"
LEGACY = {"TLSv1", "TLSv1.1"}
NEW_PEER = "127.99.0.1"


def policy_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name)


def expected_will_break(lab: Lab, rules: set[str]) -> set[tuple[str, str]]:
    """(service, client address) of every cleartext or TLS 1.0/1.1-only population of an
    inbound service v1 secures, from the scenario as lparsim loaded it."""
    found = set()
    for service in lab.lpar().config.services:
        if service.direction != "Inbound" or policy_name(service.name) not in rules:
            continue
        for population in service.populations:
            versions = {p.value for p in population.protocols}
            if population.cleartext or versions <= LEGACY:
                found.add((policy_name(service.name), population.source_address))
    return found


def _all_populations_seen(lab: Lab) -> bool:
    seen = {
        (line["service"], line["remote"][0])
        for line in lparsim_zert.read_connection_log(lab.lpar())
    }
    for service in lab.lpar().config.services:
        if service.direction == "Inbound":
            wanted = {(service.name, p.source_address) for p in service.populations}
            if not wanted <= seen:
                return False
        elif not any(name == service.name for name, _ in seen):
            return False
    return True


def _collect(connection: LparConnection) -> ZertRun:
    with transaction.atomic():
        run = collect.run_request(connection=connection)
    return wait_for(
        lambda: (
            (r := ZertRun.objects.get(pk=run.pk)).status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
            and r
        ),
        timeout=60,
        what="the zERT run of SYSA",
    )


def _tls10_client(port: int, source: str) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with (
            socket.create_connection(
                ("127.0.0.1", port), timeout=5, source_address=(source, 0)
            ) as raw,
            context.wrap_socket(raw) as tls,
        ):
            return str(tls.version())
    except (ssl.SSLError, OSError) as error:
        return f"refused: {error.__class__.__name__}"


def test_v1_prediction_matches_the_populations_and_the_outcome_matches_the_prediction(
    estate: Lab,
) -> None:
    stack = sysa()
    connection = LparConnection.objects.get(lpar=stack.lpar)
    for lpar in estate.simulator.lpars.values():
        lpar.zert.init_after = 1.0
    LparConnection.objects.filter(pk=connection.pk).update(
        enabled=True, verification_interval=INTERVAL, zert_source=ZertSource.JOB
    )
    wait_for(
        lambda: VerificationRun.objects.filter(stack=stack, status=RunStatus.SUCCEEDED).exists(),
        timeout=60,
        what="a first verification (baseline captured, syslog read from there on)",
    )
    wait_for(lambda: _all_populations_seen(estate), timeout=60, what="every population's Init")
    run = _collect(LparConnection.objects.get(pk=connection.pk))
    assert run.status == RunStatus.SUCCEEDED, (run.error, run.steps)

    # --- before: the prediction stored with the request --------------------------------------
    v1 = publish(stack)
    rules = set(parse_policy(v1.text).rules)
    operator = User.objects.get(username="operator")
    deployment = fleet.deployment_request(actor=operator, targets=[(stack, v1)], note="v1")
    prediction = ImpactPrediction.objects.get(target__deployment=deployment)
    assert not prediction.error, prediction.error
    peers = {(p["service"], p["remote_address"]): p for p in prediction.peers}
    will_break = {key for key, p in peers.items() if p["verdict"] == "will-break"}
    expected = expected_will_break(estate, rules)
    assert expected, "the scenario has cleartext and TLS 1.0/1.1 clients"
    assert will_break == expected, (will_break ^ expected, prediction.peers)
    for key in expected:
        assert peers[key]["reason"], peers[key]
    clearhouse = estate.simulator.partners["CLEARHOUSE"].config
    partner = peers[(PARTNER_RULE, clearhouse.address)]
    assert partner["verdict"] == "untested", partner
    assert partner["precheck"]["outcome"] == "refused", partner["precheck"]
    assert prediction.counts["precheck-refused"] >= 1
    # The other partners accept the TLS 1.3 offer: untested, but their pre-check passed.
    others = [
        p for p in prediction.peers if p["verdict"] == "untested" and p["service"] != PARTNER_RULE
    ]
    assert all(p["precheck"]["outcome"] == "accepted" for p in others), others
    assert prediction.per_day["affected"] > 0

    # --- deciding: approval refused without an acknowledgement, through the page and the API
    reviewer = User.objects.get(username="operator2")
    page = Client()
    page.force_login(reviewer)
    detail = page.get(reverse("fleet:deployment", args=[deployment.uuid])).content.decode()
    assert 'data-testid="acknowledge-impact"' in detail
    assert 'data-verdict="will-break"' in detail
    refused = page.post(reverse("fleet:deployment-approve", args=[deployment.uuid]))
    assert refused.status_code == 400
    assert "will break" in refused.content.decode()
    api = APIClient()
    api.force_authenticate(reviewer)
    approve_url = f"/api/fleet/deployments/{deployment.uuid}/approve/"
    answer = api.post(approve_url, {}, format="json")
    assert answer.status_code == 400, answer.content
    assert len(answer.json()["will_break"]) == len(expected) + 1  # and CLEARHOUSE's pre-check
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.PENDING
    assert not ImpactAcknowledgement.objects.exists()

    reason = "Cleartext and TLS 1.0 clients are to be cut off; owners informed."
    answer = api.post(approve_url, {"acknowledge_impact": reason}, format="json")
    assert answer.status_code == 202, answer.content
    assert ImpactAcknowledgement.objects.get(deployment=deployment).reason == reason
    done = finished(deployment)
    assert done.status == RunStatus.SUCCEEDED, (done.error, steps(done))
    estate.fault("drop")  # sessions opened before the refresh end now

    # --- after: every peer predicted to break is refused, and nothing else -------------------
    target = done.targets.get()

    def all_refused() -> compare.Comparison | None:
        result = compare.compare_target(target)
        counts = result.counts
        return result if result.compared and counts[compare.PREDICTED_FINE] == 0 else None

    result = wait_for(
        all_refused, timeout=6 * INTERVAL + 30, what="every predicted peer to be refused"
    )
    assert result.counts[compare.UNPREDICTED] == 0, [
        (p.service, p.peer, p.verdict) for p in result.peers if p.outcome == compare.UNPREDICTED
    ]
    refused_peers = {(p.service, p.peer) for p in result.peers if p.refused}
    assert refused_peers == expected | {(PARTNER_RULE, clearhouse.address)}
    safe = {key for key, p in peers.items() if p["verdict"] == "safe"}
    assert not refused_peers & safe
    scores = compare.fleet_scores()
    assert scores.recall == 1.0 and scores.precision == 1.0, scores
    page_text = page.get(reverse("fleet:deployment", args=[deployment.uuid])).content.decode()
    assert 'data-testid="impact-comparison"' in page_text
    assert 'data-testid="recall">100%' in page.get(reverse("fleet:impact-scores")).content.decode()

    # --- a client the prediction never saw, refused: an "unpredicted refusal" incident --------
    port = estate.service("TN3270 Secure").host_port
    assert _tls10_client(port, NEW_PEER).startswith("refused")

    def listing_new_peer() -> Incident | None:
        incident = Incident.objects.filter(
            stack=stack, kind=IncidentKind.UNPREDICTED_REFUSAL, key="unpredicted:TN3270_Secure"
        ).first()
        listed = (
            [p["address"] for p in (incident.details or {}).get("peers", [])] if incident else []
        )
        return incident if NEW_PEER in listed else None

    incident = wait_for(
        listing_new_peer,
        timeout=4 * INTERVAL + 30,
        what="the service's unpredicted-refusal incident, listing the new client",
    )
    assert incident.summary.startswith("Unpredicted refusal")
    assert NEW_PEER in incident.summary
    assert incident.preceded_by_id == deployment.pk
    assert incident.details["service"] == "TN3270_Secure"
    (new_peer,) = [p for p in incident.details["peers"] if p["address"] == NEW_PEER]
    assert new_peer["predicted"] == compare.UNKNOWN_PEER and new_peer["refused"] >= 1

    # --- removing CLEARHOUSE's rule: predicted safe for it, and it is not refused after -------
    removal = fleet.remove_rule(actor=operator, stack=stack, rule=PARTNER_RULE)
    removal_prediction = ImpactPrediction.objects.get(target__deployment=removal)
    after = {(p["service"], p["remote_address"]): p for p in removal_prediction.peers}
    assert after[(PARTNER_RULE, clearhouse.address)]["verdict"] == "safe", after
    # The clients v1 refuses are refused by v1 without CLEARHOUSE's rule alike: their rules
    # stay as they are, so the change does not affect them. Their verdict stays, for
    # information, marked unchanged; none is counted as breaking, nothing to acknowledge.
    for key in expected:
        assert after[key]["verdict"] == "will-break" and after[key]["unchanged"], after[key]
        assert after[key]["reason"].startswith("unchanged by this candidate: ")
    assert fleet.breaking_peers(removal) == []
    assert removal_prediction.will_break == 0, removal_prediction.counts
    # A rule removal waits for another operator (four eyes); no acknowledgement is asked.
    removal = fleet.deployment_approve(deployment=removal, actor=reviewer)
    assert not ImpactAcknowledgement.objects.filter(deployment=removal).exists()
    removed = finished(removal)
    assert removed.status == RunStatus.SUCCEEDED, (removed.error, steps(removed))
    removal_target = removed.targets.get()
    checked_from = compare.boundary(removal_target)
    assert checked_from is not None
    # Two syslog stretches that began after the change, each long enough for the MQ channel
    # (it reconnects every few seconds) to have been refused again if it still were.
    wait_for(
        lambda: (
            VerificationRun.objects.filter(
                stack=stack, status=RunStatus.SUCCEEDED, started_at__gt=checked_from
            ).count()
            >= 2
        ),
        timeout=4 * INTERVAL + 30,
        what="two verifications after the removal",
    )
    outcome = compare.compare_target(removal_target)
    assert outcome.compared
    assert not [p for p in outcome.peers if p.service == PARTNER_RULE], outcome.peers
    assert not [p for p in outcome.peers if p.outcome == compare.UNPREDICTED], outcome.peers
    # Refused as before (the clients v1 refuses): neither a hit nor a miss of this prediction.
    as_before = {
        (p.service, p.peer) for p in outcome.peers if p.outcome == compare.UNCHANGED_REFUSED
    }
    assert as_before and as_before <= expected, outcome.peers
    assert not [p for p in outcome.peers if p.outcome == compare.PREDICTED_FINE], outcome.peers
    assert not [p for p in outcome.peers if p.outcome == compare.PREDICTED_REFUSED]
