"""Real directories for the single sign-on tests, started on loopback and stopped after.

- An OpenID provider (the `oidc-provider-mock` package: discovery, the authorization code
  flow, a token endpoint and RS256 ID tokens signed with the key its JWKS publishes) in a
  thread of the test process, on a free port of 127.0.0.1.
- Debian's slapd with a throw-away directory (a temporary slapd.conf and mdb database),
  loaded with ldapadd, on a free loopback port, stopped by its PID. Skipped with the reason
  where slapd or ldapadd is not installed (scripts/bootstrap.sh installs both).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import ldap
import pytest
from django.test import Client
from django.urls import reverse
from django_auth_ldap.config import GroupOfNamesType, LDAPSearch
from pytest_django import Settings

CLIENT_ID = "attls-portal"
CLIENT_SECRET = "test-only-client-secret"
BASE = "o=bank"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PASSWORD = "test-only-root-password"
OPERATORS = f"cn=zos-operators,ou=groups,{BASE}"
ARCHITECTS = f"cn=zos-architects,ou=groups,{BASE}"
LDAP_PASSWORD = "alice-directory-pass-1"


# --- OpenID Connect ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oidc_issuer() -> Iterator[str]:
    """The issuer URL of a real OpenID provider running on loopback for the module."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def oidc(settings: Settings, oidc_issuer: str) -> str:
    """OpenID Connect on, against the loopback provider, as portal/settings.py sets it."""
    settings.OIDC_ISSUER = oidc_issuer
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Test Bank SSO"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.sso.oidc.OidcBackend",
    ]
    return oidc_issuer


def oidc_person(issuer: str, sub: str, **claims: Any) -> None:
    """Tells the provider who `sub` is (its claims, groups among them)."""
    response = httpx.put(f"{issuer}/users/{quote(sub)}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


def oidc_sign_in(client: Client, issuer: str, sub: str) -> Any:
    """The authorization code flow, for real: the portal sends the browser to the provider,
    the person (`sub`) authorizes there, the provider sends the browser back with a code,
    which the portal trades for tokens. Returns the portal's answer to the callback."""
    start = client.get(reverse("sso:oidc-start"))
    assert start.status_code == 302, start
    authorize = start["Location"]
    assert authorize.startswith(f"{issuer}/"), authorize
    consent = httpx.post(authorize, data={"sub": sub}, timeout=10)
    assert consent.status_code in (302, 303), consent.text
    back = urlsplit(consent.headers["location"])
    assert back.path == reverse("sso:oidc-callback"), back
    return client.get(f"{back.path}?{back.query}")


# --- LDAP ----------------------------------------------------------------------------------------


@dataclass
class Slapd:
    url: str
    pid: int

    def modify(self, ldif: str) -> None:
        """Changes the directory with ldapmodify, as a directory admin would."""
        _ldap_tool("ldapmodify", self.url, ldif)

    def entry_uuid(self, dn: str) -> str:
        connection = ldap.initialize(self.url)
        connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        try:
            [(_, attrs)] = connection.search_s(dn, ldap.SCOPE_BASE, attrlist=["entryUUID"])
        finally:
            connection.unbind_s()
        return str(attrs["entryUUID"][0].decode())


def _ldap_tool(tool: str, url: str, ldif: str) -> None:
    subprocess.run(
        [tool, "-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
        input=ldif.encode(),
        check=True,
        capture_output=True,
        timeout=20,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SEED = f"""dn: {BASE}
objectClass: organization
o: bank

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,{BASE}
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
givenName: Alice
sn: Liddell
mail: alice@bank.example
employeeNumber: E1001
userPassword: {LDAP_PASSWORD}

dn: uid=bob,ou=people,{BASE}
objectClass: inetOrgPerson
uid: bob
cn: Bob Bank
sn: Bank
mail: bob@bank.example
employeeNumber: E1002
userPassword: bob-directory-pass-2

dn: {OPERATORS}
objectClass: groupOfNames
cn: zos-operators
member: uid=alice,ou=people,{BASE}
member: uid=bob,ou=people,{BASE}

dn: {ARCHITECTS}
objectClass: groupOfNames
cn: zos-architects
member: uid=bob,ou=people,{BASE}
"""


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """Debian's slapd with a throw-away directory on a free loopback port, for the module."""
    binary = shutil.which("slapd") or (
        "/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None
    )
    if binary is None or shutil.which("ldapadd") is None:
        pytest.skip("slapd or ldapadd not installed (Debian: apt-get install slapd ldap-utils)")
    root = tmp_path_factory.mktemp("slapd")
    (root / "db").mkdir()
    config = root / "slapd.conf"
    config.write_text(
        "\n".join(
            [
                *(
                    f"include /etc/ldap/schema/{name}.schema"
                    for name in ("core", "cosine", "inetorgperson")
                ),
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                f"pidfile {root / 'slapd.pid'}",
                "database mdb",
                "maxsize 10485760",
                f'suffix "{BASE}"',
                f'rootdn "{ROOT_DN}"',
                f"rootpw {ROOT_PASSWORD}",
                f"directory {root / 'db'}",
                "",
            ]
        )
    )
    url = f"ldap://127.0.0.1:{_free_port()}"
    # -d 0: stay in the foreground, so the PID is this process's and it stops with it.
    process = subprocess.Popen(
        [binary, "-f", str(config), "-h", f"{url}/", "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                connection = ldap.initialize(url)
                connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
                connection.unbind_s()
                break
            except ldap.SERVER_DOWN:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    pytest.fail(f"slapd did not start at {url}: {error[-2000:]}")
                time.sleep(0.1)
        _ldap_tool("ldapadd", url, SEED)
        yield Slapd(url=url, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def ldap_on(settings: Settings, slapd: Slapd) -> Slapd:
    """LDAP on, against the throw-away slapd, as portal/settings.py sets it from LDAP_*."""
    settings.LDAP_SERVER_URI = slapd.url
    settings.LDAP_ENABLED = True
    settings.LDAP_UNIQUE_ID_ATTRIBUTE = "entryUUID"
    settings.LDAP_IDENTITY_ISSUER = slapd.url
    settings.SSO_PERSON_LINK_LDAP_ATTRIBUTE = "employeeNumber"
    settings.AUTH_LDAP_SERVER_URI = slapd.url
    settings.AUTH_LDAP_BIND_DN = ROOT_DN
    settings.AUTH_LDAP_BIND_PASSWORD = ROOT_PASSWORD
    settings.AUTH_LDAP_GLOBAL_OPTIONS = {ldap.OPT_NETWORK_TIMEOUT: 5, ldap.OPT_TIMEOUT: 5}
    attributes = ["*", "entryUUID"]
    settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(
        f"ou=people,{BASE}", ldap.SCOPE_SUBTREE, "(uid=%(user)s)", attributes
    )
    settings.AUTH_LDAP_USER_ATTRLIST = attributes
    settings.AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
        f"ou=groups,{BASE}", ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
    )
    settings.AUTH_LDAP_GROUP_TYPE = GroupOfNamesType()
    settings.AUTH_LDAP_ALWAYS_UPDATE_USER = False
    settings.AUTH_LDAP_MIRROR_GROUPS = False
    settings.AUTH_LDAP_CACHE_TIMEOUT = 0
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.sso.ldap.LdapBackend",
    ]
    return slapd
