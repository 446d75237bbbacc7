"""The designer's lint is `attls lint --profile nist`: the same findings, shown as warnings with
the SP 800-52r2 controls they break, on the live preview, the publish page and the import."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.urls import reverse

from attls.cli import main as attls_cli
from attls.policy import parse_policy
from audits.catalog import load_catalog
from policies import services
from policies.lint import (
    PROTOCOL_CONTROLS,
    RSA_KEY_TRANSPORT_CONTROL,
    SUITES_CONTROL,
    design_lint,
)
from policies.models import EnvironmentAction, PolicyVersion
from tests.policies.test_views import as_user, environment_post_data, htmx

# A legacy file as teams bring it: TLSv1 On, 3DES and plain RSA key transport listed.
LEGACY = """\
TTLSRule                      TN3270
{
  LocalPortRange              992
  Direction                   Inbound
  Priority                    250
  TTLSGroupActionRef          grpOn
  TTLSEnvironmentActionRef    envLegacy
}

TTLSRule                      FTPS
{
  LocalPortRange              990
  Direction                   Inbound
  Priority                    240
  TTLSGroupActionRef          grpOn
  TTLSEnvironmentActionRef    envLegacy
}

TTLSGroupAction               grpOn
{
  TTLSEnabled                 On
}

TTLSEnvironmentAction         envLegacy
{
  HandshakeRole               Server
  TTLSKeyringParmsRef         ringLegacy
  TTLSCipherParmsRef          cipherLegacy
  TTLSEnvironmentAdvancedParms
  {
    TLSv1                     On
    TLSv1.2                   On
  }
}

TTLSCipherParms               cipherLegacy
{
  V3CipherSuites4Char         C02F000A002F
}

TTLSKeyringParms              ringLegacy
{
  Keyring                     TCPIP/LegacyRing
}
"""


def cli_findings(text: str, tmp_path) -> list[dict]:
    path = tmp_path / "legacy.policy"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    attls_cli(["lint", str(path), "--profile", "nist", "--json"], out, err)
    return json.loads(out.getvalue())


def test_the_designer_finds_what_attls_lint_profile_nist_finds_as_warnings(tmp_path) -> None:
    cli = [f for f in cli_findings(LEGACY, tmp_path) if f["code"].startswith("profile-")]
    assert len([f for f in cli if f["severity"] == "error"]) == 4

    designer = [f for f in design_lint(parse_policy(LEGACY)) if f.code.startswith("profile-")]

    assert sorted((f.code, f.message) for f in designer) == sorted(
        (f["code"], f["message"]) for f in cli
    )
    assert {f.severity for f in designer} == {"warning"}
    controls = {f.statement[1]: set() for f in designer}
    for f in designer:
        controls[f.statement[1]] |= set(f.controls)
    assert controls["TN3270"] == {
        "NIST-800-52r2-3.1-tls10",
        "NIST-800-52r2-3.1-tls11",  # On by default (attls.effective.DEFAULT_PROTOCOLS)
        SUITES_CONTROL,  # 000A TLS_RSA_WITH_3DES_EDE_CBC_SHA
        RSA_KEY_TRANSPORT_CONTROL,  # 002F TLS_RSA_WITH_AES_128_CBC_SHA: no forward secrecy
    }


def test_every_control_named_is_in_the_audit_catalog() -> None:
    catalog = {control.id for control in load_catalog().controls}
    named = {*PROTOCOL_CONTROLS.values(), SUITES_CONTROL, RSA_KEY_TRANSPORT_CONTROL}
    assert named <= catalog


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def design(make_service, shared, architect):
    make_service("CICSWEB1", 8443, jobname="CICSPRD1")
    make_service("MQCHIN", 1414, jobname="MQPRCHIN")
    return shared


def test_the_live_preview_of_tls_1_1_on_warns_with_the_sp_800_52r2_control(
    client, architect, design
) -> None:
    environment = design["environment"]
    as_user(client, architect)

    clean = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment),
        headers=htmx("preview"),
    )
    assert "lint clean" in clean.text and "profile-protocol" not in clean.text

    response = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment, tlsv1_1="on"),
        headers=htmx("preview"),
    )

    assert response.status_code == 200
    text = response.text
    assert "lint clean" not in text
    assert "profile-protocol" in text
    assert "enables TLSv1.1, which profile &#x27;NIST SP 800-52r2&#x27; does not allow" in text
    assert re.search(r'data-testid="control">NIST-800-52r2-3\.1-tls11<', text)
    assert 'class="badge sev-warning"' in text
    assert EnvironmentAction.objects.get(pk=environment.pk).tlsv1_1 is False


def test_the_publish_page_shows_them_and_publishing_needs_them_acknowledged(
    client, architect, design, stack
) -> None:
    environment = design["environment"]
    EnvironmentAction.objects.filter(pk=environment.pk).update(tlsv1_1=True)
    as_user(client, architect)

    page = client.get(reverse("policies:stack-detail", args=["SYSA", "TCPIP"]))
    assert "NIST-800-52r2-3.1-tls11" in page.text and "lint clean" not in page.text

    with pytest.raises(services.PublishRefused, match="acknowledge them"):
        services.policy_version_publish(stack=stack, actor=architect, note="TLS 1.1 for a partner")
    version = services.policy_version_publish(
        stack=stack, actor=architect, note="TLS 1.1 for a partner", acknowledge_warnings=True
    )
    acknowledged = PolicyVersion.objects.get(pk=version.pk).lint
    assert {c for f in acknowledged for c in f["controls"]} == {"NIST-800-52r2-3.1-tls11"}


def test_the_import_preview_lints_the_file_against_the_profile(client, architect, stack) -> None:
    as_user(client, architect)

    preview = client.post(reverse("policies:import"), {"stack": str(stack.uuid), "text": LEGACY})

    assert preview.status_code == 200
    text = preview.text
    assert 'data-testid="import-lint"' in text and "lint clean" not in text
    assert "4 warnings" in text
    for control in ("NIST-800-52r2-3.1-tls10", SUITES_CONTROL, RSA_KEY_TRANSPORT_CONTROL):
        assert control in text
