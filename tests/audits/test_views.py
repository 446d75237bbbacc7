"""The audits pages and API: who may do what, generation with progress, files, verification, log.

Personas (tests/fleet/ui_estate.py): ada the architect, olivia the operator, audrey the
auditor, owen who owns the Payments services (CICSWEB1, CICSWEB2, CICSWEBB), bea who owns
MQCHIN, adam the admin, nemo with no role.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.log import append
from audits.models import Assessment, AuditEntry, EvidencePack, RunState
from audits.tasks import generate_evidence_pack
from tests.audits.estate import Assessed, assess, build_assessed


@pytest.fixture
def assessed(make_user) -> Assessed:
    return build_assessed(make_user)


def client_of(assessed: Assessed, who: str | None) -> Client:
    client = Client()
    if who is not None:
        client.force_login(assessed.people[who])
    return client


def state() -> tuple[int, int]:
    return EvidencePack.objects.count(), Assessment.objects.count()


@pytest.fixture
def done(assessed: Assessed, django_capture_on_commit_callbacks) -> EvidencePack:
    with django_capture_on_commit_callbacks(execute=False):
        pack = audit_services.evidence_pack_request(
            actor=assessed.people["auditor"], assessment=assessed.assessment
        )
    assert generate_evidence_pack(pack.pk) == "succeeded"
    pack.refresh_from_db()
    return pack


def _period() -> dict[str, str]:
    today = timezone.now().date()
    return {"period_start": str(today - timedelta(days=3)), "period_end": str(today)}


# --- who may use the pages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("auditor", 200),
        ("architect", 200),
        ("owner_a", 200),
        ("operator", 403),
        ("admin", 403),
        ("nobody", 403),
    ],
)
def test_the_index_is_for_auditors_architects_and_owners(
    assessed: Assessed, who: str, status: int
) -> None:
    assert client_of(assessed, who).get("/audits/").status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(assessed: Assessed) -> None:
    for url in ("/audits/", "/audits/verify/", "/audits/log/"):
        response = client_of(assessed, None).get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- generating -------------------------------------------------------------------------------


def test_an_auditor_generates_an_estate_pack_and_follows_its_progress(
    assessed: Assessed, django_capture_on_commit_callbacks
) -> None:
    client = client_of(assessed, "auditor")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/audits/", {"scope_kind": "estate", **_period()})

    pack = EvidencePack.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/audits/packs/{pack.uuid}/"
    assert len(callbacks) == 1
    assert pack.assessment.status == RunState.PENDING
    assert pack.assessment.scope_kind == "estate"
    # While it waits, the progress partial polls every second.
    partial = client.get(
        f"/audits/packs/{pack.uuid}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pack-progress"
    )
    assert partial.status_code == 200
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="pack-progress"') and 'hx-trigger="every 1s"' in body
    assert "<html" not in body

    assert generate_evidence_pack(pack.pk) == "succeeded"

    page = client.get(f"/audits/packs/{pack.uuid}/").content.decode()
    assert "every 1s" not in page
    assert f"/audits/packs/{pack.uuid}/pdf/" in page and f"/audits/packs/{pack.uuid}/oscal/" in page
    pack.refresh_from_db()
    assert pack.pdf_sha256 in page


def test_a_generate_request_from_htmx_is_answered_with_hx_location(
    assessed: Assessed, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = client_of(assessed, "architect").post(
            "/audits/", {"scope_kind": "lpar", "lpar": "SYSA", **_period()}, HTTP_HX_REQUEST="true"
        )

    pack = EvidencePack.objects.get()
    assert response.status_code == 204
    assert response["HX-Location"] == f"/audits/packs/{pack.uuid}/"
    assert pack.assessment.scope == {"lpar": "SYSA"}


def test_an_operator_may_not_generate_and_nothing_is_saved(assessed: Assessed) -> None:
    before = state()

    response = client_of(assessed, "operator").post(
        "/audits/", {"scope_kind": "estate", **_period()}
    )

    assert response.status_code == 403
    assert state() == before


def test_an_owner_generates_a_pack_of_their_own_services(
    assessed: Assessed, django_capture_on_commit_callbacks
) -> None:
    services = assessed.fleet.design.services
    mine = [str(services["CICSWEB1"].uuid), str(services["CICSWEB2"].uuid)]

    with django_capture_on_commit_callbacks(execute=False):
        response = client_of(assessed, "owner_a").post(
            "/audits/", {"scope_kind": "services", "services": mine, **_period()}
        )

    assert response.status_code == 302
    assert EvidencePack.objects.get().assessment.scope == {"services": mine}


@pytest.mark.parametrize("scope", ["estate", "someone_else"])
def test_an_owner_may_not_generate_beyond_their_services(assessed: Assessed, scope: str) -> None:
    services = assessed.fleet.design.services
    data = (
        {"scope_kind": "estate"}
        if scope == "estate"
        else {"scope_kind": "services", "services": [str(services["MQCHIN"].uuid)]}
    )
    before = state()

    response = client_of(assessed, "owner_a").post("/audits/", {**data, **_period()})

    assert response.status_code == 422  # the form offers neither
    assert state() == before


def test_a_new_pack_of_an_existing_assessment(
    assessed: Assessed, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = client_of(assessed, "auditor").post(
            f"/audits/assessments/{assessed.assessment.uuid}/pack/"
        )

    pack = EvidencePack.objects.get()
    assert response.status_code == 302
    assert pack.assessment == assessed.assessment


# --- seeing and downloading packs -------------------------------------------------------------


def test_the_signed_pdf_and_the_oscal_file_download_as_stored(
    assessed: Assessed, done: EvidencePack
) -> None:
    client = client_of(assessed, "auditor")

    pdf = client.get(f"/audits/packs/{done.uuid}/pdf/")
    oscal = client.get(f"/audits/packs/{done.uuid}/oscal/")

    body = b"".join(pdf.streaming_content)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert "attachment" in pdf["Content-Disposition"]
    assert hashlib.sha256(body).hexdigest() == done.pdf_sha256
    assert hashlib.sha256(b"".join(oscal.streaming_content)).hexdigest() == done.oscal_sha256
    assert client.get(f"/audits/packs/{done.uuid}/zip/").status_code == 404


def test_a_stored_file_that_changed_is_not_served(assessed: Assessed, done: EvidencePack) -> None:
    path = audit_selectors.pack_file(done, "pdf")
    path.write_bytes(path.read_bytes() + b"\n% appended")

    response = client_of(assessed, "auditor").get(f"/audits/packs/{done.uuid}/pdf/")

    assert response.status_code == 409
    assert b"no longer matches" in response.content


def test_owners_see_only_packs_of_their_own_services(
    assessed: Assessed, done: EvidencePack, django_capture_on_commit_callbacks
) -> None:
    services = assessed.fleet.design.services
    mine = assess(
        assessed.fleet,
        scope_kind="service",
        scope={"services": [str(services["CICSWEB1"].uuid)]},
        actor=assessed.people["owner_a"],
    )
    with django_capture_on_commit_callbacks(execute=False):
        theirs = audit_services.evidence_pack_request(
            actor=assessed.people["owner_a"], assessment=mine
        )
    owner_a, owner_b = client_of(assessed, "owner_a"), client_of(assessed, "owner_b")

    index = owner_a.get("/audits/").content.decode()

    assert f"/audits/packs/{theirs.uuid}/" in index
    assert f"/audits/packs/{done.uuid}/" not in index  # the estate pack is not theirs
    assert owner_a.get(f"/audits/packs/{done.uuid}/").status_code == 404
    assert owner_b.get(f"/audits/packs/{theirs.uuid}/").status_code == 404
    assert owner_b.get(f"/audits/packs/{theirs.uuid}/pdf/").status_code == 404
    assert client_of(assessed, "operator").get(f"/audits/packs/{done.uuid}/").status_code == 403


# --- verification -----------------------------------------------------------------------------


def _upload(client: Client, data: bytes, name: str = "pack.pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/audits/verify/", {"file": SimpleUploadedFile(name, data, "application/pdf")}
    )


def test_anyone_signed_in_verifies_a_pack(assessed: Assessed, done: EvidencePack) -> None:
    data = audit_selectors.pack_file(done, "pdf").read_bytes()

    as_auditor = _upload(client_of(assessed, "auditor"), data).content.decode()
    as_operator = _upload(client_of(assessed, "operator"), data).content.decode()

    for page in (as_auditor, as_operator):
        assert "<strong>Valid.</strong>" in page
        assert "Test Bank evidence signing (DEMO), Test Bank" in page
        assert done.pdf_sha256 in page
    assert f"/audits/packs/{done.uuid}/" in as_auditor
    assert f"/audits/packs/{done.uuid}/" not in as_operator  # not theirs to open


def test_a_changed_byte_is_shown_as_not_valid(assessed: Assessed, done: EvidencePack) -> None:
    data = bytearray(audit_selectors.pack_file(done, "pdf").read_bytes())
    data[len(data) // 2] ^= 0x04

    page = _upload(client_of(assessed, "auditor"), bytes(data)).content.decode()

    assert "Not valid: the document is not as it was signed." in page
    assert "no evidence pack in the ledger has this file" in page


def test_an_upload_that_is_not_a_pdf_is_answered_calmly(assessed: Assessed) -> None:
    response = _upload(client_of(assessed, "owner_b"), b"hello", "notes.txt")

    # Refused by the quick structural check, before pyHanko (tests/audits/test_verify_upload.py).
    assert response.status_code == 422
    assert "does not start with the PDF header" in response.content.decode()


# --- the API ----------------------------------------------------------------------------------


def test_the_api_generates_reports_progress_and_serves_the_files(
    assessed: Assessed, django_capture_on_commit_callbacks
) -> None:
    client = client_of(assessed, "auditor")

    with django_capture_on_commit_callbacks(execute=False):
        created = client.post(
            "/audits/api/packs/",
            {"assessment": str(assessed.assessment.uuid)},
            content_type="application/json",
        )
    uuid = created.json()["uuid"]
    assert created.status_code == 202 and created.json()["status"] == "pending"
    assert generate_evidence_pack(EvidencePack.objects.get(uuid=uuid).pk) == "succeeded"
    status = client.get(f"/audits/api/packs/{uuid}/").json()
    pdf = client.get(f"/audits/api/packs/{uuid}/pdf/")
    verified = client.post("/audits/api/verify/", {"file": _file(b"".join(pdf.streaming_content))})

    assert status["status"] == "succeeded"
    assert status["pdf_url"].endswith(f"/audits/api/packs/{uuid}/pdf/")
    assert [step["step"] for step in status["progress"]][-1] == "ledger"
    assert verified.status_code == 200
    result = verified.json()
    assert result["ok"] and result["intact"] and result["trusted"]
    assert result["matches_ledger"]["uuid"] == uuid
    assert result["matches_ledger"]["assessment"] == str(assessed.assessment.uuid)


def _file(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("pack.pdf", data, "application/pdf")


def test_the_api_refuses_an_owner_a_scope_beyond_their_services(assessed: Assessed) -> None:
    services = assessed.fleet.design.services
    before = state()

    response = client_of(assessed, "owner_a").post(
        "/audits/api/packs/",
        {
            "scope_kind": "services",
            "services": [str(services["MQCHIN"].uuid)],
            "period_start": (timezone.now() - timedelta(days=1)).isoformat(),
            "period_end": timezone.now().isoformat(),
        },
        content_type="application/json",
    )

    assert response.status_code == 403
    assert state() == before


def test_the_api_answers_400_for_a_bad_request(assessed: Assessed) -> None:
    client = client_of(assessed, "auditor")

    missing = client.post(
        "/audits/api/packs/", {"scope_kind": "estate"}, content_type="application/json"
    )
    backwards = client.post(
        "/audits/api/packs/",
        {
            "scope_kind": "estate",
            "period_start": timezone.now().isoformat(),
            "period_end": (timezone.now() - timedelta(days=1)).isoformat(),
        },
        content_type="application/json",
    )

    assert missing.status_code == 400 and "period_start" in missing.json()
    assert backwards.status_code == 400 and "period" in backwards.json()["detail"]
    assert client_of(assessed, "operator").get("/audits/api/packs/").status_code == 403


# --- the audit log ----------------------------------------------------------------------------


def test_auditors_browse_and_filter_the_log(assessed: Assessed) -> None:
    start = timezone.now() - timedelta(days=10)
    for n in range(60):
        append(actor="olivia", action="approve", summary=f"approve deployment {n}", at=start)
    append(
        actor="ada", action="publish", summary="publish SYSA/TCPIP v3", at=start + timedelta(days=5)
    )
    client = client_of(assessed, "auditor")

    first = client.get("/audits/log/").content.decode()
    second = client.get("/audits/log/?page=2").content.decode()
    by_actor = client.get("/audits/log/?actor=ada&action=publish").content.decode()
    by_date = client.get(
        f"/audits/log/?until={(start + timedelta(days=1)).date()}"
    ).content.decode()

    total = AuditEntry.objects.count()
    dash = "\u2013"  # the pager's en dash
    assert f"1{dash}50 of {total}" in first
    assert f"51{dash}{min(100, total)} of {total}" in second
    assert "publish SYSA/TCPIP v3" in by_actor and "approve deployment" not in by_actor
    assert "approve deployment 59" in by_date and "publish SYSA/TCPIP v3" not in by_date


def test_the_log_page_shows_the_chain_status_and_a_broken_link(assessed: Assessed) -> None:
    client = client_of(assessed, "auditor")
    intact = client.get("/audits/log/chain/").content.decode()
    victim = AuditEntry.objects.order_by("sequence")[2]
    AuditEntry.objects.filter(pk=victim.pk).update(summary="nothing to see")

    broken = client.get("/audits/log/chain/?fresh=1").content.decode()

    assert "Chain intact" in intact
    assert f"Chain broken at entry #{victim.sequence}" in broken
    assert "changed after it was written" in broken


@pytest.mark.parametrize("who", ["operator", "owner_a", "admin"])
def test_the_log_is_for_auditors_and_architects_only(assessed: Assessed, who: str) -> None:
    client = client_of(assessed, who)

    assert client.get("/audits/log/").status_code == 403
    assert client.get("/audits/log/chain/").status_code == 403


def test_the_log_page_reads_a_bounded_number_of_queries(
    assessed: Assessed, django_assert_max_num_queries
) -> None:
    for n in range(200):
        append(actor="olivia", action="approve", summary=f"approve {n}")
    client = client_of(assessed, "auditor")

    with django_assert_max_num_queries(12):
        assert client.get("/audits/log/?action=approve").status_code == 200


def test_the_form_offers_every_catalog_parameter_with_its_default(assessed: Assessed) -> None:
    page = client_of(assessed, "auditor").get("/audits/").content.decode()

    assert "Assessment parameters" in page
    assert 'name="p_deployment_class"' in page
    assert "catalog default (government_only)" in page
    assert 'name="p_cert_expiry_warning_days"' in page and 'placeholder="30"' in page


def test_parameters_given_in_the_form_are_the_assessments_and_the_rest_default(
    assessed: Assessed, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = client_of(assessed, "auditor").post(
            "/audits/",
            {
                "scope_kind": "estate",
                **_period(),
                "p_deployment_class": "citizen_or_business_facing",
                "p_fips_required": "false",
                "p_cert_expiry_warning_days": "45",
                "p_monitoring_min_hour_coverage": "",
            },
        )

    assert response.status_code == 302
    pack = EvidencePack.objects.get()
    assert pack.assessment.parameters == {
        "deployment_class": "citizen_or_business_facing",
        "fips_required": False,
        "cert_expiry_warning_days": 45,
    }
    assert generate_evidence_pack(pack.pk) == "succeeded"
    resolved = Assessment.objects.get(pk=pack.assessment_id).parameters
    assert resolved["fips_required"] is False and resolved["cert_expiry_warning_days"] == 45
    assert resolved["monitoring_min_hour_coverage"] == 0.95  # left empty: the default


def test_a_parameter_of_the_wrong_kind_is_refused_and_nothing_is_saved(
    assessed: Assessed,
) -> None:
    before = state()

    response = client_of(assessed, "auditor").post(
        "/audits/",
        {
            "scope_kind": "estate",
            **_period(),
            "p_deployment_class": "anyone",
            "p_min_rsa_bits": "x",
        },
    )

    assert response.status_code == 422
    body = response.content.decode()
    assert "Select a valid choice" in body and "Enter a whole number" in body
    assert '<details class="pack-parameters" open>' in body
    assert state() == before
