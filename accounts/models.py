"""API tokens. Roles are Django groups (accounts/roles.py) and need no table of their own.

The module also makes Django send post_migrate for this app (see apps.py).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """A token for scripts, as django-rest-knox keeps it: only a SHA-512 digest of the secret
    and its first characters (`token_key`, for the look-up) are stored; the secret itself is
    shown once, when it is created. Every token expires.

    Knox's own AuthToken is swapped for this model (KNOX_TOKEN_MODEL) to give each token a
    public uuid (pages and the API name tokens by it, never by the digest) and a name its
    owner chose, so a list of tokens says what each one is for.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, help_text="What the token is for, e.g. 'CI pipeline'")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_key[:10]}…) of {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expiry is not None and self.expiry <= timezone.now()
