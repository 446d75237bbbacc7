"""The lab replay's records and the lab gate's lab-replay check, on stored rows (the
handshakes themselves: tests/integration/test_lab_replay.py)."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.precheck import PrecheckResult
from policies.models import Stack
from rollouts import gates, replay, services
from rollouts.models import (
    Check,
    CohortKind,
    LabReplay,
    LabReplayPeer,
    ReplayMatch,
    ReplayStatus,
    Step,
    StepStatus,
    Verdict,
)
from tests.rollouts.test_lab import lab  # noqa: F401  (the LAB1 fixture)


@pytest.fixture
def lab_step(estate: list[Stack], lab: Stack, people: dict[str, Any]) -> Step:  # noqa: F811
    campaign = services.campaign_create(
        actor=people["alice"], name="with a lab", stacks=estate, lab_stack=lab, bake_seconds=60
    )
    return Step.objects.create(
        campaign=campaign,
        position=0,
        cohort=campaign.cohorts.get(kind=CohortKind.LAB),
        requested_by=people["alice"],
        versions={str(lab.id): None},
    )


def _row(stack: Stack, peer: str, *, breaks: bool, key: str | None) -> dict[str, Any]:
    return {
        "stack": stack,
        "service": "MQ_Channel_to_Clearing_House",
        "peer": peer,
        "direction": "Outbound",
        "connections_per_day": 2.0,
        "verdict": "untested" if breaks else "safe",
        "predicted_breaks": breaks,
        "profile": {},
        "inferred": False,
        "key": key,
    }


def _result(outcome: str) -> PrecheckResult:
    return PrecheckResult("k", "127.0.0.1", 1416, outcome, f"{outcome} by the partner")


def test_a_peer_without_a_profile_is_stored_as_no_data_never_accepted(
    lab_step: Step, estate: list[Stack]
) -> None:
    found = LabReplay.objects.create(step=lab_step, status=ReplayStatus.RUNNING)
    # Even when some handshake of the replay was accepted, a peer with no plan key (no
    # usable record) is not given it.
    replay._store(
        found,
        [_row(estate[0], "192.0.2.1", breaks=False, key=None)],
        {"out x": _result("accepted")},
    )
    peer = LabReplayPeer.objects.get()
    assert peer.outcome == "no-data" and peer.match == ReplayMatch.NOT_REPLAYED
    assert peer.target == "" and peer.version == ""


@pytest.mark.parametrize(
    ("outcome", "breaks", "match"),
    [
        ("refused", True, ReplayMatch.EXPECTED),
        ("refused", False, ReplayMatch.UNPREDICTED),
        ("accepted", False, ReplayMatch.AS_PREDICTED),
        ("accepted", True, ReplayMatch.NOT_REFUSED),
        ("unreachable", False, ReplayMatch.NOT_REPLAYED),
        ("not-attempted", True, ReplayMatch.NOT_REPLAYED),
        ("no-data", False, ReplayMatch.NOT_REPLAYED),
    ],
)
def test_each_outcome_is_held_to_its_prediction(outcome: str, breaks: bool, match: str) -> None:
    assert replay.match_of(outcome, breaks) == match


def _judge(step: Step) -> dict[str, Any]:
    step.refresh_from_db()
    gathered = gates.gather(step, [])
    return gates.judge(step.campaign, [], gathered)[Check.LAB_REPLAY]


def test_the_lab_gate_waits_for_the_replay_then_fails_on_a_refusal_nobody_predicted(
    lab_step: Step, estate: list[Stack]
) -> None:
    found = LabReplay.objects.create(step=lab_step)
    waiting = _judge(lab_step)
    assert waiting["verdict"] == Verdict.WAITING
    assert gates.overall({Check.LAB_REPLAY: waiting}) == Verdict.WAITING  # it holds the step

    replay._store(
        found,
        [
            _row(estate[0], "192.0.2.1", breaks=True, key="a"),
            _row(estate[1], "192.0.2.2", breaks=False, key="b"),
        ],
        {"a": _result("refused"), "b": _result("accepted")},
    )
    LabReplay.objects.filter(pk=found.pk).update(status=ReplayStatus.DONE)
    passing = _judge(lab_step)
    assert passing["verdict"] == Verdict.PASSING and passing["value"] == 0
    assert any(line.startswith("expected: SYSA/TCPIP") for line in passing["evidence"])

    LabReplayPeer.objects.filter(peer="192.0.2.2").update(
        outcome="refused", match=ReplayMatch.UNPREDICTED
    )
    failed = _judge(lab_step)
    assert failed["verdict"] == Verdict.FAILED and failed["value"] == 1
    assert any("unpredicted: SYSB/TCPIP" in line for line in failed["evidence"])


def test_a_replay_that_failed_fails_the_check_and_other_steps_do_not_judge_it(
    lab_step: Step, people: dict[str, Any]
) -> None:
    LabReplay.objects.create(step=lab_step, status=ReplayStatus.FAILED, error="boom")
    check = _judge(lab_step)
    assert check["verdict"] == Verdict.FAILED and "boom" in check["evidence"][0]
    pilot = Step.objects.create(
        campaign=lab_step.campaign,
        position=1,
        cohort=lab_step.campaign.cohorts.get(kind=CohortKind.PILOT),
        requested_by=people["alice"],
    )
    assert Check.LAB_REPLAY not in gates.judge(pilot.campaign, [], gates.gather(pilot, []))


def test_gates_written_before_the_check_existed_still_validate_and_get_its_default(
    estate: list[Stack], people: dict[str, Any]
) -> None:
    from rollouts.models import default_gates

    older = {k: v for k, v in default_gates().items() if k != Check.LAB_REPLAY}
    campaign = services.campaign_create(
        actor=people["alice"], name="older client", stacks=estate, gates=older
    )
    assert campaign.gates[Check.LAB_REPLAY] == {"threshold": 0, "failure_limit": 0}


def test_a_replay_whose_worker_stopped_or_whose_message_was_lost_is_sent_again(
    lab_step: Step, estate: list[Stack], settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from fleet.impact import replay as replaying

    settings.ROLLOUTS_STEP_STALE_SECONDS = 30
    long_ago = timezone.now() - timedelta(
        seconds=replaying.DEADLINE + replay.REPLAY_STALE_MARGIN + 5
    )
    stopped = LabReplay.objects.create(
        step=lab_step, status=ReplayStatus.RUNNING, started_at=long_ago, claimed_by="w1:42"
    )
    replay._store(stopped, [_row(estate[0], "192.0.2.1", breaks=False, key=None)], {})
    assert replay.reclaim_stale() == [lab_step.pk]

    stopped.refresh_from_db()
    assert stopped.status == ReplayStatus.PENDING and not stopped.peers.exists()
    assert "w1:42 stopped during the replay" in stopped.error
    assert replay.reclaim_stale() == []  # pending, and not yet for ROLLOUTS_STEP_STALE_SECONDS

    LabReplay.objects.filter(pk=stopped.pk).update(created_at=long_ago)
    assert replay.reclaim_stale() == [lab_step.pk]  # its message lost: sent again

    # A replay still within its deadline is left to its worker.
    LabReplay.objects.filter(pk=stopped.pk).update(
        status=ReplayStatus.RUNNING, started_at=timezone.now()
    )
    assert replay.reclaim_stale() == []


def test_a_replay_stops_once_its_step_is_aborted(lab_step: Step) -> None:
    assert replay.stop_reason(lab_step.pk) == ""
    Step.objects.filter(pk=lab_step.pk).update(status=StepStatus.ABORTED)
    assert replay.stop_reason(lab_step.pk) == "the step was aborted during the replay"
