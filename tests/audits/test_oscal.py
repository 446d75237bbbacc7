"""OSCAL assessment results: valid against NIST's official schema, deterministic, faithful."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from pathlib import Path

import pytest

from audits import oscal
from tests.audits.estate import Assessed, build_assessed


@pytest.fixture
def assessed(make_user) -> Assessed:
    return build_assessed(make_user)


def _results(document: dict) -> dict:
    return document["assessment-results"]["results"][0]


def _finding(document: dict, control: str) -> dict:
    return next(f for f in _results(document)["findings"] if f["target"]["target-id"] == control)


def test_the_vendored_schema_is_the_file_its_readme_names() -> None:
    readme = (oscal.SCHEMA_PATH.parent / "README.md").read_text()
    recorded = re.search(r"SHA-256 \| `([0-9a-f]{64})`", readme)

    assert recorded is not None
    assert hashlib.sha256(oscal.SCHEMA_PATH.read_bytes()).hexdigest() == recorded.group(1)
    assert oscal.schema()["$id"].endswith("/1.2.3/oscal-complete-schema.json")
    assert (oscal.SCHEMA_PATH.parent / "LICENSE.md").exists()


def test_the_assessment_results_validate_against_the_official_schema(assessed: Assessed) -> None:
    document = oscal.assessment_results(assessed.assessment)

    assert oscal.validate(document) == []
    metadata = document["assessment-results"]["metadata"]
    assert metadata["oscal-version"] == "1.2.3"
    assert len(_results(document)["findings"]) == 11


def test_the_validator_is_not_vacuous(assessed: Assessed) -> None:
    document = oscal.assessment_results(assessed.assessment)
    broken = copy.deepcopy(document)
    del broken["assessment-results"]["results"][0]["findings"][0]["target"]
    bad_uuid = copy.deepcopy(document)
    bad_uuid["assessment-results"]["uuid"] = "not-a-uuid"
    bad_token = copy.deepcopy(document)
    bad_token["assessment-results"]["results"][0]["findings"][0]["target"]["target-id"] = "3 x"
    bad_state = copy.deepcopy(document)
    _results(bad_state)["findings"][0]["target"]["status"]["state"] = "fine"

    assert any("'target' is a required property" in e for e in oscal.validate(broken))
    assert any(e.startswith("uuid:") for e in oscal.validate(bad_uuid))
    assert any("target-id" in e for e in oscal.validate(bad_token))
    assert any("state" in e for e in oscal.validate(bad_state))


def test_the_same_assessment_always_gives_the_same_bytes(assessed: Assessed) -> None:
    first = oscal.dumps(oscal.assessment_results(assessed.assessment))
    second = oscal.dumps(oscal.assessment_results(assessed.assessment))

    assert first == second


def test_uuids_are_uuid5_of_the_assessment_and_the_control(assessed: Assessed) -> None:
    document = oscal.assessment_results(assessed.assessment)
    control = "NIST-800-52r2-3.1-tls10"

    finding = _finding(document, control)
    observation = finding["related-observations"][0]["observation-uuid"]

    assert finding["uuid"] == str(uuid.uuid5(assessed.assessment.uuid, f"finding/{control}"))
    assert observation == str(uuid.uuid5(assessed.assessment.uuid, f"observation/{control}"))
    assert uuid.UUID(finding["uuid"]).version == 5


def test_outcomes_map_onto_oscal_states_and_keep_the_portal_outcome(assessed: Assessed) -> None:
    document = oscal.assessment_results(assessed.assessment)

    def state(control: str) -> tuple[str, str, str]:
        finding = _finding(document, control)
        outcome = next(p["value"] for p in finding["props"] if p["name"] == "outcome")
        status = finding["target"]["status"]
        return status["state"], status["reason"], outcome

    assert state("NIST-800-52r2-3.1-tls12-support") == ("satisfied", "pass", "PASS")
    assert state("NIST-800-52r2-3.1-tls10") == ("not-satisfied", "fail", "FAIL")
    assert state("NIST-800-52r2-3.5-client-auth-enforced") == ("not-satisfied", "other", "WARN")
    assert state("NIST-800-52r2-3.3.1-approved-suites") == ("not-satisfied", "other", "EXCEPTION")
    assert state("NIST-800-52r2-4.1-client-versions") == ("satisfied", "other", "NOT_APPLICABLE")
    assert state("NIST-800-52r2-3.4.1-extended-master-secret")[2] == "UNKNOWN"


def test_an_accepted_risk_is_a_deviation_with_its_expiry_as_deadline(assessed: Assessed) -> None:
    document = oscal.assessment_results(assessed.assessment)
    finding = _finding(document, "NIST-800-52r2-3.3.1-approved-suites")
    risk_uuid = finding["related-risks"][0]["risk-uuid"]

    risk = next(r for r in _results(document)["risks"] if r["uuid"] == risk_uuid)

    assert risk["status"] == "deviation-approved"
    assert risk["deadline"].startswith(f"{assessed.exception.expires_at:%Y-%m-%dT%H:%M}")
    assert "private link" in risk["statement"]
    failing = _finding(document, "NIST-800-52r2-3.1-tls10")["related-risks"][0]["risk-uuid"]
    assert next(r for r in _results(document)["risks"] if r["uuid"] == failing)["status"] == "open"


def test_the_raw_outputs_behind_the_evidence_are_resources_with_their_hashes(
    assessed: Assessed,
) -> None:
    document = oscal.assessment_results(assessed.assessment)
    resources = {r["uuid"]: r for r in document["assessment-results"]["back-matter"]["resources"]}
    run = assessed.fleet.run_after

    resource = resources[str(run.uuid)]
    hashes = {
        link["href"].rstrip("/").rsplit("/", 1)[1]: link["hashes"][0]["value"]
        for link in resource["rlinks"]
    }
    observation = next(o for o in _results(document)["observations"] if "tls10" in o["title"])

    assert hashes == {name: output["sha256"] for name, output in run.outputs.items()}
    assert {"href": f"#{run.uuid}"} == {"href": observation["relevant-evidence"][0]["href"]}
    mq = assessed.fleet.design.services["MQCHIN"]
    assert observation["subjects"] == [{"subject-uuid": str(mq.uuid), "type": "inventory-item"}]


def test_the_services_in_scope_are_inventory_items(assessed: Assessed) -> None:
    document = oscal.assessment_results(assessed.assessment)
    items = _results(document)["local-definitions"]["inventory-items"]

    assert {i["uuid"] for i in items} == {
        str(s.uuid) for s in assessed.fleet.design.services.values()
    }


def test_a_written_file_is_utf8_json_that_loads_back(assessed: Assessed, tmp_path: Path) -> None:
    document = oscal.assessment_results(assessed.assessment)
    path = tmp_path / "results.json"
    path.write_bytes(oscal.dumps(document))

    assert json.loads(path.read_text(encoding="utf-8")) == document


def test_a_lab_steps_replay_is_in_its_gate_observation(assessed: Assessed) -> None:
    """The stored report's lab replay (rollouts' ReplayMatch per peer) is told and counted in
    the observation of its step, with the replay named as evidence."""
    from audits import report

    assessment = assessed.assessment
    stored = assessment.report or report.assessment_report(
        assessment, list(assessment.results.all())
    )
    peer = {"stack": "LAB1/TCPIP", "service": "MQ_Channel_to_Clearing_House", "peer": "CLEARHOUSE"}
    stored["campaigns"] = [
        {
            "name": "Lab first",
            "uuid": "9b0c64f5-3ad4-4d2e-9c1c-6d8d2f0b7e11",
            "steps": [
                {
                    "position": 1,
                    "cohort": "Lab: LAB1/TCPIP",
                    "status_label": "passed",
                    "evaluations": [["failed", 1]],
                    "verdict": "failed",
                    "checks": [{"check": "lab-replay", "verdict": "failed"}],
                    "skip": None,
                    "gate_skipped": False,
                    "promotion": None,
                    "lab_replay": {
                        "status": "finished",
                        "peers": [
                            {**peer, "match": "expected"},
                            {**peer, "peer": "ACME", "match": "unpredicted"},
                            {**peer, "peer": "10.1.1.1", "match": "as-predicted"},
                        ],
                    },
                }
            ],
        }
    ]
    assessment.report = stored

    document = oscal.assessment_results(assessment)

    assert oscal.validate(document) == []
    observation = next(
        o for o in _results(document)["observations"] if o["title"].startswith("Gate of campaign")
    )
    props = {p["name"]: p["value"] for p in observation["props"]}
    assert props["lab-replay-peers"] == "3" and props["lab-replay-unpredicted"] == "1"
    assert (
        "3 production peers (1 accepted, as predicted; 1 refused, as predicted"
        in (observation["description"])
    )
    assert oscal.REPLAY_SOURCE in [e["description"] for e in observation["relevant-evidence"]]
