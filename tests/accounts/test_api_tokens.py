"""API tokens: from a password, hashed at rest, expiring, listed and revoked by their owner;
the token request throttled per client address, counted in the shared cache."""

from __future__ import annotations

import hashlib
import importlib
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.roles import Role
from audits.models import AuditEntry
from tests.conftest import PASSWORD


def token_for(client: APIClient, username: str, password: str = PASSWORD, **body: object):
    return client.post("/api/token/", {"username": username, "password": password, **body})


def signed(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def otto(make_user: Callable[..., User]) -> User:
    return make_user("otto", Role.OPERATOR)


def test_a_token_from_username_and_password_authenticates_api_calls(otto: User) -> None:
    response = token_for(APIClient(), "otto", name="inventory script")

    assert response.status_code == 201
    secret = response.data["token"]
    assert secret.startswith("attls_")
    assert response.data["name"] == "inventory script"
    client = signed(secret)
    assert client.get("/api/lpars/").status_code == 200
    assert client.post("/api/lpars/", {"name": "SYSZ"}).status_code == 403  # an operator's token


def test_the_token_is_not_stored_in_clear(otto: User) -> None:
    secret = token_for(APIClient(), "otto").data["token"]

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()

    assert len(rows) == 1
    stored = dict(zip(columns, rows[0], strict=True))
    assert not any(secret in str(value) for value in stored.values())
    assert stored["digest"] == hashlib.sha512(secret.encode()).hexdigest()
    assert secret.startswith(stored["token_key"]) and len(stored["token_key"]) == 15
    assert len(secret) == len("attls_") + 64


def test_every_request_gives_a_new_token(otto: User) -> None:
    first = token_for(APIClient(), "otto").data["token"]
    second = token_for(APIClient(), "otto").data["token"]

    assert first != second
    assert ApiToken.objects.filter(user=otto).count() == 2
    assert signed(first).get("/api/lpars/").status_code == 200


def test_a_wrong_password_gets_no_token(otto: User) -> None:
    response = token_for(APIClient(), "otto", "guess")

    assert response.status_code == 400
    assert "token" not in response.data
    assert not ApiToken.objects.exists()


def test_an_inactive_user_gets_no_token(otto: User) -> None:
    otto.is_active = False
    otto.save()

    assert token_for(APIClient(), "otto").status_code == 400
    assert not ApiToken.objects.exists()


def test_a_token_expires_after_the_configured_days(otto: User) -> None:
    before = timezone.now()
    response = token_for(APIClient(), "otto")
    token = ApiToken.objects.get()

    assert token.expiry is not None
    assert (
        before + timedelta(days=settings.API_TOKEN_MAX_DAYS)
        <= token.expiry
        <= timezone.now() + timedelta(days=settings.API_TOKEN_MAX_DAYS)
    )
    assert settings.API_TOKEN_MAX_DAYS == 30

    ApiToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    answer = signed(response.data["token"]).get("/api/lpars/")

    assert answer.status_code == 401
    assert not ApiToken.objects.exists()  # knox deletes an expired token it is shown


def test_a_token_may_be_asked_for_fewer_days_never_more(otto: User) -> None:
    short = token_for(APIClient(), "otto", days=2)
    too_long = token_for(APIClient(), "otto", days=settings.API_TOKEN_MAX_DAYS + 1)

    assert short.status_code == 201
    expiry = ApiToken.objects.get().expiry
    assert expiry is not None
    assert timedelta(days=2) - timedelta(minutes=1) < expiry - timezone.now() <= timedelta(days=2)
    assert too_long.status_code == 400 and "days" in too_long.data
    assert ApiToken.objects.count() == 1


def test_a_revoked_token_no_longer_works(otto: User) -> None:
    client = signed(token_for(APIClient(), "otto").data["token"])

    assert client.delete("/api/token/").status_code == 204
    assert client.get("/api/lpars/").status_code == 401
    assert not ApiToken.objects.exists()
    entry = AuditEntry.objects.get(action="api token revoke")
    assert entry.actor == "otto"


def test_the_owner_lists_their_live_tokens_without_secrets(
    otto: User, make_user: Callable[..., User]
) -> None:
    make_user("opal", Role.OPERATOR)
    mine = token_for(APIClient(), "otto", name="ci").data["token"]
    token_for(APIClient(), "opal", name="not otto's")
    ApiToken.objects.create(user=otto, name="old", expiry=timedelta(seconds=-1))  # expired

    answer = signed(mine).get("/api/tokens/")

    assert answer.status_code == 200
    assert [token["name"] for token in answer.data] == ["ci"]
    body = answer.content.decode()
    own = ApiToken.objects.get(name="ci")
    assert mine not in body and own.digest not in body
    assert answer.data[0]["starts_with"] == mine[:10]


def test_a_token_is_revoked_by_its_uuid_by_its_owner_only(
    otto: User, make_user: Callable[..., User]
) -> None:
    make_user("opal", Role.OPERATOR)
    ottos = token_for(APIClient(), "otto", name="ci").data
    opals = signed(token_for(APIClient(), "opal").data["token"])

    stranger = opals.delete(f"/api/tokens/{ottos['uuid']}/")
    owner = signed(ottos["token"]).delete(f"/api/tokens/{ottos['uuid']}/")

    assert stranger.status_code == 404
    assert owner.status_code == 204
    assert signed(ottos["token"]).get("/api/lpars/").status_code == 401
    assert opals.get("/api/lpars/").status_code == 200


def test_a_user_holds_a_bounded_number_of_live_tokens(otto: User, settings) -> None:
    settings.API_TOKEN_LIMIT_PER_USER = 2
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000/minute"},
    }

    answers = [token_for(APIClient(), "otto").status_code for _ in range(3)]

    assert answers == [201, 201, 409]
    assert ApiToken.objects.count() == 2


def test_creating_a_token_is_audited_with_its_expiry_not_its_secret(otto: User) -> None:
    secret = token_for(APIClient(), "otto", name="ci").data["token"]

    entry = AuditEntry.objects.get(action="api token create")

    assert entry.actor == "otto" and entry.data["username"] == "otto"
    assert entry.data["expiry"] and entry.data["address"] == "127.0.0.1"
    assert secret not in str(entry.data) and secret not in entry.summary


def test_an_anonymous_call_is_answered_401_with_the_token_scheme(db) -> None:
    response = APIClient().get("/api/services/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_old_plain_token_does_not_work(otto: User) -> None:
    old_style = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's 40 hex characters

    assert signed(old_style).get("/api/lpars/").status_code == 401


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor refuses to run in a transaction
def test_the_migration_drops_the_table_of_plain_tokens() -> None:
    migration = importlib.import_module("accounts.migrations.0002_drop_plain_api_tokens")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY)")
        cursor.execute("INSERT INTO authtoken_token VALUES ('9944b09199c62bcf9418ad846dd0e4bb')")

    with connection.schema_editor() as editor:
        migration.drop_plain_tokens(None, editor)

    assert "authtoken_token" not in connection.introspection.table_names()


def test_a_session_write_without_the_csrf_token_is_refused(make_user) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user("ada", Role.ARCHITECT))

    response = client.post("/api/lpars/", {"name": "SYSZ"})

    assert response.status_code == 403
    assert "CSRF" in response.data["detail"]


# --- the token page ----------------------------------------------------------------------------


def test_the_token_page_creates_shows_once_and_revokes(otto: User) -> None:
    client = Client()
    client.force_login(otto)

    created = client.post("/accounts/tokens/", {"action": "create", "name": "ci", "days": 7})
    secret = created.content.decode().split('data-testid="new-token-secret">')[1].split("<")[0]
    again = client.get("/accounts/tokens/").content.decode()
    token = ApiToken.objects.get()

    assert created.status_code == 200
    assert signed(secret).get("/api/lpars/").status_code == 200
    assert secret not in again and "ci" in again
    assert (
        client.post("/accounts/tokens/", {"action": "revoke", "token": str(token.uuid)}).status_code
        == 302
    )
    assert signed(secret).get("/api/lpars/").status_code == 401


def test_the_token_page_does_not_revoke_someone_elses_token(
    otto: User, make_user: Callable[..., User]
) -> None:
    theirs, secret = ApiToken.objects.create(user=make_user("opal", Role.OPERATOR), name="x")
    client = Client()
    client.force_login(otto)

    answer = client.post("/accounts/tokens/", {"action": "revoke", "token": str(theirs.uuid)})

    assert answer.status_code == 404
    assert signed(secret).get("/api/lpars/").status_code == 200


def test_the_token_page_refuses_more_days_than_allowed(otto: User) -> None:
    client = Client()
    client.force_login(otto)

    answer = client.post("/accounts/tokens/", {"action": "create", "name": "ci", "days": 365})

    assert answer.status_code == 422
    assert not ApiToken.objects.exists()


# --- the token request's throttle ---------------------------------------------------------------


def test_token_requests_are_throttled_per_address_whatever_x_forwarded_for_says(
    otto: User,
) -> None:
    client = APIClient()

    answers = [
        client.post(
            "/api/token/",
            {"username": "otto", "password": PASSWORD},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status_code
        for n in range(11)
    ]

    assert answers == [201] * 10 + [429]


def test_behind_a_proxy_the_throttle_counts_the_address_the_proxy_appended(
    otto: User, settings
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    client = APIClient()

    def ask(client_address: str, spoofed: str) -> int:
        return client.post(
            "/api/token/",
            {"username": "otto", "password": PASSWORD},
            HTTP_X_FORWARDED_FOR=f"{spoofed}, {client_address}",
            REMOTE_ADDR="10.0.0.1",
        ).status_code

    answers = [ask("203.0.113.7", f"192.0.2.{n}") for n in range(11)]
    other = ask("203.0.113.8", "192.0.2.1")

    assert answers == [201] * 10 + [429]
    assert other == 201


def test_the_throttle_counts_in_redis_when_the_broker_is_redis(otto: User, settings) -> None:
    """Every web process and host sees the same counts: they live in Redis, not in memory."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.skip("the broker is not Redis")
    server = redis.Redis.from_url(url, socket_timeout=2)
    try:
        server.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis answers at {url}")
    prefix = f"test-throttle-{uuid.uuid4().hex}"
    from portal.settings import _cache_for_broker

    settings.CACHES = {"default": {**_cache_for_broker(url), "KEY_PREFIX": prefix}}
    try:
        answers = [token_for(APIClient(), "otto").status_code for _ in range(11)]
        keys = server.keys(f"{prefix}:*")

        assert answers == [201] * 10 + [429]
        assert any(b"throttle_token_127.0.0.1" in key for key in keys)
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


def test_the_cache_follows_the_broker() -> None:
    from portal.settings import _cache_for_broker

    redis_cache = _cache_for_broker("redis://broker.example.com:6379/0")
    rabbit_cache = _cache_for_broker("amqp://guest@rabbit.example.com//")

    assert redis_cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis_cache["LOCATION"] == "redis://broker.example.com:6379/0"
    assert rabbit_cache["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
