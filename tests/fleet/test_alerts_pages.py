"""The alert pages: deliveries (read by the estate, retried by operators and admins) and the
admin's channels (whose secret is never rendered back)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from fleet.alerts.models import AlertChannel, AlertDelivery, ChannelKind
from fleet.alerts.services import alert_emit, channel_save
from policies.models import ChangeRecord, Lpar, Stack
from tests.fleet.alerts_support import WebhookReceiver, drain_all

SECRET = "whsec-page-test"


@pytest.fixture(autouse=True)
def _fast_backoff(settings) -> None:
    settings.ALERTS_RETRY_BASE_MS = 10


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def dead_letter(db, make_user) -> AlertDelivery:
    """A webhook delivery dead-lettered after 2 failed attempts (a receiver answering 500)."""
    AlertChannel.objects.filter(kind=ChannelKind.EMAIL).update(enabled=False)
    stack = Stack.objects.create(lpar=Lpar.objects.create(name="SYSA"), name="TCPIP")
    admin = make_user("alma", Role.ADMIN)
    with WebhookReceiver(SECRET, refuse_sequences=frozenset({1})) as receiver:
        channel_save(
            channel=AlertChannel(
                name="soc", kind="webhook", config={"url": receiver.url}, max_attempts=2
            ),
            actor=admin,
            secret=SECRET,
            stacks=[],
            services=[],
        )
        alert_emit(kind="drift", stack=stack, summary="policy drift on SYSA/TCPIP")
        drain_all()
    return AlertDelivery.objects.get()


def test_a_dead_lettered_delivery_shows_on_the_page_with_its_error(dead_letter, make_user):
    page = _client(make_user("otto", Role.OPERATOR)).get(
        reverse("alerts:deliveries") + "?status=dead"
    )

    text = page.content.decode()
    assert page.status_code == 200
    assert "Dead-lettered" in text and "HTTP 500" in text and "policy drift on SYSA/TCPIP" in text
    assert reverse("alerts:delivery-retry", args=[dead_letter.uuid]) in text


def test_an_auditor_reads_deliveries_but_has_no_retry(dead_letter, make_user):
    auditor = _client(make_user("audrey", Role.AUDITOR))
    page = auditor.get(reverse("alerts:deliveries"))

    assert page.status_code == 200 and "Dead-lettered" in page.content.decode()
    assert reverse("alerts:delivery-retry", args=[dead_letter.uuid]) not in page.content.decode()
    assert (
        auditor.post(reverse("alerts:delivery-retry", args=[dead_letter.uuid])).status_code == 403
    )
    assert AlertDelivery.objects.get().status == "dead"


def test_retry_sends_a_dead_lettered_delivery_again(dead_letter, make_user):
    operator = _client(make_user("otto", Role.OPERATOR))
    answer = operator.post(reverse("alerts:delivery-retry", args=[dead_letter.uuid]))

    assert answer.status_code == 302
    assert AlertDelivery.objects.get().status == "pending"
    assert ChangeRecord.objects.filter(action="retry", object_type="AlertEvent").exists()
    with WebhookReceiver(SECRET) as receiver:
        AlertChannel.objects.filter(pk=dead_letter.channel_id).update(config={"url": receiver.url})
        drain_all()
    assert AlertDelivery.objects.get().status == "delivered"
    assert [body["sequence"] for body in receiver.accepted] == [1]


def test_only_an_admin_configures_channels(db, make_user):
    for role in (Role.OPERATOR, Role.AUDITOR, Role.ARCHITECT):
        client = _client(make_user(f"user-{role.name.lower()}", role))
        assert client.get(reverse("alerts:channels")).status_code == 403
        assert client.post(reverse("alerts:channel-new"), {"name": "x"}).status_code == 403


def test_an_admin_creates_a_webhook_channel_and_its_secret_is_never_shown(db, make_user):
    admin = _client(make_user("alma", Role.ADMIN))
    answer = admin.post(
        reverse("alerts:channel-new"),
        {
            "name": "SOC webhook",
            "kind": "webhook",
            "enabled": "on",
            "min_severity": "4",
            "max_attempts": "5",
            "url": "https://soc.example.com/hook",
            "secret": "s3cret-value",
            "kinds": ["drift", "refusal-surge"],
        },
    )

    assert answer.status_code == 302, answer.content.decode()
    channel = AlertChannel.objects.get(name="SOC webhook")
    assert channel.config == {"url": "https://soc.example.com/hook"}
    assert channel.kinds == ["drift", "refusal-surge"] and channel.has_secret
    for url in (reverse("alerts:channels"), reverse("alerts:channel", args=[channel.uuid])):
        text = admin.get(url).content.decode()
        assert "s3cret-value" not in text and channel.secret_encrypted not in text
    api = admin.get(f"/api/alerts/channels/{channel.uuid}/").json()
    assert api["has_secret"] is True and "secret" not in api


def test_a_webhook_channel_without_a_secret_is_refused(db, make_user):
    admin = _client(make_user("alma", Role.ADMIN))
    answer = admin.post(
        reverse("alerts:channel-new"),
        {"name": "h", "kind": "webhook", "min_severity": "6", "max_attempts": "3",
         "url": "https://soc.example.com/hook"},
    )  # fmt: skip

    assert answer.status_code == 400
    assert not AlertChannel.objects.filter(name="h").exists()


def test_the_api_creates_a_syslog_channel_and_lists_deliveries(dead_letter, make_user):
    admin = _client(make_user("alba", Role.ADMIN))
    created = admin.post(
        "/api/alerts/channels/",
        {"name": "QRadar", "kind": "syslog", "min_severity": 3,
         "config": {"host": "127.0.0.1", "port": 6514, "transport": "tls", "format": "cef"}},
        content_type="application/json",
    )  # fmt: skip

    assert created.status_code == 201, created.content.decode()
    assert created.json()["has_secret"] is False
    assert ChangeRecord.objects.filter(action="save", object_name="QRadar").exists()

    auditor = _client(make_user("audrey", Role.AUDITOR))
    listed = auditor.get("/api/alerts/deliveries/?status=dead").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["uuid"] for row in rows] == [str(dead_letter.uuid)]
    assert rows[0]["event"]["kind"] == "drift" and rows[0]["attempts"] == 2
    assert auditor.post(f"/api/alerts/deliveries/{dead_letter.uuid}/retry/").status_code == 403
    operator = _client(make_user("otto", Role.OPERATOR))
    retried = operator.post(f"/api/alerts/deliveries/{dead_letter.uuid}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"


def test_the_api_refuses_a_syslog_channel_with_a_bad_transport(db, make_user):
    admin = _client(make_user("alba", Role.ADMIN))
    answer = admin.post(
        "/api/alerts/channels/",
        {"name": "bad", "kind": "syslog",
         "config": {"host": "siem", "port": 514, "transport": "carrier-pigeon"}},
        content_type="application/json",
    )  # fmt: skip

    assert answer.status_code == 400
    assert "transport" in answer.content.decode()
    assert not AlertChannel.objects.filter(name="bad").exists()


def test_the_delivery_page_costs_the_same_queries_for_many_rows(
    dead_letter, make_user, django_assert_max_num_queries
):
    client = _client(make_user("otto", Role.OPERATOR))
    for index in range(30):
        alert_emit(kind="drift", stack=dead_letter.stack, summary=f"more {index}")
    with django_assert_max_num_queries(12):
        assert client.get(reverse("alerts:deliveries")).status_code == 200
