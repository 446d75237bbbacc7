"""The control catalog: project data that loads, validates and maps every check to code."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import yaml

from audits.assessment import CHECKS
from audits.catalog import CATALOG_PATH, CatalogError, load_catalog

RESEARCH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "nist-catalog.yaml"


def test_the_catalog_loads_with_its_version_and_the_sha256_of_its_file():
    catalog = load_catalog()

    assert catalog.version == "1.3.0"
    assert catalog.sha256 == hashlib.sha256(CATALOG_PATH.read_bytes()).hexdigest()
    assert len(catalog.controls) == 67
    assert load_catalog() is catalog  # cached until the file changes


def test_every_check_name_resolves_to_a_function():
    catalog = load_catalog()

    missing = sorted(c.check for c in catalog.controls if c.check not in CHECKS)

    assert missing == []
    assert all(callable(CHECKS[c.check]) for c in catalog.controls)


def test_the_catalog_holds_52_sp800_52r2_controls_11_sp800_207_tenets_and_4_history_rules():
    catalog = load_catalog()
    frameworks = [c.framework for c in catalog.controls]

    assert frameworks.count("SP800-52r2") == 52
    assert frameworks.count("SP800-207") == 11
    assert [c.id for c in catalog.controls if c.framework == "SP800-53"] == [
        "HIST-DRIFT",
        "HIST-CHANGE-APPROVAL",
        "HIST-CHANGE-IMPACT",
        "HIST-CAMPAIGN-GATES",
    ]


def test_the_catalog_keeps_the_control_ids_of_the_research_notes():
    if not RESEARCH.exists():
        pytest.skip("shared/reference/nist-catalog.yaml is not beside the project")
    research = yaml.safe_load(RESEARCH.read_text())
    ids = {control["id"] for control in research["controls"]}

    assert ids <= load_catalog().ids
    assert len(ids) == 63


def test_each_control_names_sp800_53_references_with_their_oscal_ids():
    catalog = load_catalog()
    tls10 = catalog.control("NIST-800-52r2-3.1-tls10")

    assert [(r.label, r.oscal_id) for r in tls10.sp800_53] == [
        ("SC-8(1)", "sc-8.1"),
        ("SC-13", "sc-13"),
        ("CM-6", "cm-6"),
        ("CM-7", "cm-7"),
    ]
    assert all(control.sp800_53 for control in catalog.controls)
    assert catalog.sp800_53["IA-5(2)"].title == "Public Key-based Authentication"


def test_controls_the_portal_cannot_judge_say_what_evidence_they_need():
    catalog = load_catalog()
    unjudged = [c for c in catalog.controls if c.check.startswith("not_evaluable")]

    assert len(unjudged) == 9
    assert all(len(c.needs) > 30 for c in unjudged)


def test_parameters_have_typed_defaults_and_refuse_unknown_names_and_bad_values():
    catalog = load_catalog()

    defaults = catalog.resolve_parameters()
    assert defaults["deployment_class"] == "government_only"
    assert defaults["tls13_mandatory_from"] == dt.date(2024, 1, 1)
    assert defaults["fips_required"] is True
    assert defaults["evaluation_date"] is None
    with pytest.raises(CatalogError, match="unknown parameter"):
        catalog.resolve_parameters({"deploymentclass": "government_only"})
    with pytest.raises(CatalogError, match="one of government_only"):
        catalog.resolve_parameters({"deployment_class": "federal"})
    with pytest.raises(CatalogError, match="a whole number"):
        catalog.resolve_parameters({"cert_expiry_warning_days": "30"})
    with pytest.raises(CatalogError, match="true or false"):
        catalog.resolve_parameters({"fips_required": "yes"})


def test_an_evaluation_date_without_a_time_means_the_end_of_that_day_in_utc():
    catalog = load_catalog()

    day = catalog.resolve_parameters({"evaluation_date": "2025-06-30"})["evaluation_date"]
    moment = catalog.resolve_parameters({"evaluation_date": "2025-06-30T08:00:00+02:00"})[
        "evaluation_date"
    ]

    assert day == dt.datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert moment == dt.datetime(2025, 6, 30, 6, 0, tzinfo=dt.UTC)
    assert catalog.parameters_to_json({"evaluation_date": day}) == {
        "evaluation_date": "2025-06-30T23:59:59.999999+00:00"
    }


def test_a_catalog_file_with_a_duplicate_id_or_an_unknown_reference_is_refused(tmp_path):
    text = CATALOG_PATH.read_text()
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text(text.replace("id: NIST-800-52r2-3.1-tls11", "id: NIST-800-52r2-3.1-tls10"))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(text.replace("sp800_53: [SC-17, IA-5(2), SC-12]", "sp800_53: [SC-99]"))

    with pytest.raises(CatalogError, match="used twice"):
        load_catalog(duplicate)
    with pytest.raises(CatalogError, match="SC-99"):
        load_catalog(unknown)


def test_the_catalog_is_written_in_our_words_not_pasted_from_the_research_notes():
    if not RESEARCH.exists():
        pytest.skip("shared/reference/nist-catalog.yaml is not beside the project")
    research = {c["id"]: c for c in yaml.safe_load(RESEARCH.read_text())["controls"]}

    same = [
        c.id
        for c in load_catalog().controls
        if c.id in research and " ".join(research[c.id]["requirement"].split()) == c.requirement
    ]

    assert same == []
