"""A production peer's replay profile: what the portal observed, what it had to infer, and
nothing at all for a peer record it cannot read."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from fleet import precheck
from fleet.impact import replay


def record(**fields: Any) -> dict[str, Any]:
    base = {
        "service": "CICS_Payments_API",
        "direction": "Inbound",
        "remote_address": "127.1.3.1",
        "versions": ["TLSv1.2"],
        "suites": ["C02F"],
        "client_cert": False,
        "verdict": "safe",
    }
    return base | fields


def test_a_client_seen_with_one_version_and_suite_keeps_them_as_observed() -> None:
    profile = replay.profile_of(record())
    assert profile is not None
    assert profile.versions == ("TLSv1.2",) and profile.suites == ("C02F",)
    assert "versions TLSv1.2" in profile.observed and "suites C02F" in profile.observed
    # No table records client certificates: "none" is always inferred, and said so.
    assert not profile.client_cert
    assert [line for line in profile.inferred if line.startswith("client certificate")]
    assert profile.is_inferred


def test_versions_between_those_seen_and_suites_of_a_version_never_seen_are_inferred() -> None:
    profile = replay.profile_of(record(versions=["TLSv1", "TLSv1.2"], suites=["C02F"]))
    assert profile is not None
    assert profile.versions == ("TLSv1", "TLSv1.1", "TLSv1.2")
    assert any(line.startswith("versions TLSv1.1") for line in profile.inferred)
    # C02F is TLS 1.2 only: TLS 1.0 and 1.1 get the registry's suites, inferred.
    assert profile.suites[0] == "C02F" and len(profile.suites) > 1
    assert any(line.startswith("suites for TLSv1:") for line in profile.inferred)
    offer = profile.offer()
    assert [v.value for v in offer.versions] == ["TLSv1", "TLSv1.1", "TLSv1.2"]


def test_a_cleartext_client_is_a_cleartext_profile_and_an_outbound_one_has_none() -> None:
    clear = replay.profile_of(record(versions=["cleartext"], suites=[]))
    assert clear is not None and clear.cleartext and clear.observed
    assert replay.profile_of(record(direction="Outbound", versions=["cleartext"])) is None


@pytest.mark.parametrize(
    "broken",
    [
        None,
        "127.1.3.1",
        [],
        {},
        record(versions=[]),  # a no-data peer: known, not seen in the window
        record(versions=None),
        record(versions="TLSv1.2"),  # not a list
        record(versions=["SSLv3"]),  # nothing the replay can speak
        record(versions=["TLSv9"]),
        record(direction="sideways"),
    ],
)
def test_a_peer_record_without_a_usable_version_has_no_profile(broken: Any) -> None:
    assert replay.profile_of(broken) is None


def test_unknown_suite_codes_are_dropped_and_inferred_again() -> None:
    profile = replay.profile_of(record(suites=["ZZZZ", 12]))
    assert profile is not None
    assert "ZZZZ" not in profile.suites and profile.suites
    assert any(line.startswith("suites for TLSv1.2") for line in profile.inferred)


def test_a_replay_told_to_stop_attempts_no_further_profile_and_says_why() -> None:
    """`after_each` returning a reason (the step was aborted) leaves the plans after it not
    attempted with that reason; the one before it ran against a real loopback port."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        plans = [
            replay.ReplayPlan(
                f"in SVC{n}", precheck.PrecheckTarget(f"SVC{n}", "127.0.0.1", port), port, None
            )
            for n in (1, 2, 3)
        ]
        sockets: list[tuple[str, int, int]] = []
        answers = iter(["", "the step was aborted during the replay"])
        results = replay.replay(
            plans,
            allowlist=["127.0.0.1"],
            timeout=0.3,
            on_socket=sockets.append,
            after_each=lambda: next(answers),
        )
    # The listener never answers: a cleartext client's line kept open is "accepted".
    assert [results[p.key].outcome for p in plans] == ["accepted", "accepted", "not-attempted"]
    assert results["in SVC3"].reason == "the step was aborted during the replay"
    assert len(sockets) == 2
