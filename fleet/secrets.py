"""Secrets at rest: LPAR passwords and private keys, encrypted with a key from the environment.

FLEET_SECRETS_KEY is a Fernet key (`python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"`). With DEBUG on and no key set, one is derived
from SECRET_KEY so the demo works; production refuses to start without it (settings).
A token is never rendered back: forms show only whether a secret is set.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted with another key."""


def _fernet() -> Fernet:
    key: str = settings.FLEET_SECRETS_KEY
    if not key:
        digest = hashlib.sha256(("fleet-secrets:" + settings.SECRET_KEY).encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode())


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored LPAR secret cannot be decrypted with FLEET_SECRETS_KEY; was the key changed?"
        ) from None
