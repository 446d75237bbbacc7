"""Accepted risks: recorded by architects, shown as EXCEPTION (never PASS), until they end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from audits.log import verify_chain
from audits.models import AuditEntry, RiskException
from audits.selectors import risk_exceptions_for
from audits.services import assessment_run, risk_exception_create, risk_exception_revoke
from policies import services as design
from policies.models import ChangeRecord, EnvironmentAction
from tests.audits.assessment_support import deploy, period, publish, run_catalog
from tests.policies import conftest as design_fixtures

# The design fixtures of tests/policies (one LPAR, SYSA/TCPIP, the shared objects of the
# reference account), shared with these tests.
architect = design_fixtures.architect
stack = design_fixtures.stack
shared = design_fixtures.shared
make_service = design_fixtures.make_service

TLS10 = "NIST-800-52r2-3.1-tls10"
TLS13 = "NIST-800-52r2-3.1-tls13-support"
JUSTIFICATION = "The card partner's terminals speak TLS 1.0 only until their refresh in Q3."


@pytest.fixture
def estate(make_user, stack, shared, make_service, architect):
    """TN3270S enables TLS 1.0 (FAIL), CICSWEB1 does not (PASS); both deployed 6 days ago."""
    legacy = design.shared_object_create(
        actor=architect,
        model=EnvironmentAction,
        fields={
            "name": "envLegacy",
            "keyring": shared["keyring"],
            "cipher_set": shared["ciphers"],
            "handshake_role": "Server",
            "tlsv1": True,
        },
    )
    owner = make_user("owen", Role.APP_OWNER)
    tn3270 = make_service("TN3270S", 992, environment_action=legacy, owners=[owner])
    cics = make_service("CICSWEB1", 8443, jobname="CICSPRD1")
    version = publish(stack, architect)
    deploy(
        stack,
        version,
        requester=make_user("olivia", Role.OPERATOR),
        approver=make_user("otto", Role.OPERATOR),
        at=timezone.now() - timedelta(days=6),
    )
    return {
        "architect": architect,
        "owner": owner,
        "auditor": make_user("audrey", Role.AUDITOR),
        "tn3270": tn3270,
        "cics": cics,
        "stack": stack,
    }


def _accept(estate, **fields):
    values = {
        "actor": estate["architect"],
        "control_id": TLS10,
        "service": estate["tn3270"],
        "justification": JUSTIFICATION,
        "owner": estate["owner"],
        "expires_at": timezone.now() + timedelta(days=30),
    }
    values.update(fields)
    return risk_exception_create(**values)


def test_an_exception_turns_the_fail_into_exception_with_its_justification(estate):
    assert run_catalog()[TLS10].outcome == "FAIL"
    exception = _accept(estate)

    result = run_catalog()[TLS10]

    assert result.outcome == "EXCEPTION"
    assert result.exception == exception
    assert (
        "EXCEPTION: rule TN3270S (SYSA/TCPIP) has TLSv1 On (environment envLegacy) (was FAIL;"
        " accepted risk for service TN3270S (SYSA/TCPIP) until"
    ) in result.rationale
    assert JUSTIFICATION in result.rationale
    assert "owner owen" in result.rationale
    assert result.evidence["exceptions"][0]["uuid"] == str(exception.uuid)
    assert result.evidence["findings"][0]["original_outcome"] == "FAIL"


def test_once_expired_the_exception_no_longer_applies_and_the_fail_is_back(estate):
    exception = _accept(estate)
    assert run_catalog()[TLS10].outcome == "EXCEPTION"

    # Judged at an instant after it expired (expires_at in the past relative to it) ...
    later = run_catalog(evaluation_date=(exception.expires_at + timedelta(days=1)).isoformat())
    # ... and once its end date has passed for real.
    RiskException.objects.filter(pk=exception.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    now = run_catalog()[TLS10]

    for result in (later[TLS10], now):
        assert result.outcome == "FAIL"
        assert result.exception is None
        assert "FAIL: rule TN3270S (SYSA/TCPIP) has TLSv1 On (environment envLegacy)" in (
            result.rationale
        )
        assert "expired on" in result.rationale and "no longer applies" in result.rationale
        assert result.evidence["exceptions"][0]["active"] is False


def test_a_revoked_exception_no_longer_applies(estate):
    exception = _accept(estate)

    revoked = risk_exception_revoke(actor=estate["architect"], exception=exception, note="fixed")
    result = run_catalog()[TLS10]

    assert revoked.revoked_at is not None
    assert result.outcome == "FAIL"
    assert "was revoked on" in result.rationale
    with pytest.raises(ValueError, match="already revoked"):
        risk_exception_revoke(actor=estate["architect"], exception=revoked)


def test_an_exception_never_makes_a_pass_and_never_covers_another_service(estate):
    _accept(estate, service=estate["cics"])  # CICSWEB1 passes; TN3270S still fails
    _accept(estate, control_id=TLS13, service=estate["cics"])

    results = run_catalog()

    assert results[TLS10].outcome == "FAIL"
    assert results[TLS10].exception is None
    assert results[TLS13].outcome == "PASS"
    assert "EXCEPTION" not in results[TLS13].rationale


def test_a_stack_wide_exception_covers_every_rule_of_the_stack(estate):
    _accept(estate, service=None, stack=estate["stack"])

    result = run_catalog()[TLS10]

    assert result.outcome == "EXCEPTION"
    assert "accepted risk for stack SYSA/TCPIP" in result.rationale


def test_an_exception_recorded_after_the_evaluation_instant_does_not_apply(estate):
    _, end = period()
    _accept(estate)

    result = run_catalog(evaluation_date=(end - timedelta(days=1)).isoformat())[TLS10]

    assert result.outcome == "FAIL"


def test_only_architects_accept_risks(estate, make_user):
    for role in (Role.OPERATOR, Role.AUDITOR, Role.APP_OWNER, Role.ADMIN):
        with pytest.raises(PermissionError):
            _accept(estate, actor=make_user(f"user-{role.value.replace(' ', '-')}", role))
    exception = _accept(estate)
    with pytest.raises(PermissionError):
        risk_exception_revoke(actor=estate["auditor"], exception=exception)
    assert RiskException.objects.count() == 1


def test_an_exception_needs_a_known_control_a_reason_and_a_future_end(estate):
    with pytest.raises(ValueError, match="no control"):
        _accept(estate, control_id="NIST-800-52r2-9.9-imaginary")
    with pytest.raises(ValueError, match="justification is empty"):
        _accept(estate, justification="   ")
    with pytest.raises(ValueError, match="expire in the future"):
        _accept(estate, expires_at=timezone.now() - timedelta(days=1))
    assert not RiskException.objects.exists()


def test_recording_and_revoking_leave_change_records_chained_in_the_audit_log(estate):
    exception = _accept(estate)
    risk_exception_revoke(actor=estate["architect"], exception=exception, note="partner upgraded")

    records = ChangeRecord.objects.filter(object_type="RiskException").order_by("id")
    assert [(r.action, r.actor.username) for r in records] == [
        ("create", "ada"),
        ("revoke", "ada"),
    ]
    assert records[0].after["justification"] == JUSTIFICATION
    assert records[1].before["revoked_at"] is None
    assert records[1].after["revoked_at"] is not None
    assert records[1].note == "partner upgraded"
    assert list(
        AuditEntry.objects.filter(object_id=str(exception.uuid)).values_list("action", flat=True)
    ) == ["create", "revoke"]
    assert verify_chain().intact


def test_a_stored_assessment_links_the_exception_it_applied(estate):
    exception = _accept(estate)
    start, end = period()

    assessment = assessment_run(
        actor=estate["auditor"], scope_kind="estate", scope={}, period_start=start, period_end=end
    )

    stored = assessment.results.get(control_id=TLS10)
    assert stored.outcome == "EXCEPTION"
    assert stored.exception == exception
    assert assessment.summary["exceptions_applied"] == [str(exception.uuid)]
    assert assessment.summary["outcomes"]["EXCEPTION"] >= 1


def test_owners_see_the_exceptions_on_their_services_and_auditors_all(estate, make_user):
    mine = _accept(estate)
    _accept(estate, service=estate["cics"], control_id=TLS13)

    assert set(risk_exceptions_for(user=estate["auditor"])) == set(RiskException.objects.all())
    assert list(risk_exceptions_for(user=estate["owner"])) == [mine]
    assert list(risk_exceptions_for(user=make_user("bea", Role.APP_OWNER))) == []
