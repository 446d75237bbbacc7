"""The lab step's replay: the production peers, offered to the lab copy of their services.

Once the lab step's deployment is verified (the deployment's own verification), a worker
replays the peers the portal knows on the campaign's production stacks against the lab
stack, and stores per peer what happened (LabReplay, LabReplayPeer):

1. per production stack, the prediction of the campaign's target (the stack's design less
   the held-back rules: what the lab holds) against its peers, with the pre-check of untested
   partners (fleet.impact.predict, as stored with a deployment request; not stored here);
2. per peer of a campaign service with a lab copy, its profile (fleet.impact.replay:
   observed and inferred parts; none: "no data"), one handshake per distinct profile at the
   lab copy's endpoint: an inbound client at the lab service's own port, an outbound partner
   offered the lab rule's ClientHello where the lab service reaches it;
3. each peer's outcome held to its prediction: refused and predicted to break (will-break,
   or untested with a refused pre-check: fleet.impact.predict.breaks) is expected; refused
   otherwise is unpredicted, and the lab gate's lab-replay check counts those.

The connections to the lab stack are recorded (PortalHandshakes) so that its verification
counts their refusals as the portal's own. The replay runs again when a held lab step is
resumed (what was wrong in the lab may have been fixed).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from attls.effective import effective_settings
from attls.errors import AttlsError
from attls.policy import parse_policy
from fleet import precheck as active
from fleet import selectors as fleet_selectors
from fleet.connectors.base import PermanentError
from fleet.connectors.factory import probe_address
from fleet.impact import predict
from fleet.impact import replay as replaying
from fleet.impact.models import PortalHandshakes
from policies.models import PolicyVersion, Service, Stack
from policies.services import stack_draft
from rollouts.models import (
    Campaign,
    CohortKind,
    LabReplay,
    LabReplayPeer,
    ReplayMatch,
    ReplayStatus,
    Step,
    StepStatus,
)

log = logging.getLogger(__name__)

REPLAY_TASK = "rollouts.tasks.replay_lab"
PURPOSE = "lab replay"
EVIDENCE_LINES = 20
# Beyond the replay's deadline: the predictions before the handshakes and the storing after.
REPLAY_STALE_MARGIN = 180


def is_lab_step(step: Step) -> bool:
    return step.cohort is not None and step.cohort.kind == CohortKind.LAB


def replay_request(step: Step) -> LabReplay:
    """The step's replay, pending (again: its peers go), run by a worker after commit."""
    replay, created = LabReplay.objects.get_or_create(step=step)
    if not created:
        replay.peers.all().delete()
        replay.status, replay.error, replay.notes = ReplayStatus.PENDING, "", []
        replay.started_at = replay.finished_at = None
        replay.save()
    step_id = step.pk
    transaction.on_commit(lambda: current_app.send_task(REPLAY_TASK, args=[step_id]))
    return replay


def match_of(outcome: str, predicted_breaks: bool) -> str:
    if outcome == "refused":
        return ReplayMatch.EXPECTED if predicted_breaks else ReplayMatch.UNPREDICTED
    if outcome == "accepted":
        return ReplayMatch.NOT_REFUSED if predicted_breaks else ReplayMatch.AS_PREDICTED
    return ReplayMatch.NOT_REPLAYED


# --- running it -------------------------------------------------------------------------------


def reclaim_stale() -> list[int]:
    """The steps whose replay must be sent to a worker again (their replays pending again):
    pending longer than ROLLOUTS_STEP_STALE_SECONDS (the message was lost), or running longer
    than the replay's own deadline and REPLAY_STALE_MARGIN (its worker stopped: a replay that
    runs ends within the deadline, so nothing still writes its peers). Without this the lab
    gate's lab-replay check waited for ever."""
    now = timezone.now()
    pending = LabReplay.objects.filter(
        status=ReplayStatus.PENDING,
        created_at__lt=now - timedelta(seconds=settings.ROLLOUTS_STEP_STALE_SECONDS),
    )
    running = LabReplay.objects.filter(
        status=ReplayStatus.RUNNING,
        started_at__lt=now - timedelta(seconds=replaying.DEADLINE + REPLAY_STALE_MARGIN),
    )
    steps = list(pending.values_list("step_id", flat=True))
    for found in running:
        # Claimed back only if still the run that was seen (one reclaim, not two).
        reclaimed = LabReplay.objects.filter(
            pk=found.pk, status=ReplayStatus.RUNNING, started_at=found.started_at
        ).update(
            status=ReplayStatus.PENDING,
            notes=[],
            error=f"the worker {found.claimed_by or '(unknown)'} stopped during the replay;"
            " replayed again",
            started_at=None,
        )
        if reclaimed:
            found.peers.all().delete()
            steps.append(found.step_id)
    return sorted(steps)


def lab_replay_run(step_id: int, worker: str = "") -> LabReplay | None:
    """Claims the step's pending replay and runs it; None when it was not pending."""
    now = timezone.now()
    claimed = LabReplay.objects.filter(step_id=step_id, status=ReplayStatus.PENDING).update(
        status=ReplayStatus.RUNNING, started_at=now, claimed_by=worker[:100]
    )
    if not claimed:
        return None
    replay = LabReplay.objects.select_related(
        "step__campaign__lab_stack__lpar", "step__cohort"
    ).get(step_id=step_id)
    try:
        _run(replay)
    except Exception as error:  # recorded: the gate's check fails on a replay that failed
        log.exception("lab replay of step %s failed", step_id)
        LabReplay.objects.filter(pk=replay.pk).update(
            status=ReplayStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
    else:
        LabReplay.objects.filter(pk=replay.pk).update(
            status=ReplayStatus.DONE, notes=replay.notes, finished_at=timezone.now()
        )
    replay.refresh_from_db()
    return replay


def _production_peers(campaign: Campaign) -> tuple[list[tuple[Stack, dict[str, Any]]], list[Any]]:
    """Every peer of the campaign's services on its production stacks, with its verdict for
    the campaign's target; and per stack a note of the prediction (or why there is none)."""
    held = set(campaign.held_back.values_list("id", flat=True))
    peers: list[tuple[Stack, dict[str, Any]]] = []
    notes: list[dict[str, Any]] = []
    for stack in campaign.stacks.select_related("lpar").order_by("lpar__name", "name"):
        names = set(
            campaign.services.filter(stack=stack)
            .exclude(id__in=held)
            .values_list("name", flat=True)
        )
        draft = stack_draft(stack=stack, exclude_services=held)
        if draft.unwritable:
            notes.append({"stack": stack.label, "error": draft.unwritable})
            continue
        record = predict.prediction_record(
            stack, predict.Candidate(draft.text, "the campaign's target"), precheck=True
        )
        notes.append(
            {
                "stack": stack.label,
                "candidate": record["candidate"],
                "current": record["current"],
                "counts": record["counts"],
                "error": record["error"],
            }
        )
        peers += [(stack, p) for p in record["peers"] if p.get("service") in names]
    return peers, notes


def _ip(host: str) -> str:
    """The lab LPAR's address as an IP literal (the pre-check connects to addresses only)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])


class _Planner:
    """Turns peers into distinct handshakes against the lab (fleet.impact.replay.ReplayPlan)."""

    def __init__(self, step: Step, lab: Stack) -> None:
        self.lab = lab
        self.connection = fleet_selectors.connection_of(lab.lpar)
        assert step.cohort is not None
        self.services: dict[str, Service] = {s.name: s for s in step.cohort.services.all()}
        version_id = (step.versions or {}).get(str(lab.id))
        version = PolicyVersion.objects.filter(pk=version_id).first() if version_id else None
        self.policy = parse_policy(version.text) if version is not None else None
        self.host = ""
        self.host_error = ""
        if self.connection is None:
            self.host_error = f"{lab.lpar.name} has no LPAR connection"
        else:
            try:
                self.host = _ip(self.connection.host)
            except OSError as error:
                self.host_error = f"{self.connection.host} does not resolve: {error}"
        self.plans: dict[str, replaying.ReplayPlan] = {}

    @property
    def allowlist(self) -> list[str]:
        listed = list((self.connection.precheck_allowlist or []) if self.connection else [])
        return [*listed, self.host] if self.host else listed

    def plan(
        self, peer: dict[str, Any], profile: replaying.PeerProfile
    ) -> tuple[str, Service | None, str]:
        """(plan key, lab service, offer text) of a peer; the plan is made once per key."""
        lab_service = self.services.get(str(peer.get("service")))
        if lab_service is None:
            key = f"none {peer.get('service')}"
            self.plans.setdefault(
                key,
                replaying.ReplayPlan(
                    key, None, 0, None, refusal="the lab holds no copy of this service"
                ),
            )
            return key, None, ""
        if profile.direction == "Inbound":
            return self._inbound(lab_service, profile)
        return self._outbound(lab_service, peer)

    def _refused(self, key: str, why: str) -> None:
        self.plans.setdefault(key, replaying.ReplayPlan(key, None, 0, None, refusal=why))

    def _inbound(
        self, service: Service, profile: replaying.PeerProfile
    ) -> tuple[str, Service, str]:
        key = f"in {service.name} {profile.key()}"
        offer = None if profile.cleartext else profile.offer()
        described = "cleartext" if offer is None else offer.describe()
        if key in self.plans:
            return key, service, described
        if self.host_error or self.connection is None:
            self._refused(key, self.host_error)
            return key, service, described
        zos_port = service.local_port_low
        try:
            _, port = probe_address(self.connection, self.lab.name, zos_port)
        except PermanentError as error:
            self._refused(key, str(error))
            return key, service, described
        limits = [replaying.SOURCE_LIMIT]
        if profile.client_cert:
            limits.append("the peer presents a client certificate; replayed without one")
        self.plans[key] = replaying.ReplayPlan(
            key,
            active.PrecheckTarget(service.name, self.host, port),
            zos_port,
            offer,
            limits=tuple(limits),
        )
        return key, service, described

    def _outbound(self, service: Service, peer: dict[str, Any]) -> tuple[str, Service, str]:
        # Where the lab service reaches its partner: its own remote address when it names one,
        # else the production peer's (the same partner), on the lab service's remote port.
        try:
            address = str(ipaddress.ip_address(service.remote_address))
        except ValueError:
            address = str(peer.get("remote_address") or "")
        port = predict.partner_port(self.connection, address, service.remote_port_low)
        key = f"out {service.name} {address}:{port}"
        known = self.plans.get(key)
        if known is not None:
            return key, service, known.offer.describe() if known.offer is not None else ""
        if self.policy is None or service.name not in self.policy.rules:
            self._refused(key, f"the lab step's version holds no rule {service.name}")
            return key, service, ""
        try:
            offer = active.ClientOffer.of(
                effective_settings(self.policy, service.name, release=self.lab.zos_release)
            )
        except AttlsError as error:
            self._refused(key, f"the lab rule's client offer: {error}")
            return key, service, ""
        self.plans[key] = replaying.ReplayPlan(
            key, active.PrecheckTarget(service.name, address, port), 0, offer
        )
        return key, service, offer.describe()


def _run(replay: LabReplay) -> None:
    step = replay.step
    campaign = step.campaign
    lab = campaign.lab_stack
    if lab is None:
        raise ValueError("the campaign has no lab stack")
    peers, replay.notes = _production_peers(campaign)
    LabReplay.objects.filter(pk=replay.pk).update(notes=replay.notes)
    planner = _Planner(step, lab)
    rows: list[dict[str, Any]] = []
    for stack, peer in peers:
        profile = replaying.profile_of(peer)
        row: dict[str, Any] = {
            "stack": stack,
            "service": str(peer.get("service") or "?")[:64],
            "peer": str(peer.get("remote_address") or "?")[:45],
            "direction": str(peer.get("direction") or "")[:8],
            "connections_per_day": float(peer.get("connections_per_day") or 0),
            "verdict": str(peer.get("verdict") or "")[:16],
            "predicted_breaks": _breaks(peer),
            "profile": profile.as_dict() if profile is not None else {},
            "inferred": profile is not None and profile.is_inferred,
        }
        if profile is None:
            row["key"] = None
        else:
            row["key"], lab_service, row["offer"] = planner.plan(peer, profile)
            row["lab_service"] = lab_service.name if lab_service is not None else ""
        rows.append(row)
    handshakes = PortalHandshakes.objects.create(
        stack=lab, purpose=PURPOSE, started_at=timezone.now()
    )
    opened: list[list[Any]] = []

    def saved() -> str:
        PortalHandshakes.objects.filter(pk=handshakes.pk).update(sockets=list(opened))
        return stop_reason(step.pk)

    results = replaying.replay(
        list(planner.plans.values()),
        allowlist=planner.allowlist,
        on_socket=lambda found: opened.append(list(found)),
        after_each=saved,
    )
    PortalHandshakes.objects.filter(pk=handshakes.pk).update(
        sockets=list(opened), finished_at=timezone.now()
    )
    _store(replay, rows, results)


def stop_reason(step_id: int) -> str:
    """Why a running replay of the step must stop ("" to go on). An abort restores the lab's
    previous version: handshakes from then on would test a policy being replaced, for a step
    that no longer counts."""
    if Step.objects.filter(pk=step_id, status=StepStatus.ABORTED).exists():
        return "the step was aborted during the replay"
    return ""


def _breaks(peer: dict[str, Any]) -> bool:
    try:
        return bool(predict.breaks(peer))
    except (KeyError, TypeError):
        return False  # a record without a verdict predicted nothing


def _store(
    replay: LabReplay, rows: list[dict[str, Any]], results: dict[str, active.PrecheckResult]
) -> None:
    stored: dict[tuple[int, str, str], LabReplayPeer] = {}
    for row in rows:
        key = row.pop("key")
        result = results.get(key) if key is not None else None
        if result is None:
            outcome, reason = (
                replaying.NO_DATA,
                ("no profile: the portal holds no version this peer was seen using"),
            )
        else:
            outcome, reason = result.outcome, result.reason
        stack = row.pop("stack")
        peer = LabReplayPeer(
            replay=replay,
            stack=stack,
            target=f"{result.address}:{result.port}" if result and result.address else "",
            outcome=outcome,
            reason=reason,
            version=(result.version or "")[:16] if result else "",
            suite=(result.suite or "")[:64] if result else "",
            limits=list(result.offer_limits) if result else [],
            match=match_of(outcome, row["predicted_breaks"]),
            **{k: v for k, v in row.items() if k in _ROW_FIELDS},
        )
        stored[(stack.pk, peer.service, peer.peer)] = peer
    LabReplayPeer.objects.bulk_create(stored.values(), batch_size=500)


_ROW_FIELDS = frozenset(
    {
        "service",
        "peer",
        "direction",
        "connections_per_day",
        "verdict",
        "predicted_breaks",
        "profile",
        "inferred",
        "lab_service",
        "offer",
    }
)


# --- reading it -------------------------------------------------------------------------------


def peer_line(peer: LabReplayPeer) -> str:
    what = peer.outcome
    if peer.outcome == "accepted":
        what += f" ({peer.version} {peer.suite})".rstrip()
    return (
        f"{peer.stack.label} {peer.service} {peer.peer}: {what} in the lab"
        f" ({peer.reason}); the prediction said {peer.verdict or 'nothing'}"
    )


def summary(replay: LabReplay | None) -> dict[str, Any]:
    """What the gate and the pages read: the status, and the peers by match."""
    if replay is None:
        return {"status": None, "peers": [], "counts": {}}
    peers = list(replay.peers.select_related("stack__lpar"))
    counts: dict[str, int] = {}
    for peer in peers:
        counts[peer.match] = counts.get(peer.match, 0) + 1
    return {
        "status": replay.status,
        "error": replay.error,
        "peers": peers,
        "counts": counts,
        "unpredicted": [p for p in peers if p.match == ReplayMatch.UNPREDICTED],
        "expected": [p for p in peers if p.match == ReplayMatch.EXPECTED],
    }


def report_rows(step: Step) -> dict[str, Any] | None:
    """The replay as the campaign's report (and the evidence pack) prints it."""
    replay = LabReplay.objects.filter(step=step).first()
    if replay is None:
        return None
    found = summary(replay)
    return {
        "status": replay.status,
        "error": replay.error,
        "started_at": replay.started_at,
        "finished_at": replay.finished_at,
        "counts": found["counts"],
        "predictions": replay.notes,
        "peers": [
            {
                "stack": p.stack.label,
                "service": p.service,
                "peer": p.peer,
                "direction": p.direction,
                "profile": p.profile,
                "inferred": p.inferred,
                "lab_service": p.lab_service,
                "target": p.target,
                "outcome": p.outcome,
                "reason": p.reason,
                "version": p.version,
                "suite": p.suite,
                "verdict": p.verdict,
                "predicted_breaks": p.predicted_breaks,
                "match": p.match,
                "matched": p.match in (ReplayMatch.AS_PREDICTED, ReplayMatch.EXPECTED),
            }
            for p in found["peers"]
        ],
    }
