from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role
from tests.conftest import PASSWORD


def token_for(client: APIClient, username: str, password: str = PASSWORD):
    return client.post("/api/token/", {"username": username, "password": password})


def test_a_token_from_username_and_password_authenticates_api_calls(make_user):
    make_user("otto", Role.OPERATOR)
    client = APIClient()

    response = token_for(client, "otto")

    assert response.status_code == 200
    token = response.data["token"]
    assert token == Token.objects.get(user__username="otto").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/lpars/").status_code == 200
    assert client.post("/api/lpars/", {"name": "SYSZ"}).status_code == 403


def test_asking_again_returns_the_same_token(make_user):
    make_user("otto", Role.OPERATOR)
    client = APIClient()

    assert token_for(client, "otto").data == token_for(client, "otto").data


def test_a_wrong_password_gets_no_token(make_user):
    make_user("otto", Role.OPERATOR)

    response = token_for(APIClient(), "otto", "guess")

    assert response.status_code == 400
    assert "token" not in response.data
    assert not Token.objects.exists()


def test_an_inactive_user_gets_no_token(make_user):
    user = make_user("otto", Role.OPERATOR)
    user.is_active = False
    user.save()

    assert token_for(APIClient(), "otto").status_code == 400


def test_a_revoked_token_no_longer_works(make_user):
    make_user("otto", Role.OPERATOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(client, 'otto').data['token']}")

    assert client.delete("/api/token/").status_code == 204
    response = client.get("/api/lpars/")

    assert response.status_code == 401
    assert not Token.objects.exists()


def test_an_anonymous_call_is_answered_401_with_the_token_scheme(db):
    response = APIClient().get("/api/services/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_token_requests_are_throttled_against_password_guessing(make_user):
    make_user("otto", Role.OPERATOR)
    client = APIClient()

    answers = [token_for(client, "otto", f"guess{n}").status_code for n in range(10)]
    blocked = token_for(client, "otto")

    assert set(answers) == {400}
    assert blocked.status_code == 429
    assert not Token.objects.exists()


def test_a_session_write_without_the_csrf_token_is_refused(make_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user("ada", Role.ARCHITECT))

    response = client.post("/api/lpars/", {"name": "SYSZ"})

    assert response.status_code == 403
    assert "CSRF" in response.data["detail"]
