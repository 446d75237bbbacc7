from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.policies.api.test_permissions import reads
from tests.policies.api.test_services_api import new_service


def test_no_answer_carries_a_password_a_hash_or_a_token(estate, architect):
    token, secret = ApiToken.objects.create(user=architect, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    secrets = [secret, token.digest, *User.objects.values_list("password", flat=True)]

    answers = {path: client.get(path).content.decode() for path in reads(estate)}
    answers["new service"] = client.post("/api/services/", new_service()).content.decode()

    for path, body in answers.items():
        assert not any(secret in body for secret in secrets), path
        # The schema describes the token request's password field; nothing else names one.
        assert path == "/api/schema/" or "password" not in body, path
