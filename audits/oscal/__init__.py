"""OSCAL assessment results from an assessment: the same results as the PDF, for machines.

`assessment_results(assessment)` builds one OSCAL `assessment-results` document (OSCAL
1.2.3, the release whose official JSON schema is vendored in `schema/`, see its README).
It is a pure function of the stored assessment: every UUID is a uuid5 of the assessment's
UUID and a name (`finding/<control id>`, `observation/<control id>`, ...), timestamps are
the assessment's, and `dumps` writes keys in a fixed order, so the same assessment always
gives the same bytes and its SHA-256 can be quoted in the signed PDF.

How results map onto OSCAL: each control is one finding whose target is the control
(`objective-id`) with `satisfied`/`not-satisfied`; one observation per control carries the
rationale, the services as subjects and the verification runs as relevant evidence; FAIL,
WARN and accepted risks become risks (an accepted risk as `deviation-approved` with its
expiry as deadline). The portal's own outcome (PASS, WARN, FAIL, EXCEPTION, NOT_APPLICABLE,
UNKNOWN) is kept as a property of the finding, since OSCAL has only two states.

Change impact (the report's `impact`, as the pack prints it): per deployment target, one
observation of its stored prediction (with the acknowledgement) and one of the comparison
after the change; their source is the stored prediction, a back-matter resource, and for the
comparison the refusals the stack's syslog showed. The change-impact control's finding
relates them. Rollout campaigns (the report's `campaigns`): one observation per step with its
gate's verdicts and a skipped gate flagged (who asked, who approved, why), sourced from the
stored gate evaluations and the skip's approval; the HIST-CAMPAIGN-GATES finding relates them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audits.models import Assessment, ControlResult, Outcome
from fleet.impact.compare import OUTCOME_LABELS as IMPACT_OUTCOMES
from rollouts.models import ReplayMatch

if TYPE_CHECKING:
    from audits.log import Head

OSCAL_VERSION = "1.2.3"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "oscal_complete_schema.json"
# The namespace of the portal's own properties (a URN: it names, it is never fetched).
NS = "urn:attls-portal:oscal"

STATE = {
    Outcome.PASS: ("satisfied", "pass"),
    Outcome.NOT_APPLICABLE: ("satisfied", "other"),
    Outcome.WARN: ("not-satisfied", "other"),
    Outcome.FAIL: ("not-satisfied", "fail"),
    Outcome.EXCEPTION: ("not-satisfied", "other"),
    Outcome.UNKNOWN: ("not-satisfied", "other"),
}
RISK_STATUS = {
    Outcome.FAIL: "open",
    Outcome.WARN: "open",
    Outcome.EXCEPTION: "deviation-approved",
}


def stable_uuid(assessment: Assessment, name: str) -> str:
    """A UUID that depends only on the assessment and `name`: the same on every export."""
    return str(uuid.uuid5(assessment.uuid, name))


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _line(text: str, fallback: str = "-") -> str:
    """A MarkupLine / String value: one line, no blanks at either end, never empty."""
    flat = " ".join(str(text).split())
    return flat or fallback


def _prop(name: str, value: Any) -> dict[str, str]:
    return {"name": name, "ns": NS, "value": _line(str(value))}


def _port(service: Any) -> str:
    if service.direction == "Outbound" and service.remote_port_low:
        return str(service.remote_port_low)
    return str(service.local_ports)


def _service_uuids(value: Any, by_key: dict[str, str]) -> list[str]:
    found = []
    items = value if isinstance(value, list) else [value] if value else []
    for item in items:
        keys = (
            [str(item.get(k)) for k in ("uuid", "service", "name") if item.get(k)]
            if isinstance(item, dict)
            else [str(item)]
        )
        for key in keys:
            if key in by_key:
                found.append(by_key[key])
                break
    return list(dict.fromkeys(found))


def _evidence_remarks(evidence: dict[str, Any]) -> str:
    from audits.evidence import describe

    lines = []
    for key in sorted(evidence):
        value = evidence[key]
        items = value if isinstance(value, list) else [value]
        if not items or value in ({}, None, ""):
            continue
        lines.append(f"**{key.replace('_', ' ')}** ({len(items)}):")
        lines.extend(f"- {_line(describe(item))}" for item in items)
    return "\n".join(lines)


ZERT_DUMP = "zERT dump (SMF 119 records) the observed figures were read from"


def _zert_observations(
    assessment: Assessment, zert: dict[str, Any], dump_uuid: dict[str, str]
) -> list[dict[str, Any]]:
    """zERT's figures of the period as one observation, its source the dump files."""
    if not zert.get("records"):
        return []
    days = zert.get("days") or {}
    stacks = ", ".join(str(s.get("stack")) for s in zert.get("stacks") or [])
    figures = [
        _prop("zert-records", zert.get("records") or 0),
        _prop("zert-connections", zert.get("connections") or 0),
        _prop("zert-encrypted-connections", zert.get("encrypted") or 0),
        *[
            _prop("zert-protection-" + re.sub(r"[^a-z0-9]+", "-", kind.lower()), count)
            for kind, count in sorted((zert.get("by_protection") or {}).items())
        ],
        *[
            _prop("zert-protocol-" + re.sub(r"[^a-z0-9]+", "-", name.lower()), count)
            for name, count in sorted((zert.get("protocols") or {}).items())
        ],
    ]
    observation: dict[str, Any] = {
        "uuid": stable_uuid(assessment, "observation/zert"),
        "title": _line(f"Connections measured by zERT: {stacks}"),
        "description": (
            f"From {zert.get('records'):,} zERT records (SMF 119 subtype 11) of {stacks}, UTC"
            f" days {days.get('first')} to {days.get('last')}: {zert.get('connections'):,}"
            f" connections, {zert.get('encrypted'):,} encrypted. zERT records every connection"
            " that ends on the stack, whoever protects it."
            + (
                f" No zERT records for {', '.join(zert['without_zert'])}."
                if zert.get("without_zert")
                else ""
            )
        ),
        "props": figures,
        "methods": ["TEST"],
        "collected": _time(assessment.created_at),
    }
    links = [{"href": f"#{uuid_}", "description": ZERT_DUMP} for uuid_ in dump_uuid.values()]
    if links:
        observation["relevant-evidence"] = links
    return [observation]


IMPACT_CONTROL = "HIST-CHANGE-IMPACT"
PREDICTION_SOURCE = "The impact prediction stored with the deployment target when requested"
REFUSALS_SOURCE = (
    "Handshakes AT-TLS refused (EZD1286I), per peer and return code, read from the stack's"
    " syslog by its verifications after the change"
)


def _token(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def _impact_parts(
    assessment: Assessment, impact: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The report's change impact as observations (prediction, comparison per target) and
    the stored predictions they rest on as back-matter resources."""
    observations: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    for deployment in impact.get("deployments") or []:
        short = deployment["uuid"][:8]
        ack = deployment.get("acknowledgement")
        for target in deployment["targets"]:
            prediction, comparison = target.get("prediction"), target.get("comparison")
            if prediction is None:
                continue
            name = f"{deployment['uuid']}/{target['stack']}/{target['number']}"
            what = f"deployment {short} of {prediction['candidate']} to {target['stack']}"
            resource_uuid = stable_uuid(assessment, f"impact-prediction/{prediction['uuid']}")
            resources.append(
                {
                    "uuid": resource_uuid,
                    "title": _line(f"Impact prediction for {what}"),
                    "description": (
                        f"The portal's stored prediction {prediction['uuid']}, made"
                        f" {prediction['created_at']} against {prediction['current'] or '-'}:"
                        f" every peer of {target['stack']} seen in the last"
                        f" {prediction['window_days']} days (zERT roll-ups, netstat samples,"
                        " refusals), its verdict, the reason and the observations behind it."
                    ),
                    "props": [_prop("impact-prediction-uuid", prediction["uuid"])],
                }
            )
            source = [{"href": f"#{resource_uuid}", "description": PREDICTION_SOURCE}]
            if prediction.get("error"):
                said = f"no prediction could be made: {prediction['error']}"
            else:
                said = "predicted " + ", ".join(f"{v} {n}" for v, n in prediction["counts"])
            if ack:
                said += (
                    f". Breakage acknowledged by {ack['by']} at {ack['at']}"
                    f" ({ack['peers']} peers): {ack['reason']}"
                )
            props = [
                _prop("deployment", deployment["uuid"]),
                _prop("stack", target["stack"]),
                *[_prop(f"impact-{_token(v)}", n) for v, n in prediction["counts"]],
            ]
            if ack:
                props.append(_prop("impact-acknowledged-by", ack["by"]))
            observations.append(
                {
                    "uuid": stable_uuid(assessment, f"observation/impact-prediction/{name}"),
                    "title": _line(f"Predicted impact of {what}"),
                    "description": _line(f"For {what}: {said}."),
                    "props": props,
                    "methods": ["EXAMINE"],
                    "collected": _time(datetime.fromisoformat(prediction["created_at"])),
                    "relevant-evidence": source,
                }
            )
            if comparison is None:
                continue
            counts = ", ".join(f"{n} {IMPACT_OUTCOMES.get(k, k)}" for k, n in comparison["counts"])
            window = f"from {comparison['since']}" + (
                f" to {comparison['until']}" if comparison.get("until") else ""
            )
            observations.append(
                {
                    "uuid": stable_uuid(assessment, f"observation/impact-comparison/{name}"),
                    "title": _line(f"Refusals after {what} against its prediction"),
                    "description": _line(f"After {what}, {window}: {counts}."),
                    "props": [
                        _prop("deployment", deployment["uuid"]),
                        _prop("stack", target["stack"]),
                        *[_prop(f"impact-{_token(k)}", n) for k, n in comparison["counts"]],
                    ],
                    "methods": ["EXAMINE", "TEST"],
                    "collected": _time(assessment.created_at),
                    "relevant-evidence": [*source, {"description": REFUSALS_SOURCE}],
                }
            )
    return observations, resources


CAMPAIGN_CONTROL = "HIST-CAMPAIGN-GATES"
GATE_SOURCE = (
    "The gate evaluations the portal stored for the step (one per verification of its stacks"
    " during the bake: each check's value, threshold, verdict and evidence)"
)
SKIP_SOURCE = "The skip request and its approval by a second person, in the portal's audit log"
REPLAY_SOURCE = (
    "The lab step's replay the portal stored: each production peer's profile (observed or"
    " inferred) offered to the lab copy of its service, the outcome, and its prediction"
)


def _campaign_observations(
    assessment: Assessment, campaigns: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One observation per campaign step of the report: its gate verdicts, a skip flagged."""
    observations = []
    for campaign in campaigns:
        for step in campaign["steps"]:
            what = f"campaign {campaign['name']} step {step['position']}"
            what += f" ({step['cohort']})" if step["cohort"] else " (abort)"
            counts = ", ".join(f"{n} {v}" for v, n in step["evaluations"])
            said = f"{what}: {step['status_label']}; gate evaluations {counts}"
            said += f"; last verdict {step['verdict'] or 'none'}"
            checks = "; ".join(f"{k['check']} {k['verdict']}" for k in step["checks"])
            if checks:
                said += f" ({checks})"
            props = [
                _prop("campaign", campaign["uuid"]),
                _prop("campaign-step", step["position"]),
                _prop("gate-verdict", step["verdict"] or "none"),
                *[_prop(f"gate-{v}", n) for v, n in step["evaluations"]],
            ]
            evidence = [{"description": GATE_SOURCE}]
            skip = step["skip"]
            if step["gate_skipped"]:
                said += ". GATE SKIPPED"
                props.append(_prop("gate-skipped", "true"))
                if skip is not None:
                    said += (
                        f": asked by {skip['requested_by']}, approved by"
                        f" {skip['approved_by'] or 'nobody'}: {skip['reason']}"
                    )
                    props.append(_prop("skip-requested-by", skip["requested_by"]))
                    if skip["approved_by"]:
                        props.append(_prop("skip-approved-by", skip["approved_by"]))
                    props.append(_prop("skip-four-eyes", str(skip["four_eyes"]).lower()))
                evidence.append({"description": SKIP_SOURCE})
            replay = step.get("lab_replay")
            if replay is not None:
                tally = Counter(peer["match"] for peer in replay["peers"])
                outcomes = "; ".join(f"{tally[m]} {m.label.lower()}" for m in ReplayMatch)
                said += (
                    f". Lab replay {replay['status']}: {len(replay['peers'])} production peers"
                    f" ({outcomes})"
                )
                props += [
                    _prop("lab-replay-status", replay["status"]),
                    _prop("lab-replay-peers", len(replay["peers"])),
                    _prop("lab-replay-unpredicted", tally[ReplayMatch.UNPREDICTED]),
                ]
                evidence.append({"description": REPLAY_SOURCE})
            if step["promotion"]:
                said += f". Promoted: {step['promotion']}"
                props.append(_prop("promotion", step["promotion"]))
            observations.append(
                {
                    "uuid": stable_uuid(
                        assessment, f"observation/campaign/{campaign['uuid']}/{step['position']}"
                    ),
                    "title": _line(f"Gate of {what}"),
                    "description": _line(f"{said}."),
                    "props": props,
                    "methods": ["EXAMINE", "TEST"],
                    "collected": _time(assessment.created_at),
                    "relevant-evidence": evidence,
                }
            )
    return observations


def assessment_results(
    assessment: Assessment,
    *,
    results: Iterable[ControlResult] | None = None,
    manifest: list[dict[str, Any]] | None = None,
    chain_head: Head | None = None,
) -> dict[str, Any]:
    """The OSCAL assessment-results document of `assessment` (a dict, ready for `dumps`).

    `chain_head`: the audit log's head when the pack was generated, kept as two properties of
    the result (`audit-log-head-sequence`, `audit-log-head-sha256`).
    """
    from audits import evidence, report

    scope = report.resolve_scope(assessment)
    rows = (
        list(results)
        if results is not None
        else list(assessment.results.select_related("exception__owner"))
    )
    rows.sort(key=evidence.result_order)
    stored = assessment.report or {}
    if stored.get("version") != report.REPORT_VERSION:
        stored = report.assessment_report(assessment, rows)
    if manifest is None:
        manifest = evidence.manifest_of(stored["manifest_runs"])
    by_key: dict[str, str] = {}
    for service in scope.services:
        by_key[str(service.uuid)] = str(service.uuid)
        by_key.setdefault(service.name, str(service.uuid))
        by_key[f"{service.stack.label}/{service.name}"] = str(service.uuid)
    run_resource = {str(row["run"].uuid): str(row["run"].uuid) for row in manifest}

    assessor = assessment.created_by
    party_uuid = stable_uuid(assessment, f"party/{assessor.get_username()}")
    plan_uuid = stable_uuid(assessment, "resource/assessment-plan")
    catalog_uuid = stable_uuid(assessment, "resource/catalog")
    collected = _time(assessment.created_at)

    zert = (assessment.summary or {}).get("zert") or {}
    dumps = [d for d in zert.get("dumps") or [] if isinstance(d, dict) and d.get("run")]
    dump_uuid = {d["run"]: stable_uuid(assessment, f"zert-dump/{d['run']}") for d in dumps}
    observations: list[dict[str, Any]] = _zert_observations(assessment, zert, dump_uuid)
    impact_observations, impact_resources = _impact_parts(assessment, stored.get("impact") or {})
    observations.extend(impact_observations)
    campaign_observations = _campaign_observations(assessment, stored.get("campaigns") or [])
    observations.extend(campaign_observations)
    related = {IMPACT_CONTROL: impact_observations, CAMPAIGN_CONTROL: campaign_observations}
    findings: list[dict[str, Any]] = []
    risks: list[dict[str, Any]] = []
    for result in rows:
        control = result.control_id
        state, reason = STATE.get(Outcome(result.outcome), ("not-satisfied", "other"))
        observation_uuid = stable_uuid(assessment, f"observation/{control}")
        observation: dict[str, Any] = {
            "uuid": observation_uuid,
            "title": _line(f"{control}: {result.title}"),
            "description": result.rationale or "No rationale recorded.",
            "props": [_prop("outcome", result.outcome)],
            "methods": ["EXAMINE", "TEST"],
            "types": ["control-objective"],
            "collected": collected,
        }
        subjects = _service_uuids((result.evidence or {}).get("services"), by_key)
        if subjects:
            observation["subjects"] = [
                {"subject-uuid": subject, "type": "inventory-item"} for subject in subjects
            ]
        runs = sorted(
            {
                run_resource[str(ref)]
                for ref in report.referenced_run_ids([result])
                if str(ref) in run_resource
            }
        )
        evidence_links = [
            {"href": f"#{run}", "description": "Raw outputs of a verification run"} for run in runs
        ] + [
            {"href": f"#{dump_uuid[dump['run']]}", "description": ZERT_DUMP}
            for dump in (result.evidence or {}).get("zert_dumps") or []
            if isinstance(dump, dict) and dump.get("run") in dump_uuid
        ]
        if evidence_links:
            observation["relevant-evidence"] = evidence_links
        remarks = _evidence_remarks(result.evidence or {})
        if remarks:
            observation["remarks"] = remarks
        observations.append(observation)

        finding: dict[str, Any] = {
            "uuid": stable_uuid(assessment, f"finding/{control}"),
            "title": _line(result.title),
            "description": result.rationale or "No rationale recorded.",
            "props": [
                _prop("outcome", result.outcome),
                _prop("framework", result.framework),
                *[_prop("sp800-53", ref) for ref in result.sp800_53 or []],
            ],
            "target": {
                "type": "objective-id",
                "target-id": control,
                "status": {"state": state, "reason": reason},
            },
            "related-observations": [
                {"observation-uuid": observation_uuid},
                *({"observation-uuid": o["uuid"]} for o in related.get(control, [])),
            ],
        }
        status = RISK_STATUS.get(Outcome(result.outcome))
        if status is not None:
            risk_uuid = stable_uuid(assessment, f"risk/{control}")
            risk: dict[str, Any] = {
                "uuid": risk_uuid,
                "title": _line(f"{control}: {result.title}"),
                "description": result.rationale or "No rationale recorded.",
                "statement": (
                    result.exception.justification
                    if result.exception is not None
                    else f"The control {control} is not met: {result.get_outcome_display()}."
                ),
                "status": status,
                "related-observations": [{"observation-uuid": observation_uuid}],
            }
            if result.exception is not None:
                risk["deadline"] = _time(result.exception.expires_at)
                risk["props"] = [_prop("exception-owner", result.exception.owner.get_username())]
            risks.append(risk)
            finding["related-risks"] = [{"risk-uuid": risk_uuid}]
        findings.append(finding)

    inventory = [
        {
            "uuid": str(service.uuid),
            "description": _line(
                f"{service.name} on {service.stack.label}: {service.direction} port"
                f" {_port(service)}"
            ),
            "props": [
                _prop("lpar", service.stack.lpar.name),
                _prop("stack", service.stack.label),
                _prop("service", service.name),
                _prop("tier", service.tier),
            ],
        }
        for service in scope.services
    ]
    result_block: dict[str, Any] = {
        "uuid": stable_uuid(assessment, "result"),
        "title": _line(f"AT-TLS assessment of {scope.label}"),
        "description": (
            f"Control catalog {assessment.catalog_version} evaluated for {scope.label},"
            f" {_time(assessment.period_start)} to {_time(assessment.period_end)}."
        ),
        "start": _time(assessment.period_start),
        "end": _time(assessment.period_end),
        "props": [
            _prop("scope-kind", assessment.scope_kind),
            _prop("catalog-version", assessment.catalog_version or "unknown"),
            _prop("catalog-sha256", assessment.catalog_sha256 or "unknown"),
            *(
                [
                    _prop("audit-log-head-sequence", chain_head.sequence),
                    _prop("audit-log-head-sha256", chain_head.hash),
                ]
                if chain_head is not None
                else []
            ),
        ],
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": r.control_id} for r in rows]}
                if rows
                else {"include-all": {}}
            ]
        },
    }
    if inventory:
        result_block["local-definitions"] = {"inventory-items": inventory}
    if observations:
        result_block["observations"] = observations
    if risks:
        result_block["risks"] = risks
    if findings:
        result_block["findings"] = findings

    resources: list[dict[str, Any]] = [
        {
            "uuid": plan_uuid,
            "title": "Assessment plan",
            "description": (
                f"The portal's assessment {assessment.uuid}: scope {assessment.scope_kind}"
                f" {json.dumps(assessment.scope, sort_keys=True)}, parameters"
                f" {json.dumps(assessment.parameters or {}, sort_keys=True)}."
            ),
        },
        {
            "uuid": catalog_uuid,
            "title": _line(f"Control catalog {assessment.catalog_version or 'unknown'}"),
            "description": "NIST SP 800-52r2 and SP 800-207 controls for AT-TLS on z/OS.",
            "props": [_prop("sha256", assessment.catalog_sha256 or "unknown")],
        },
    ]
    for row in manifest:
        run = row["run"]
        resource: dict[str, Any] = {
            "uuid": str(run.uuid),
            "title": _line(f"Verification of {run.stack.label} at {_time(run.created_at)}"),
            "description": "Raw command outputs as received from the LPAR, with their SHA-256.",
        }
        links = [
            {
                "href": f"/fleet/verifications/{run.uuid}/outputs/{output['name']}/",
                "media-type": "text/plain",
                "hashes": [{"algorithm": "SHA-256", "value": output["sha256"]}],
            }
            for output in row["outputs"]
            if re.fullmatch(r"[0-9a-f]{64}", str(output["sha256"]))
        ]
        if links:
            resource["rlinks"] = links
        resources.append(resource)

    resources.extend(impact_resources)
    for dump in dumps:
        resource = {
            "uuid": dump_uuid[dump["run"]],
            "title": _line(
                f"zERT dump (SMF 119) of {dump.get('lpar')} received"
                f" {dump.get('finished_at') or 'at an unrecorded time'}"
            ),
            "description": (
                f"Binary SMF 119 records as received by zERT collection run {dump['run']}"
                f" ({dump.get('source')}); {dump.get('records') or 0} of its records were first"
                " stored for the period's days. The portal keeps it under its SHA-256."
            ),
            "props": [_prop("zert-records", dump.get("records") or 0)],
        }
        if re.fullmatch(r"[0-9a-f]{64}", str(dump.get("sha256"))):
            resource["rlinks"] = [
                {
                    "href": f"zert-dumps/{dump.get('file') or dump['sha256'] + '.smf'}",
                    "media-type": "application/octet-stream",
                    "hashes": [{"algorithm": "SHA-256", "value": dump["sha256"]}],
                }
            ]
        resources.append(resource)

    return {
        "assessment-results": {
            "uuid": stable_uuid(assessment, "assessment-results"),
            "metadata": {
                "title": _line(f"AT-TLS assessment results: {scope.label}"),
                "last-modified": collected,
                "version": str(assessment.uuid),
                "oscal-version": OSCAL_VERSION,
                "roles": [{"id": "assessor", "title": "Assessor"}],
                "parties": [
                    {
                        "uuid": party_uuid,
                        "type": "person",
                        "name": _line(assessor.get_full_name() or assessor.get_username()),
                    }
                ],
                "responsible-parties": [{"role-id": "assessor", "party-uuids": [party_uuid]}],
            },
            "import-ap": {"href": f"#{plan_uuid}"},
            "results": [result_block],
            "back-matter": {"resources": resources},
        }
    }


def dumps(document: dict[str, Any]) -> bytes:
    """The document as UTF-8 JSON: indented, keys in the order built, ending in a newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


# --- validation against the official schema ----------------------------------------------------

# Python's `re` has no \p{...} classes; the schema uses them in one pattern (TokenDatatype,
# an XML NCName). They are translated, not the schema file changed: a letter is a word
# character that is neither a digit nor "_", a number is a digit.
_UNICODE_CLASSES = {r"\p{L}": r"[^\W\d_]", r"\p{N}": r"\d"}


def _python_pattern(pattern: str) -> str:
    for xml_class, python_class in _UNICODE_CLASSES.items():
        pattern = pattern.replace(xml_class, python_class)
    return pattern


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _validator() -> Any:
    import jsonschema
    from jsonschema import validators

    def pattern(validator: Any, value: str, instance: Any, _schema: Any) -> Any:
        if isinstance(instance, str) and not re.search(_python_pattern(value), instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {value!r}")

    checker = validators.extend(jsonschema.Draft7Validator, {"pattern": pattern})
    return checker(schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validate(document: dict[str, Any]) -> list[str]:
    """Errors of `document` against the official OSCAL schema: empty when it is valid.

    The schema's top level is a oneOf over every OSCAL model; an assessment-results document
    is checked against its own branch so the errors name the field, not the oneOf.
    """
    import jsonschema

    validator = _validator()
    if set(document) != {"assessment-results"}:
        return [f"expected one key 'assessment-results', found {sorted(document)}"]
    branch = {
        "$ref": "#/definitions/oscal-complete-oscal-ar:assessment-results",
        "definitions": schema()["definitions"],
    }
    sub = validator.evolve(schema=branch)
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sub.iter_errors(document["assessment-results"])
    ]
    if not errors and not validator.is_valid(document):
        whole = jsonschema.exceptions.best_match(validator.iter_errors(document))
        errors.append(f"(document): {whole.message if whole else 'invalid'}")
    return errors
