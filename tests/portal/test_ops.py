"""Operations endpoints: /metrics (token, figures equal to the dashboard's), /healthz (each
check failing for its own reason), and the exports (each cut to its caller's scope)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fleet.models import Certificate, ConnectionObservation
from portal.models import Heartbeat
from portal.tasks import BEAT, beat_heartbeat
from tests.fleet.ui_estate import FleetEstate, build_fleet
from tests.integration import harness

TOKEN = "metrics-token-for-the-tests-0123456789abcdef"
# Nothing listens on port 1: a broker that refuses at once.
DEAD_BROKER = "redis://:broker-secret@127.0.0.1:1/0"


@pytest.fixture
def fleet(make_user: Any) -> FleetEstate:
    return build_fleet(make_user)


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def scrape(client: Client | None = None, **headers: str) -> Any:
    return (client or Client()).get(reverse("metrics"), headers=headers)


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_do_not_exist_while_no_token_is_configured(settings: Any, db: None) -> None:
    settings.OPS_METRICS_TOKEN = ""
    assert scrape(Authorization=f"Bearer {TOKEN}").status_code == 404


def test_metrics_refuse_a_scrape_without_the_token_or_with_another(settings: Any, db: None) -> None:
    settings.OPS_METRICS_TOKEN = TOKEN
    missing = scrape()
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert scrape(Authorization=f"Token {TOKEN}").status_code == 401
    assert scrape(Authorization=f"Bearer {TOKEN[:-1]}x").status_code == 403
    assert b"attls_" not in missing.content


def test_metrics_refuse_a_signed_in_session_without_the_token(
    settings: Any, fleet: FleetEstate
) -> None:
    settings.OPS_METRICS_TOKEN = TOKEN
    assert scrape(client_of(fleet.people["auditor"])).status_code == 401


def test_metrics_per_stack_figures_equal_the_dashboards(
    settings: Any, fleet: FleetEstate, django_assert_max_num_queries: Any
) -> None:
    settings.OPS_METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = "memory://"
    dashboard = client_of(fleet.people["auditor"]).get(reverse("dashboard"))
    stacks = dashboard.context["stacks"]
    assert {s.stack.lpar.name for s in stacks} == {"SYSA", "SYSB"}
    with django_assert_max_num_queries(16):
        response = scrape(Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(response.content)
    for status in stacks:
        labels = (("lpar", status.stack.lpar.name), ("stack", status.stack.name))
        assert status.coverage is not None
        assert got[("attls_stack_coverage_ratio", labels)] == pytest.approx(status.coverage)
        assert got[("attls_stack_connections", labels)] == status.results["connections"]
        assert got[("attls_stack_secured_connections", labels)] == status.results["secured"]
        assert got[("attls_stack_refused_attempts", labels)] == status.refused
        assert got[("attls_stack_open_drift", labels)] == status.open_drift
        assert got[("attls_stack_certificates_due", labels)] == status.certificates_due
        assert got[("attls_stack_certificates_expired", labels)] == status.certificates_expired
        assert got[("attls_stack_stale", labels)] == int(status.stale)
    # The estate's two stacks differ (after and before): equality is not an accident of zeros.
    sysa = (("lpar", "SYSA"), ("stack", "TCPIP"))
    sysb = (("lpar", "SYSB"), ("stack", "TCPIP"))
    assert got[("attls_stack_coverage_ratio", sysa)] > got[("attls_stack_coverage_ratio", sysb)]
    assert got[("attls_deployments", (("status", "succeeded"),))] >= 2
    assert got[("attls_deployment_duration_seconds_count", (("status", "succeeded"),))] >= 2
    assert got[("attls_queue_depth_readable", ())] == 0  # not a Redis broker


def test_metrics_days_to_expiry_skip_a_certificate_the_last_probe_no_longer_saw(
    settings: Any, fleet: FleetEstate
) -> None:
    settings.OPS_METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = "memory://"
    now = timezone.now()
    seen = Certificate.objects.filter(stack=fleet.sysa, last_seen__gte=fleet.run_after.created_at)
    soonest = min(c.not_after for c in seen)
    Certificate.objects.create(
        stack=fleet.sysa,
        subject="CN=replaced.example",
        issuer="CN=Old CA",
        serial="0BAD",
        not_after=now + timedelta(days=1),
        fingerprint="f" * 64,
        first_seen=now - timedelta(days=90),
        last_seen=fleet.run_after.created_at - timedelta(hours=1),
    )
    got = samples(scrape(Authorization=f"Bearer {TOKEN}").content)
    days = got[("attls_stack_certificate_expiry_days", (("lpar", "SYSA"), ("stack", "TCPIP")))]
    assert days == pytest.approx((soonest - now).total_seconds() / 86400, abs=0.01)


def test_metrics_read_each_queues_depth_from_a_redis_broker(settings: Any, db: None) -> None:
    import redis

    settings.OPS_METRICS_TOKEN = TOKEN
    with harness.redis_url(0, configured="redis://127.0.0.1:1/0") as url:
        settings.CELERY_BROKER_URL = url
        client = redis.Redis.from_url(url)
        client.lpush("verify", "a", "b")
        client.lpush("evidence\x06\x163", "c")
        got = samples(scrape(Authorization=f"Bearer {TOKEN}").content)
    assert got[("attls_queue_depth_readable", ())] == 1
    assert got[("attls_queue_depth", (("queue", "verify"),))] == 2
    assert got[("attls_queue_depth", (("queue", "evidence"),))] == 1
    assert got[("attls_queue_depth", (("queue", "deploy"),))] == 0


# --- /healthz ---------------------------------------------------------------------------------


def health(client: Client | None = None) -> tuple[int, dict[str, Any]]:
    response = (client or Client()).get(reverse("healthz"))
    return response.status_code, json.loads(response.content)


def test_health_names_an_unreachable_broker_without_its_address_or_password(
    settings: Any, db: None
) -> None:
    from portal.celery import app

    settings.CELERY_BROKER_URL = DEAD_BROKER
    app.conf.broker_url = DEAD_BROKER
    app._pool = None
    settings.OPS_HEALTH_WORKER_TIMEOUT = 0.2
    beat_heartbeat()
    status, body = health()
    assert status == 503
    assert body["status"] == "failing"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["workers"]["ok"] is False
    assert body["checks"]["beat"]["ok"] is True
    text = json.dumps(body)
    assert "broker-secret" not in text and "127.0.0.1" not in text


def test_health_reports_beat_failing_without_a_heartbeat_and_when_it_is_stale(
    settings: Any, db: None
) -> None:
    from portal import health as checks

    settings.OPS_BEAT_HEARTBEAT_SECONDS = 10
    assert checks.check_beat().detail == "no heartbeat recorded yet"
    beat_heartbeat()
    assert checks.check_beat().ok
    Heartbeat.objects.filter(name=BEAT).update(at=timezone.now() - timedelta(seconds=31))
    stale = checks.check_beat()
    assert not stale.ok and stale.facts["seconds_since_heartbeat"] >= 31


def test_health_is_answered_to_anyone_without_a_redirect_to_https(settings: Any, db: None) -> None:
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get(reverse("healthz"))
    assert response.status_code in (200, 503)
    assert response["Cache-Control"].startswith("max-age=0")


# --- exports ----------------------------------------------------------------------------------


def export(client: Client, name: str, fmt: str = "csv", **params: str) -> Any:
    return client.get(reverse(f"export-{name}", kwargs={"fmt": fmt}), params)


def csv_rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_an_app_owners_service_export_names_no_other_teams_service(fleet: FleetEstate) -> None:
    owner = client_of(fleet.people["owner_a"])
    rows = csv_rows(export(owner, "services"))
    names = {row["name"] for row in rows}
    assert names and "CICSWEB1" in names
    assert "MQCHIN" not in names
    owned = set(fleet.people["owner_a"].owned_services.values_list("name", flat=True))
    assert names == owned
    estate = {r["name"] for r in csv_rows(export(client_of(fleet.people["auditor"]), "services"))}
    assert "MQCHIN" in estate and names < estate


def test_an_app_owners_connection_export_holds_only_their_services_connections(
    fleet: FleetEstate,
) -> None:
    now = timezone.now()
    window = {"since": (now - timedelta(days=2)).isoformat(), "until": now.isoformat()}
    owner_rows = json.loads(
        b"".join(
            export(
                client_of(fleet.people["owner_a"]), "connections", "json", **window
            ).streaming_content
        )
    )
    everyone = csv_rows(export(client_of(fleet.people["operator"]), "connections", **window))
    owned = set(fleet.people["owner_a"].owned_services.values_list("name", flat=True))
    assert owner_rows, "the estate has connections of owen's services"
    assert {row["service"] for row in owner_rows} <= owned
    assert len(everyone) > len(owner_rows)
    visible = ConnectionObservation.objects.filter(
        last_seen__gte=window["since"], service__name__in=owned
    ).count()
    assert len(owner_rows) == visible


def test_estate_exports_are_refused_to_an_app_owner(fleet: FleetEstate) -> None:
    owner = client_of(fleet.people["owner_a"])
    for name in ("certificates", "drift", "incidents", "deployments", "audit-log"):
        assert export(owner, name).status_code == 403, name
    assert export(client_of(fleet.people["operator"]), "audit-log").status_code == 403


def test_estate_exports_hold_every_row_of_their_page(fleet: FleetEstate) -> None:
    auditor = client_of(fleet.people["auditor"])
    certificates = csv_rows(export(auditor, "certificates"))
    assert len(certificates) == Certificate.objects.count()
    assert {r["serial"] for r in certificates} == set(
        Certificate.objects.values_list("serial", flat=True)
    )
    deployments = csv_rows(export(auditor, "deployments"))
    assert {r["status"] for r in deployments} >= {"succeeded"}
    log = csv_rows(export(auditor, "audit-log"))
    sequences = [int(r["sequence"]) for r in log]
    assert sequences == sorted(sequences) and sequences
    drift = json.loads(b"".join(export(auditor, "drift", "json").streaming_content))
    assert drift and all(row["stack"].startswith("SYS") for row in drift)


def test_a_malformed_or_too_long_window_is_refused_with_the_reason(fleet: FleetEstate) -> None:
    operator = client_of(fleet.people["operator"])
    bad = export(operator, "connections", since="yesterday")
    assert bad.status_code == 400 and b"ISO 8601" in bad.content
    long = export(
        operator, "connections", since="2026-01-01T00:00:00Z", until="2026-06-01T00:00:00Z"
    )
    assert long.status_code == 400 and b"OPS_EXPORT_MAX_DAYS" in long.content


def test_a_spreadsheet_formula_in_a_cell_is_neutralised(fleet: FleetEstate) -> None:
    service = fleet.service_a
    service.description = "x"
    service.owner_team = '=HYPERLINK("http://evil")'
    service.save(update_fields=["description", "owner_team"])
    rows = csv_rows(export(client_of(fleet.people["owner_a"]), "services"))
    team = next(r["owner_team"] for r in rows if r["name"] == service.name)
    assert team.startswith("'=")


def test_the_export_page_lists_only_what_the_user_may_download(fleet: FleetEstate) -> None:
    page = client_of(fleet.people["owner_a"]).get(reverse("export-index"))
    assert page.status_code == 200
    assert b"exports/services.csv" in page.content
    assert b"exports/certificates.csv" not in page.content
    assert client_of(fleet.people["nobody"]).get(reverse("export-index")).status_code == 403


def test_the_sample_grafana_dashboard_uses_only_metrics_the_portal_exports(
    settings: Any, fleet: FleetEstate
) -> None:
    import re
    from pathlib import Path

    settings.OPS_METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = "memory://"
    dashboard = json.loads(
        (Path(settings.BASE_DIR) / "docs" / "grafana-dashboard.json").read_text()
    )
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"attls_[a-z0-9_]+", target["expr"])
    }
    exported = {name for name, _ in samples(scrape(Authorization=f"Bearer {TOKEN}").content)}
    exported |= {"attls_queue_depth"}  # only with a Redis broker (its own test above)
    assert used and used <= exported, sorted(used - exported)


# --- search -----------------------------------------------------------------------------------


def found(user: Any, query: str) -> dict[str, list[str]]:
    response = client_of(user).get(reverse("search"), {"q": query})
    assert response.status_code == 200
    return {
        kind: [hit.title for hit in hits]
        for kind, hits in response.context["results"].groups.items()
    }


def test_search_finds_services_by_name_job_and_port_for_the_estate(fleet: FleetEstate) -> None:
    service = fleet.service_b
    auditor = fleet.people["auditor"]
    assert service.name in found(auditor, service.name[:5])["Services"]
    assert service.name in found(auditor, service.jobname)["Services"]
    assert service.name in found(auditor, str(service.local_port_low))["Services"]
    shared = found(auditor, service.rule.group_action.name)
    assert service.rule.group_action.name in shared["Shared objects"]
    assert str(service.rule) in shared["Rules"]
    assert "SYSA" in found(auditor, "SYSA")["LPARs"]


def test_search_finds_certificates_by_serial_and_peers_by_address(fleet: FleetEstate) -> None:
    auditor = fleet.people["auditor"]
    certificate = Certificate.objects.filter(stack=fleet.sysa).first()
    assert certificate is not None
    assert certificate.subject in found(auditor, certificate.serial)["Certificates"]
    peer = ConnectionObservation.objects.exclude(remote_socket="").first()
    assert peer is not None
    address = peer.remote_socket.split("..")[0]
    assert peer.remote_socket in found(auditor, address)["Peers"]


def test_an_app_owners_search_names_no_other_teams_service_or_peer(fleet: FleetEstate) -> None:
    owner = fleet.people["owner_a"]
    other = fleet.service_b  # MQCHIN, owned by bea
    results = found(owner, other.name)
    assert other.name not in results["Services"]
    assert "Shared objects" not in results and "LPARs" not in results
    assert results["Certificates"] == []
    others_peers = set(
        ConnectionObservation.objects.filter(service=other).values_list("remote_socket", flat=True)
    )
    own_peers = set(
        ConnectionObservation.objects.filter(service__owners=owner).values_list(
            "remote_socket", flat=True
        )
    )
    for address in others_peers - own_peers:
        assert address not in found(owner, address.split("..")[0])["Peers"]
    assert fleet.service_a.name in found(owner, fleet.service_a.name)["Services"]
    assert client_of(fleet.people["nobody"]).get(reverse("search"), {"q": "SYS"}).status_code == 403
