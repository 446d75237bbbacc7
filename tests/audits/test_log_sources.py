"""Where each audit entry came from: the client address and user agent of every sign-in and
every change made through the web or the API, the system otherwise; and one object's history.

Requests go through the whole middleware stack (Django's test client), so what is asserted is
what a browser or an API client behind (or not behind) a proxy would leave in the log.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.client import client_address
from accounts.roles import Role
from audits.log import verify_chain
from audits.models import AuditEntry
from policies import services
from policies.models import ChangeRecord, Keyring, Lpar
from tests.conftest import PASSWORD
from tests.portal.test_security import production_env, run_manage

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def sign_in(client: Client, username: str, password: str, **meta: str) -> None:
    client.post("/login/", {"username": username, "password": password}, **meta)


def test_a_sign_in_and_a_refused_one_record_address_and_user_agent(make_user) -> None:
    make_user("grace", Role.AUDITOR)
    client = Client()

    sign_in(client, "grace", PASSWORD, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT=BROWSER)
    client.logout()
    sign_in(client, "grace", "wrong", REMOTE_ADDR="2001:db8::7", HTTP_USER_AGENT="curl/8.5.0")

    login = AuditEntry.objects.get(action="login")
    failed = AuditEntry.objects.get(action="login failed")
    assert login.data["client"] == {"address": "203.0.113.5", "user_agent": BROWSER}
    assert login.data["backend"] == "django.contrib.auth.backends.ModelBackend"
    assert failed.data["client"] == {"address": "2001:db8::7", "user_agent": "curl/8.5.0"}
    assert verify_chain().intact  # the source is inside the hash


def test_a_user_agent_is_kept_to_one_bounded_line(make_user) -> None:
    make_user("grace", Role.AUDITOR)

    sign_in(Client(), "grace", PASSWORD, HTTP_USER_AGENT="evil\r\nX-Injected: 1" + "a" * 500)

    agent = AuditEntry.objects.get(action="login").user_agent
    assert "\n" not in agent and "\r" not in agent
    assert agent.startswith("evil  X-Injected: 1") and len(agent) == 300


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(make_user, settings) -> None:
    make_user("grace", Role.AUDITOR)
    settings.TRUSTED_PROXIES = ["10.0.0.1"]

    # Straight to the portal, claiming to be someone else: the peer is the client.
    sign_in(
        Client(), "grace", "wrong", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.66"
    )
    # Through our proxy: the address it appended, not what the client wrote before it.
    sign_in(
        Client(),
        "grace",
        PASSWORD,
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.66, 203.0.113.7",
    )

    assert AuditEntry.objects.get(action="login failed").client_address == "198.51.100.9"
    assert AuditEntry.objects.get(action="login").client_address == "203.0.113.7"


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("198.51.100.9", "192.0.2.66", [], "198.51.100.9"),  # no proxy declared
        ("198.51.100.9", "192.0.2.66", ["10.0.0.0/8"], "198.51.100.9"),  # peer not ours
        # Two proxies of ours (a network): the walk stops at the first address not ours.
        ("10.0.0.2", "192.0.2.66, 203.0.113.7, 10.0.0.9", ["10.0.0.0/24"], "203.0.113.7"),
        # Not an address where our proxy's entry should be: the proxy itself stands.
        ("10.0.0.2", "192.0.2.66, unknown", ["10.0.0.0/24"], "10.0.0.2"),
        ("10.0.0.2", "", ["10.0.0.0/24"], "10.0.0.2"),
        ("::ffff:203.0.113.7", "", [], "203.0.113.7"),  # IPv4 on an IPv6 socket
        ("not-an-address", "192.0.2.66", ["10.0.0.0/8"], ""),
    ],
)
def test_the_client_address_follows_only_trusted_proxies(
    settings, peer: str, forwarded: str, trusted: list[str], client: str
) -> None:
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == client


def test_a_change_through_the_api_records_its_client_with_the_change(make_user) -> None:
    api = APIClient()
    api.force_login(make_user("ada", Role.ARCHITECT))

    response = api.post(
        "/api/cipher-sets/",
        {"name": "ciphersTls13", "suites": ["1301", "1302"]},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="terraform/1.9",
    )

    assert response.status_code == 201, response.data
    record = ChangeRecord.objects.get(object_type="CipherSet")
    assert (record.client_address, record.user_agent) == ("203.0.113.9", "terraform/1.9")
    entry = AuditEntry.objects.get(object_type="CipherSet")
    assert (entry.client_address, entry.user_agent) == ("203.0.113.9", "terraform/1.9")


def test_a_change_the_system_makes_says_system(make_user) -> None:
    services.lpar_create(actor=None, name="SYSZ")

    record = ChangeRecord.objects.get(object_type="Lpar")
    assert record.client_address is None and record.user_agent == ""
    entry = AuditEntry.objects.get(object_type="Lpar")
    assert entry.data["client"] == "system" and entry.client_address == "system"


# --- one object's history --------------------------------------------------------------------


@pytest.fixture
def two_keyrings(make_user) -> tuple[Keyring, Keyring]:
    ada = make_user("ada", Role.ARCHITECT)
    rings = [
        services.shared_object_create(
            actor=ada, model=Keyring, fields={"name": name, "ring": f"TCPIP/{name}"}
        )
        for name in ("ringOne", "ringTwo")
    ]
    services.shared_object_update(
        actor=ada, obj=rings[0], fields={"certificate_labels": ["SRV"]}, expected_revision=1
    )
    services.lpar_create(actor=ada, name="SYSA")
    return rings[0], rings[1]


def history_query(obj: object) -> dict[str, str]:
    return {"object_type": type(obj).__name__, "object_id": str(obj.uuid)}  # type: ignore[attr-defined]


def test_the_log_filtered_by_object_shows_only_that_objects_entries(
    two_keyrings, make_user
) -> None:
    one, two = two_keyrings
    client = Client()
    client.force_login(make_user("grace", Role.AUDITOR))

    page = client.get("/audits/log/", history_query(one))

    shown = list(page.context["page"].object_list)
    assert [(e.action, e.object_id) for e in shown] == [
        ("update", str(one.uuid)),
        ("create", str(one.uuid)),
    ]
    assert str(two.uuid) not in page.content.decode()


def test_an_unreadable_object_filter_shows_no_entries_and_says_why(two_keyrings, make_user):
    client = Client()
    client.force_login(make_user("grace", Role.AUDITOR))

    page = client.get("/audits/log/", {"object_type": "Keyring", "object_id": "x' OR 1=1"})

    assert list(page.context["page"].object_list) == []
    assert "a uuid or a number" in page.content.decode()


def test_the_export_holds_the_same_objects_entries_with_their_source(
    two_keyrings, make_user
) -> None:
    one, _ = two_keyrings
    client = Client()
    client.force_login(make_user("grace", Role.AUDITOR))

    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(
                    client.get("/exports/audit-log.csv", history_query(one)).streaming_content
                ).decode()
            )
        )
    )
    as_json = json.loads(
        b"".join(client.get("/exports/audit-log.json", history_query(one)).streaming_content)
    )

    assert [(r["action"], r["object_id"]) for r in rows] == [
        ("create", str(one.uuid)),
        ("update", str(one.uuid)),
    ]  # chain order
    assert [r["client_address"] for r in rows] == ["system", "system"]  # made in code here
    assert [r["sequence"] for r in as_json] == [int(r["sequence"]) for r in rows]


def test_the_export_refuses_a_filter_it_cannot_read(make_user) -> None:
    client = Client()
    client.force_login(make_user("grace", Role.AUDITOR))

    response = client.get("/exports/audit-log.csv", {"object_id": "../../etc"})

    assert response.status_code == 400


def test_the_export_of_the_log_stays_refused_to_who_may_not_read_the_log(
    two_keyrings, make_user
) -> None:
    one, _ = two_keyrings
    client = Client()
    client.force_login(make_user("otto", Role.OPERATOR))

    assert client.get("/exports/audit-log.csv", history_query(one)).status_code == 403


def test_an_objects_page_links_to_its_history_for_those_who_read_the_log(
    two_keyrings, make_user
) -> None:
    one, _ = two_keyrings
    url = f"/design/objects/keyring/{one.uuid}/"
    auditor, operator = Client(), Client()
    auditor.force_login(make_user("grace", Role.AUDITOR))
    operator.force_login(make_user("otto", Role.OPERATOR))

    page = auditor.get(url)
    assert page.status_code == 200
    assert f"object_type=Keyring&amp;object_id={one.uuid}" in page.content.decode()
    assert 'data-testid="history-link"' not in operator.get(url).content.decode()
    assert Lpar.objects.count() == 1


def test_a_proxy_setting_that_cannot_be_read_stops_the_portal_at_start() -> None:
    bad = run_manage("check", **production_env(), DJANGO_TRUSTED_PROXIES="10.0.0.1,proxy.lan")
    assert bad.returncode != 0 and "DJANGO_TRUSTED_PROXIES" in bad.stderr
    # The count of proxies it replaces trusted any peer that sent the header: refused by name.
    old = run_manage("check", **production_env(), DJANGO_NUM_PROXIES="1")
    assert old.returncode != 0 and "replaced by DJANGO_TRUSTED_PROXIES" in old.stderr
    good = run_manage("check", **production_env(), DJANGO_TRUSTED_PROXIES="10.0.0.1,fd00::/64")
    assert good.returncode == 0, good.stderr
