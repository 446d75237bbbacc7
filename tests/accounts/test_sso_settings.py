"""Single sign-on from the environment: off by default, and production refuses a configuration
that would send directory passwords in clear or trust a provider over plain HTTP."""

from __future__ import annotations

from tests.portal.test_security import production_env, run_manage

LDAP = {
    "LDAP_USER_BASE": "ou=people,o=bank",
    "LDAP_GROUP_BASE": "ou=groups,o=bank",
    "LDAP_GROUP_TYPE": "nestedActiveDirectory",
}
OIDC = {
    "OIDC_ISSUER": "https://idp.bank.example",
    "OIDC_CLIENT_ID": "attls-portal",
    "OIDC_CLIENT_SECRET": "s3cret",
}


def test_production_with_both_directories_over_tls_passes_check_deploy() -> None:
    env = {**production_env(), **LDAP, **OIDC, "LDAP_SERVER_URI": "ldaps://dc1.bank.example"}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_ldap_without_tls_and_an_http_issuer() -> None:
    plain = run_manage(
        "check", **production_env(), **LDAP, LDAP_SERVER_URI="ldap://dc1.bank.example"
    )
    assert plain.returncode != 0 and "cross the network in clear" in plain.stderr

    http = run_manage(
        "check", **production_env(), **{**OIDC, "OIDC_ISSUER": "http://idp.bank.example"}
    )
    assert http.returncode != 0 and "OIDC_ISSUER must be an https:// URL" in http.stderr


def test_an_issuer_without_a_client_id_is_refused() -> None:
    env = {**production_env(), **OIDC}
    del env["OIDC_CLIENT_ID"]

    result = run_manage("check", **env)

    assert result.returncode != 0 and "OIDC_CLIENT_ID must be set" in result.stderr
