"""A candidate policy against a stack's current one and its peer history.

`attls.impact.predict` judges; this module gathers what it reads (the stack's current
effective policy: last-known-good, the text the portal last verified as loaded there, else
the baseline it found; the peers' daily observations from fleet.impact.history), runs the
active pre-check for *untested* partners (fleet.precheck, bounded, allow-listed), and turns
the answer into the JSON an ImpactPrediction stores and the pages and API show.

A candidate is a published version, a version with one rule removed, or the designer's
draft; each is a policy text. Nothing here writes, except `prediction_store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from django.utils import timezone

from attls.effective import effective_settings
from attls.errors import PolicySyntaxError
from attls.impact import ImpactInputError, PeerPrediction, Prediction, Verdict, predict
from attls.policy import parse_policy
from attls.policy.model import Policy
from fleet import precheck as active
from fleet import selectors
from fleet.impact import history
from fleet.impact.models import ImpactPrediction
from fleet.models import DeploymentTarget, LparConnection
from policies.models import Stack

PRECHECK_REFUSED: Final = "precheck-refused"


@dataclass(frozen=True)
class Candidate:
    text: str
    label: str  # "v3", "v3 without rule X", "the draft"


def current_policy(stack: Stack) -> tuple[Policy | None, str]:
    """The policy in force on the stack and its label; None when it has no AT-TLS policy
    (no contact yet, or an empty file). ImpactInputError when it cannot be read."""
    live = selectors.live_policy_text(stack)
    if live is None:
        return None, "no AT-TLS policy known to the portal (no contact with the stack yet)"
    if not live.text.strip():
        return None, f"no AT-TLS policy ({live.label})"
    try:
        policy = parse_policy(live.text)
    except PolicySyntaxError as error:
        raise ImpactInputError(
            f"the policy in force ({live.label}) does not parse: {error}"
        ) from None
    return (policy if policy.rules else None), live.label


def _candidate_policy(candidate: Candidate) -> Policy:
    try:
        return parse_policy(candidate.text)
    except PolicySyntaxError as error:
        raise ImpactInputError(f"{candidate.label} does not parse: {error}") from None


def _peer_record(peer: PeerPrediction) -> dict[str, Any]:
    return {
        "service": peer.service,
        "direction": peer.direction,
        "local_port": peer.local_port,
        "remote_address": peer.remote_address,
        "remote_port": peer.remote_port,
        "job": peer.job,
        "verdict": str(peer.verdict),
        "rule": peer.rule,
        "current_rule": peer.current_rule,
        "reason": peer.reason,
        "reasons": list(peer.reasons),
        "versions": sorted(peer.versions),
        "suites": sorted(peer.suites),
        "client_cert": peer.client_cert,
        "connections_per_day": round(peer.connections_per_day, 2),
        # The change does not affect this peer (its rule does the same before and after):
        # its verdict is for information, it is not counted as breaking (see `breaks`).
        "unchanged": peer.unchanged,
        "days_seen": len({o.day for o in peer.observations}),
        "first_seen": min((o.day for o in peer.observations if o.day), default=None),
        "last_seen": max((o.day for o in peer.observations if o.day), default=None),
        "precheck": None,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def partner_port(connection: LparConnection | None, address: str, port: int) -> int:
    """Where the partner listens from here: lparsim maps each partner's z/OS-side port to a
    loopback host port (`probe_ports["partners"]`); a real partner is reached on its port."""
    mapping = ((connection.probe_ports or {}) if connection is not None else {}).get("partners")
    if isinstance(mapping, dict):
        mapped = mapping.get(f"{address}:{port}")
        if mapped is not None:
            return int(mapped)
    return port


def run_prechecks(
    stack: Stack,
    policy: Policy,
    peers: list[dict[str, Any]],
) -> None:
    """One handshake per untested outbound partner with the candidate rule's exact client
    offer; each peer's record gets `precheck`. At most MAX_PARTNERS partners a prediction."""
    connection = selectors.connection_of(stack.lpar)
    untested = [
        p for p in peers if p["verdict"] == Verdict.UNTESTED and p["direction"] == "Outbound"
    ]
    for peer in untested:
        if peer.get("unchanged"):
            # The candidate offers this partner what it is offered today: nothing to test.
            peer["precheck"] = {
                "outcome": "not-attempted",
                "reason": "unchanged by this candidate: the client offer stays as it is",
            }
    untested = [p for p in untested if not p.get("unchanged")]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for index, peer in enumerate(untested):
        if index >= active.MAX_PARTNERS:
            peer["precheck"] = {
                "outcome": "not-attempted",
                "reason": f"a pre-check covers at most {active.MAX_PARTNERS} partners",
            }
        elif connection is None:
            peer["precheck"] = {
                "outcome": "not-attempted",
                "reason": f"{stack.lpar.name} has no LPAR connection (no allow-list)",
            }
        elif peer["rule"]:
            by_rule.setdefault(peer["rule"], []).append(peer)
    for rule, partners in by_rule.items():
        assert connection is not None
        try:
            offer = active.ClientOffer.of(
                effective_settings(policy, rule, release=stack.zos_release)
            )
            targets = [
                active.PrecheckTarget(
                    p["service"],
                    p["remote_address"],
                    partner_port(connection, p["remote_address"], p["remote_port"]),
                )
                for p in partners
            ]
            results = active.precheck_for_connection(connection, targets, offer)
        except active.PrecheckError as error:
            for peer in partners:
                peer["precheck"] = {"outcome": "not-attempted", "reason": str(error)}
            continue
        for peer, result in zip(partners, results, strict=True):
            peer["precheck"] = result.as_dict()


def prediction_record(
    stack: Stack,
    candidate: Candidate,
    *,
    today: date | None = None,
    window_days: int = history.DEFAULT_WINDOW_DAYS,
    precheck: bool = True,
) -> dict[str, Any]:
    """The prediction for `candidate` on `stack` as stored and shown; `error` set (and the
    lists empty) when it cannot be made, e.g. a text that does not parse."""
    today = today or timezone.now().date()
    record: dict[str, Any] = {
        "candidate": candidate.label,
        "current": "",
        "window_days": window_days,
        "counts": {},
        "per_day": {},
        "services": [],
        "peers": [],
        "error": "",
    }
    try:
        old, record["current"] = current_policy(stack)
        new = _candidate_policy(candidate)
        # Peers known from before the window are passed too: attls.impact calls them no-data.
        since, until = history.window(today, window_days + history.KNOWN_BEFORE_DAYS)
        answer = predict(
            old,
            new,
            history.observations(stack, since=since, until=until),
            window_days=window_days,
            today=today,
            release=stack.zos_release,
        )
    except ImpactInputError as error:
        record["error"] = str(error)
        return record
    peers = [_peer_record(p) for p in answer.peers]
    if precheck:
        run_prechecks(stack, new, peers)
    record.update(_summary(answer, peers))
    record["peers"] = _jsonable(peers)
    return record


def _summary(answer: Prediction, peers: list[dict[str, Any]]) -> dict[str, Any]:
    refused = [p for p in peers if (p["precheck"] or {}).get("outcome") == "refused"]
    counts = {str(v): n for v, n in answer.counts.items()}
    counts[PRECHECK_REFUSED] = len(refused)
    per_day = {str(v): round(n, 2) for v, n in answer.connections_per_day.items()}
    per_day["affected"] = round(
        answer.affected_connections_per_day + sum(p["connections_per_day"] for p in refused), 2
    )
    services = [
        {
            "service": s.service,
            "rule": s.rule,
            "verdict": str(s.verdict),
            "counts": {str(v): n for v, n in s.counts.items() if n},
            "connections_per_day": round(
                sum(n for v, n in s.connections_per_day.items() if v is not Verdict.SAFE), 2
            ),
            "precheck_refused": sum(1 for p in refused if p["service"] == s.service),
            "unchanged": {str(v): n for v, n in s.unchanged.items() if n},
        }
        for s in answer.services
    ]
    return {"counts": counts, "per_day": per_day, "services": services}


def flagged(peer: dict[str, Any]) -> bool:
    """Whether the prediction warned about this peer: will break, at risk, or untested
    (a refused pre-check makes an untested partner as good as will-break). An unchanged
    peer's verdict counts too: a refusal of it was expected, if not caused by the change."""
    return peer["verdict"] in (Verdict.WILL_BREAK, Verdict.AT_RISK, Verdict.UNTESTED)


def breaks(peer: dict[str, Any]) -> bool:
    """Predicted to break because of the change: will-break, or untested with a refused
    pre-check, and not unchanged (a peer refused today and by the candidate alike is not
    the change's doing: no acknowledgement, no exclusion, not a prediction to score)."""
    if peer.get("unchanged"):
        return False
    return peer["verdict"] == Verdict.WILL_BREAK or (
        peer["verdict"] == Verdict.UNTESTED
        and (peer.get("precheck") or {}).get("outcome") == "refused"
    )


def target_candidate(target: DeploymentTarget) -> Candidate:
    label = f"v{target.version.number}"
    if target.removed_rule:
        label += f" without rule {target.removed_rule}"
    return Candidate(target.text, label)


def prediction_store(target: DeploymentTarget) -> ImpactPrediction:
    """Computes and stores the prediction of one deployment target (replacing any)."""
    record = prediction_record(target.stack, target_candidate(target))
    ImpactPrediction.objects.filter(target=target).delete()
    return ImpactPrediction.objects.create(
        target=target,
        stack=target.stack,
        candidate=record["candidate"][:300],
        current=record["current"][:300],
        window_days=record["window_days"],
        counts=record["counts"],
        per_day=record["per_day"],
        services=record["services"],
        peers=record["peers"],
        error=record["error"],
    )
