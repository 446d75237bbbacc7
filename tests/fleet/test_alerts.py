"""Alerts: one event model, one dispatcher, e-mail, syslog and webhook channels."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.roles import Role
from fleet.alerts import formats
from fleet.alerts.kinds import Severity
from fleet.alerts.models import AlertChannel, AlertDelivery, AlertEvent, ChannelKind
from fleet.alerts.producers import alert_drift
from fleet.alerts.services import alert_deliveries_drain, alert_emit, channel_save
from fleet.models import DriftEvent
from policies.models import Lpar, Service, Stack
from tests.fleet.alerts_support import SyslogCollector, WebhookReceiver, drain_all

SECRET = "whsec-test-only"


@pytest.fixture
def stacks(db: None) -> dict[str, Stack]:
    made = {}
    for lpar_name in ("SYSA", "SYSB"):
        lpar = Lpar.objects.create(name=lpar_name)
        made[lpar_name] = Stack.objects.create(lpar=lpar, name="TCPIP")
    return made


@pytest.fixture
def admin(make_user):
    return make_user("alma", Role.ADMIN)


@pytest.fixture(autouse=True)
def _fast_backoff(settings) -> None:
    settings.ALERTS_RETRY_BASE_MS = 10
    settings.ALERTS_RETRY_MAX_SECONDS = 1


@pytest.fixture(autouse=True)
def _only_our_channels(db: None) -> None:
    # The migration's e-mail channel is tested on its own below.
    AlertChannel.objects.filter(kind=ChannelKind.EMAIL).update(enabled=False)


def _channel(admin, *, name: str, kind: str, config: dict, secret: str = "", **fields):
    return channel_save(
        channel=AlertChannel(name=name, kind=kind, config=config, **fields),
        actor=admin,
        secret=secret or None,
        stacks=[],
        services=[],
    )


# --- the formats ---------------------------------------------------------------------------


def _record(**overrides):
    record = {
        "id": "7d3c1c8e-0000-4000-8000-000000000001",
        "kind": "drift",
        "title": "Drift from the designed policy",
        "severity": int(Severity.ERROR),
        "stack": "SYSA/TCPIP",
        "service": None,
        "sequence": 3,
        "summary": "pipe | backslash \\ equals = done",
        "details": {},
        "created_at": "2026-12-07T01:02:03.456789+00:00",
    }
    record.update(overrides)
    return record


def test_cef_escapes_pipe_and_backslash_in_the_header_and_equals_in_extensions() -> None:
    cef = formats.as_cef(_record(title="a|b\\c=d"), version="1|0")

    assert cef.startswith("CEF:0|attls-portal|attls-portal|1\\|0|drift|a\\|b\\\\c=d|8|")
    assert "msg=pipe | backslash \\\\ equals \\= done" in cef
    assert "cs1Label=stack cs1=SYSA/TCPIP" in cef
    assert "rt=1796605323456" in cef


def test_cef_extension_values_carry_line_breaks_escaped() -> None:
    assert formats.cef_extension_escape("one\r\ntwo\nthree") == "one\\ntwo\\nthree"


def test_syslog_header_follows_rfc_5424() -> None:
    line = formats.as_syslog(
        _record(stack='SYS"A]\\'), message="m", hostname="host one", facility=13
    )

    assert line == (
        "<107>1 2026-12-07T01:02:03.456789Z hostone attls-portal - drift"
        ' [attls@32473 id="7d3c1c8e-0000-4000-8000-000000000001" stack="SYS\\"A\\]\\\\" seq="3"] m'
    )


def test_octet_counting_counts_bytes_not_characters() -> None:
    assert formats.octet_counted("é") == b"2 \xc3\xa9"


# --- the event model and the filters --------------------------------------------------------


def test_sequence_counts_per_stack(stacks) -> None:
    a, b = stacks["SYSA"], stacks["SYSB"]
    events = [alert_emit(kind="drift", stack=s, summary="x") for s in (a, a, b, a, b)]

    assert [e.sequence for e in events] == [1, 2, 1, 3, 2]


def test_unknown_kind_is_refused(stacks) -> None:
    with pytest.raises(ValueError, match="unknown alert kind"):
        alert_emit(kind="nonsense", stack=stacks["SYSA"], summary="x")


def test_channels_filter_by_severity_kind_and_scope(stacks, admin) -> None:
    a, b = stacks["SYSA"], stacks["SYSB"]
    severe = _channel(
        admin, name="severe", kind="webhook", config={"url": "http://127.0.0.1:9/"},
        secret=SECRET, min_severity=Severity.ERROR,
    )  # fmt: skip
    only_b = channel_save(
        channel=AlertChannel(name="only b", kind="webhook", config={"url": "http://x/"}),
        actor=admin, secret=SECRET, stacks=[b], services=[],
    )  # fmt: skip
    certs = _channel(
        admin, name="certs", kind="webhook", config={"url": "http://x/"}, secret=SECRET,
        kinds=["certificate-expiry"],
    )  # fmt: skip

    warning = alert_emit(kind="certificate-expiry", stack=a, summary="w")
    error_b = alert_emit(kind="drift", stack=b, summary="e")

    def channels(event: AlertEvent) -> set[str]:
        return {d.channel.name for d in event.deliveries.all()}

    assert channels(warning) == {certs.name}
    assert channels(error_b) == {severe.name, only_b.name}


def test_the_webhook_secret_is_encrypted_at_rest(stacks, admin) -> None:
    channel = _channel(
        admin, name="hook", kind="webhook", config={"url": "http://x/"}, secret=SECRET
    )

    assert channel.secret_encrypted and SECRET not in channel.secret_encrypted
    # Saved again without a secret, the stored one is kept.
    kept = channel.secret_encrypted
    channel_save(channel=channel, actor=admin, secret=None, stacks=[], services=[])
    assert AlertChannel.objects.get(pk=channel.pk).secret_encrypted == kept


# --- webhooks ---------------------------------------------------------------------------------


def test_a_webhook_failing_three_times_gets_every_event_once_in_order_per_stack(
    stacks, admin
) -> None:
    a, b = stacks["SYSA"], stacks["SYSB"]
    with WebhookReceiver(SECRET, fail_first=3) as receiver:
        _channel(admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET)
        for index, stack in enumerate([a, b, a, a, b, a, b, a]):
            alert_emit(kind="drift", stack=stack, summary=f"event {index}")
        drain_all()

    per_stack: dict[str, list[int]] = {}
    for body in receiver.accepted:
        per_stack.setdefault(body["stack"], []).append(body["sequence"])
    assert per_stack == {"SYSA/TCPIP": [1, 2, 3, 4, 5], "SYSB/TCPIP": [1, 2, 3]}
    assert len({body["id"] for body in receiver.accepted}) == 8
    assert all(receiver.signatures_valid)
    assert receiver.requests == 8 + 3
    attempts = sorted(AlertDelivery.objects.values_list("attempts", flat=True))
    assert sum(attempts) == 11 and set(AlertDelivery.objects.values_list("status", flat=True)) == {
        "delivered"
    }


def test_a_later_event_waits_while_an_earlier_one_is_retried(stacks, admin) -> None:
    a = stacks["SYSA"]
    with WebhookReceiver(SECRET, fail_first=1) as receiver:
        channel = _channel(
            admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET
        )
        alert_emit(kind="drift", stack=a, summary="first")
        alert_emit(kind="drift", stack=a, summary="second")
        wait = alert_deliveries_drain(channel_id=channel.pk, stack_id=a.pk)

        assert wait is not None and wait > 0
        assert receiver.accepted == []  # the second did not overtake the first
        assert list(
            AlertDelivery.objects.order_by("sequence").values_list("status", flat=True)
        ) == ["retrying", "pending"]


def test_a_wrong_signature_secret_is_detected_by_the_receiver(stacks, admin) -> None:
    with WebhookReceiver("another-secret") as receiver:
        _channel(admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET)
        alert_emit(kind="drift", stack=stacks["SYSA"], summary="x")
        drain_all()

    assert receiver.signatures_valid == [False]


def test_dead_lettered_after_max_attempts_and_no_longer_holding_back_the_stack(
    stacks, admin
) -> None:
    a = stacks["SYSA"]
    with WebhookReceiver(SECRET, refuse_sequences=frozenset({1})) as receiver:
        _channel(
            admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET,
            max_attempts=3,
        )  # fmt: skip
        alert_emit(kind="drift", stack=a, summary="first")
        alert_emit(kind="drift", stack=a, summary="second")
        drain_all()

    first, second = AlertDelivery.objects.order_by("sequence")
    assert (first.status, first.attempts) == ("dead", 3)
    assert "HTTP 500" in first.last_error and "after 3 attempts" in first.last_error
    assert second.status == "delivered"
    assert [body["sequence"] for body in receiver.accepted] == [2]


def test_a_client_error_is_dead_lettered_at_once(stacks, admin) -> None:
    with WebhookReceiver(SECRET, refuse_sequences=frozenset({1}), refuse_status=404) as receiver:
        _channel(admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET)
        alert_emit(kind="drift", stack=stacks["SYSA"], summary="x")
        drain_all()

    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert receiver.requests == 1


def test_a_delivery_being_sent_is_not_claimed_twice(stacks, admin) -> None:
    channel = _channel(
        admin, name="soc", kind="webhook", config={"url": "http://127.0.0.1:9/"}, secret=SECRET
    )
    alert_emit(kind="drift", stack=stacks["SYSA"], summary="x")
    AlertDelivery.objects.update(status="sending", claimed_at=timezone.now())

    assert alert_deliveries_drain(channel_id=channel.pk, stack_id=stacks["SYSA"].pk) is None
    assert AlertDelivery.objects.get().attempts == 0


def test_a_stale_claim_is_taken_over(stacks, admin, settings) -> None:
    with WebhookReceiver(SECRET) as receiver:
        channel = _channel(
            admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET
        )
        alert_emit(kind="drift", stack=stacks["SYSA"], summary="x")
        stale = timezone.now() - timedelta(seconds=settings.ALERTS_CLAIM_STALE_SECONDS + 1)
        AlertDelivery.objects.update(status="sending", claimed_at=stale)
        alert_deliveries_drain(channel_id=channel.pk, stack_id=stacks["SYSA"].pk)

    assert AlertDelivery.objects.get().status == "delivered"
    assert len(receiver.accepted) == 1


# --- syslog -----------------------------------------------------------------------------------

HEADER = re.compile(
    r"^<(?P<pri>\d+)>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>\S+)"
    r" attls-portal - (?P<msgid>\S+) \[attls@32473 id=\"(?P<id>[0-9a-f-]{36})\""
    r" stack=\"(?P<stack>[^\"]*)\" seq=\"(?P<seq>\d+)\"\] (?P<msg>.*)$",
    re.DOTALL,
)


def _drift(stack: Stack) -> DriftEvent:
    now = timezone.now()
    return DriftEvent.objects.create(
        stack=stack, kind="policy", key="policy", detail="loaded ≠ designed", opened_at=now,
        last_seen_at=now,
    )  # fmt: skip


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_syslog_collector_receives_cef_for_a_drift_event(stacks, admin, settings, transport):
    settings.ALERTS_SYSLOG_HOSTNAME = "portal01"
    with SyslogCollector() as collector:
        port = collector.udp_port if transport == "udp" else collector.tcp_port
        _channel(
            admin, name="siem", kind="syslog",
            config={"host": "127.0.0.1", "port": port, "transport": transport, "format": "cef"},
        )  # fmt: skip
        event = _drift(stacks["SYSA"])
        alert_drift(event, None)  # what verify calls when it opens a drift event
        alert_emit(kind="drift", stack=stacks["SYSA"], summary="a|b\\c=d")
        drain_all()
        messages = collector.wait_for(2)

    assert len(messages) == 2
    first, second = (HEADER.match(m) for m in messages)
    assert first and second
    assert first["pri"] == str(13 * 8 + Severity.ERROR)
    assert (first["host"], first["msgid"], first["stack"], first["seq"]) == (
        "portal01", "drift", "SYSA/TCPIP", "1",
    )  # fmt: skip
    assert first["msg"].startswith(
        "CEF:0|attls-portal|attls-portal|1.0|drift|Drift from the designed policy|8|"
    )
    assert "msg=drift on SYSA/TCPIP: " in first["msg"]
    assert second["seq"] == "2" and "msg=a|b\\\\c\\=d" in second["msg"]


def test_a_syslog_channel_can_send_json(stacks, admin) -> None:
    with SyslogCollector() as collector:
        _channel(
            admin, name="siem", kind="syslog",
            config={"host": "127.0.0.1", "port": collector.udp_port, "transport": "udp",
                    "format": "json"},
        )  # fmt: skip
        alert_emit(kind="drift", stack=stacks["SYSA"], summary="json please")
        drain_all()
        (message,) = collector.wait_for(1)

    match = HEADER.match(message)
    assert match and '"summary":"json please"' in match["msg"]


def test_a_syslog_collector_that_is_down_is_retried(stacks, admin) -> None:
    with SyslogCollector() as collector:
        port = collector.tcp_port
    channel = _channel(
        admin, name="siem", kind="syslog",
        config={"host": "127.0.0.1", "port": port, "transport": "tcp", "format": "cef"},
    )  # fmt: skip
    alert_emit(kind="drift", stack=stacks["SYSA"], summary="x")

    assert alert_deliveries_drain(channel_id=channel.pk, stack_id=stacks["SYSA"].pk)
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "retrying" and "refused" in delivery.last_error.lower()


# --- e-mail (the channel the migration makes: as before, to recipients and owners) -------------


def test_drift_mail_goes_to_alert_recipients_and_owners(stacks, settings, make_user) -> None:
    AlertChannel.objects.filter(kind=ChannelKind.EMAIL).update(enabled=True)
    settings.FLEET_ALERT_RECIPIENTS = ["soc@example.com"]
    owner = make_user("olive", Role.APP_OWNER)
    owner.email = "olive@example.com"
    owner.save()
    service = Service.objects.create(
        stack=stacks["SYSA"], name="CICSWEB1", local_port_low=8443, local_port_high=8443
    )
    service.owners.add(owner)
    event = _drift(stacks["SYSA"])
    event.services = ["CICSWEB1"]
    event.save()

    alert_drift(event, None)
    drain_all()

    (message,) = mail.outbox
    assert message.subject.startswith("[attls-portal] drift on SYSA/TCPIP: ")
    assert sorted(message.to) == ["olive@example.com", "soc@example.com"]
    assert "Condition: policy" in message.body


def test_no_recipient_means_nothing_sent_and_said_so(stacks, settings) -> None:
    AlertChannel.objects.filter(kind=ChannelKind.EMAIL).update(enabled=True)
    settings.FLEET_ALERT_RECIPIENTS = []
    alert_drift(_drift(stacks["SYSA"]), None)
    drain_all()

    assert mail.outbox == []
    assert AlertDelivery.objects.get().status == "skipped"


def test_a_failure_inside_a_claimed_batch_releases_the_rest_in_order(stacks, admin) -> None:
    a = stacks["SYSA"]
    with WebhookReceiver(SECRET, refuse_sequences=frozenset({2})) as receiver:
        channel = _channel(
            admin, name="soc", kind="webhook", config={"url": receiver.url}, secret=SECRET
        )
        for summary in ("one", "two", "three"):
            alert_emit(kind="drift", stack=a, summary=summary)
        wait = alert_deliveries_drain(channel_id=channel.pk, stack_id=a.pk)

    assert wait is not None and wait > 0
    assert [body["sequence"] for body in receiver.accepted] == [1]
    assert list(AlertDelivery.objects.order_by("sequence").values_list("status", "claimed_at")) == [
        ("delivered", None),
        ("retrying", None),
        ("pending", None),
    ]


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (the CA file the channel trusts) and a server
    context presenting it."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syslog collector")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("syslog-tls")
    cert_file, key_file = directory / "collector.pem", directory / "collector.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return str(cert_file), server


def test_syslog_over_tls_verifies_the_collector_and_frames_by_octet_count(
    stacks, admin, tls_pair
) -> None:
    ca_file, server = tls_pair
    with SyslogCollector(tls=server) as collector:
        _channel(
            admin, name="siem", kind="syslog",
            config={"host": "127.0.0.1", "port": collector.tcp_port, "transport": "tls",
                    "format": "cef", "ca_file": ca_file},
        )  # fmt: skip
        alert_drift(_drift(stacks["SYSA"]), None)
        drain_all()
        (message,) = collector.wait_for(1)

    match = HEADER.match(message)
    assert match and match["msg"].startswith("CEF:0|attls-portal|")


def test_syslog_over_tls_to_an_untrusted_collector_is_dead_lettered_at_once(
    stacks, admin, tls_pair
) -> None:
    _, server = tls_pair
    with SyslogCollector(tls=server) as collector:
        _channel(
            admin, name="siem", kind="syslog",
            config={"host": "127.0.0.1", "port": collector.tcp_port, "transport": "tls",
                    "format": "cef"},
        )  # fmt: skip
        alert_emit(kind="drift", stack=stacks["SYSA"], summary="x")
        drain_all()
        received = collector.wait_for(1, timeout=0.5)

    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert "certificate verify failed" in delivery.last_error
    assert received == []


def test_beat_resumes_only_stacks_whose_next_delivery_is_due(stacks, admin, monkeypatch) -> None:
    from fleet.alerts import services, tasks

    enqueued: list[tuple[int, int | None]] = []
    monkeypatch.setattr(
        tasks, "enqueue_delivery", lambda c, s, countdown=0: enqueued.append((c, s))
    )
    monkeypatch.setattr(services, "enqueue_delivery", lambda *a, **k: None)
    channel = _channel(
        admin, name="soc", kind="webhook", config={"url": "http://127.0.0.1:9/"}, secret=SECRET
    )
    a, b = stacks["SYSA"], stacks["SYSB"]
    alert_emit(kind="drift", stack=a, summary="due: never tried")
    alert_emit(kind="drift", stack=b, summary="waiting out its backoff")
    AlertDelivery.objects.filter(stack=b).update(
        status="retrying", next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    assert tasks.resume_alert_deliveries() == 1
    assert enqueued == [(channel.pk, a.pk)]
