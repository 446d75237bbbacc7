"""The lab step replays the production peers against LAB1, with the worker and lparsim.

SYSA's peers are known from zERT (collected here, before any AT-TLS). The campaign covers a
few SYSA services with LAB1 as its lab: the lab step deploys their rules on LAB1, then the
worker replays each production peer's profile against the lab copy of its service.

- CLEARHOUSE, the partner that aborts any ClientHello offering TLS 1.3, is refused in the lab,
  as the prediction said (untested, its pre-check refused); TN3270's TLS 1.0/1.1 clients are
  refused too (predicted will-break), the modern clients accepted. The lab's verification
  counts none of the replay's refusals as its clients', and the lab gate passes.
- The lab copy of the ACME Bank channel is pointed at CLEARHOUSE (a lab partner that differs
  from production's): ACME's peer, predicted safe, is refused in the lab, the lab-replay check
  fails and the campaign holds.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from fleet.models import LparConnection, RunStatus, VerificationRun, ZertSource
from policies.models import Service, Stack
from rollouts import services
from rollouts.models import (
    Campaign,
    CampaignStatus,
    Check,
    LabReplay,
    LabReplayPeer,
    ReplayMatch,
    ReplayStatus,
    Step,
    StepStatus,
)
from rollouts.report import campaign_report

from .conftest import Lab, wait_for
from .test_campaign import GATES, people, step_reaches
from .test_impact import _all_populations_seen, _collect

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERVAL = 5
BAKE = 4
PARTNER_RULE = "MQ_Channel_to_Clearing_House"
# LAB1's own clients AT-TLS would refuse, and its channel to CLEARHOUSE, idle: the lab gate is
# about the replay here.
LAB_IDLE = ("TN3270 Secure/legacy", "FTP Server/scripts", "MQ Channel to Clearing House/channels")


def _peers_known(estate: Lab) -> None:
    """SYSA verified once and its zERT collected: the portal knows its peers."""
    sysa = Stack.objects.get(lpar__name="SYSA")
    for lpar in estate.simulator.lpars.values():
        lpar.zert.init_after = 1.0
    LparConnection.objects.filter(lpar__name="SYSA").update(
        enabled=True, verification_interval=INTERVAL, zert_source=ZertSource.JOB
    )
    wait_for(
        lambda: VerificationRun.objects.filter(stack=sysa, status=RunStatus.SUCCEEDED).exists(),
        timeout=60,
        what="a first verification of SYSA",
    )
    wait_for(lambda: _all_populations_seen(estate), timeout=60, what="every population's Init")
    run = _collect(LparConnection.objects.get(lpar__name="SYSA"))
    assert run.status == RunStatus.SUCCEEDED, (run.error, run.steps)


def _campaign(estate: Lab, names: list[str], gates: dict[str, dict[str, float]]) -> Campaign:
    alice, _ = people()
    sysa = Stack.objects.get(lpar__name="SYSA")
    lab = Stack.objects.get(lpar__name="LAB1")
    for population in LAB_IDLE:
        estate.admin(f"/lpars/LAB1/populations/{population}", {"clients": 0})
    LparConnection.objects.filter(lpar__name="LAB1").update(
        enabled=True, verification_interval=INTERVAL
    )
    wait_for(
        lambda: VerificationRun.objects.filter(stack=lab, status=RunStatus.SUCCEEDED).exists(),
        timeout=60,
        what="a first verification of LAB1",
    )
    campaign = services.campaign_create(
        actor=alice,
        name="SYSA with a lab",
        stacks=[sysa],
        lab_stack=lab,
        bake_seconds=BAKE,
        gates=gates,
        services=list(Service.objects.filter(stack=sysa, name__in=names)),
    )
    services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    services.campaign_design_complete(actor=alice, campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def _lab_step(estate: Lab, campaign: Campaign) -> Step:
    from django.contrib.auth.models import User

    step = services.campaign_promote(actor=campaign.created_by, campaign=campaign)
    assert step is not None
    step = step_reaches(step, StepStatus.REQUESTED, timeout=60)
    services.step_approve(actor=User.objects.get(username="bob"), step=step)
    return step_reaches(step, StepStatus.BAKING, StepStatus.FAILED)


def _replayed(estate: Lab, step: Step) -> LabReplay:
    """The step's replay once done; then LAB1's sessions from before the refresh are ended
    (not during it: a drop can close a replay handshake in flight, which reads as a refusal)."""
    replay = wait_for(
        lambda: (
            (r := LabReplay.objects.filter(step=step).first()) is not None
            and r.status in (ReplayStatus.DONE, ReplayStatus.FAILED)
            and r
        ),
        timeout=60,
        what="the lab replay",
    )
    estate.fault("drop", lpar="LAB1")
    return replay


def test_the_lab_replays_clearhouse_and_the_legacy_clients_as_predicted_and_passes(
    estate: Lab,
) -> None:
    try:
        _peers_known(estate)
        campaign = _campaign(
            estate,
            ["MQ_Channel_to_Clearing_House", "TN3270_Secure", "CICS_Payments_API"],
            GATES,
        )
        step = _lab_step(estate, campaign)
        replay = _replayed(estate, step)
        assert replay.status == ReplayStatus.DONE, replay.error
        peers = {(p.service, p.peer): p for p in replay.peers.all()}
        clearhouse = estate.simulator.partners["CLEARHOUSE"].config
        partner = peers[(PARTNER_RULE, clearhouse.address)]
        assert partner.outcome == "refused", (partner.reason, partner.target)
        assert "protocol_version" in partner.reason, partner.reason
        assert partner.verdict == "untested" and partner.predicted_breaks
        assert partner.match == ReplayMatch.EXPECTED
        assert partner.lab_service == PARTNER_RULE and partner.offer.startswith("TLSv1.2")
        tn3270 = estate.service("TN3270 Secure")
        by_source = {p.name: p for p in tn3270.populations}
        legacy = peers[("TN3270_Secure", by_source["legacy"].source_address)]
        assert legacy.outcome == "refused" and legacy.match == ReplayMatch.EXPECTED, legacy
        modern = peers[("TN3270_Secure", by_source["modern"].source_address)]
        assert modern.outcome == "accepted" and modern.match == ReplayMatch.AS_PREDICTED, modern
        # Before AT-TLS the application spoke TLS 1.2 at most: that is what the client is known by.
        assert modern.version == "TLSv1.2" and modern.target.startswith("127.0.0.1:")
        assert modern.inferred and modern.profile["observed"]  # the client cert is inferred
        assert not replay.peers.filter(match=ReplayMatch.UNPREDICTED).exists(), [
            (p.service, p.peer, p.reason) for p in replay.peers.filter(match="unpredicted")
        ]

        step = step_reaches(step, StepStatus.PASSED, timeout=90)
        check = step.verdict["checks"][Check.LAB_REPLAY]
        assert check["verdict"] == "passing" and check["value"] == 0, check
        assert any(line.startswith("expected: SYSA/TCPIP MQ_Channel") for line in check["evidence"])
        # The replay's refusals on LAB1 (TN3270's TLS 1.0 client) are the portal's own.
        assert step.verdict["checks"][Check.REFUSALS]["value"] == 0, step.verdict

        row = campaign_report(campaign)["steps"][0]["lab_replay"]
        assert row["status"] == "done"
        assert {(p["service"], p["peer"], p["matched"]) for p in row["peers"]} >= {
            (PARTNER_RULE, clearhouse.address, True)
        }
        page = Client()
        page.force_login(campaign.created_by)
        html = page.get(reverse("rollouts:campaign", args=[campaign.uuid])).content.decode()
        assert 'data-testid="lab-replay"' in html and 'data-match="expected"' in html
    finally:
        for population in LAB_IDLE:  # the scenario's number, 1 each
            estate.admin(f"/lpars/LAB1/populations/{population}", {"clients": 1})


def test_a_peer_the_lab_refuses_unpredicted_fails_the_lab_gate_and_holds(estate: Lab) -> None:
    _peers_known(estate)
    gates = {**GATES, Check.LAB_REPLAY: {"threshold": 0, "failure_limit": 0}}
    campaign = _campaign(estate, ["MQ_Channel_to_ACME_Bank"], gates)
    # The lab's ACME channel reaches CLEARHOUSE instead (the lab's partner differs).
    clearhouse = estate.simulator.partners["CLEARHOUSE"].config
    copy = campaign.cohorts.get(position=0).services.get(name="MQ_Channel_to_ACME_Bank")
    Service.objects.filter(pk=copy.pk).update(
        remote_address=clearhouse.address, remote_port_low=1416, remote_port_high=1416
    )
    try:
        step = _lab_step(estate, campaign)
        replay = _replayed(estate, step)
        assert replay.status == ReplayStatus.DONE, replay.error
        acme = LabReplayPeer.objects.get(replay=replay, service="MQ_Channel_to_ACME_Bank")
        assert acme.outcome == "refused" and not acme.predicted_breaks, acme.reason
        assert acme.match == ReplayMatch.UNPREDICTED
        step = step_reaches(step, StepStatus.FAILED, timeout=90)
    finally:
        for population in LAB_IDLE:
            estate.admin(f"/lpars/LAB1/populations/{population}", {"clients": 1})
    assert "lab-replay" in step.error, step.error
    check = step.verdict["checks"][Check.LAB_REPLAY]
    assert any("unpredicted: SYSA/TCPIP MQ_Channel_to_ACME_Bank" in e for e in check["evidence"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.HELD
