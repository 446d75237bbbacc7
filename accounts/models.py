"""API tokens, directory identities and the directory-group mapping. Roles are Django groups
(accounts/roles.py) and need no table of their own.

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


class IdentitySource(models.TextChoices):
    """The kinds of directory a person signs in through (accounts/sso/)."""

    OIDC = "oidc", "OpenID Connect"
    LDAP = "ldap", "LDAP / Active Directory"


class DirectoryIdentity(models.Model):
    """One identity of a person in a directory, and the portal user it signs in as.

    An identity is named by what its directory guarantees unique and stable: the OpenID
    provider's `iss` and the `sub` it issues, or the LDAP server and the entry's
    entryUUID (OpenLDAP, RFC 4530) or objectGUID (Active Directory). A renamed account, or
    a new account that reuses an old name, is therefore never taken for another person.

    `person_link` is the normalised value of the attribute both directories share (e.g. the
    employee number, or the e-mail address: SSO_PERSON_LINK_* settings): identities with the
    same value, in any directory, are one person for four eyes (accounts.identity).
    """

    user = models.ForeignKey(
        "auth.User", on_delete=models.CASCADE, related_name="directory_identities"
    )
    source = models.CharField(max_length=8, choices=IdentitySource.choices)
    issuer = models.CharField(max_length=255, help_text="OIDC issuer URL, or the LDAP server URI")
    subject = models.CharField(
        max_length=255, help_text="OIDC sub, or the LDAP entryUUID / objectGUID"
    )
    person_link = models.CharField(max_length=255, blank=True, db_index=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["source", "issuer", "subject"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "issuer", "subject"], name="directory_identity_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.subject} at {self.issuer}"


class DirectoryGroupMapping(models.Model):
    """What membership of one directory group gives in the portal: roles and owned services.

    A directory user's roles and services are, at every sign-in, exactly the union of what
    the mappings of their groups give (accounts.services.directory_user_sign_in): removed from
    a group in the directory, they lose what it gave at their next sign-in.

    `group` is a value of the OIDC groups claim, or an LDAP group's DN (compared without
    regard to case, as LDAP compares DNs).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.CharField(max_length=8, choices=IdentitySource.choices)
    group = models.CharField(max_length=512)
    roles = models.JSONField(default=list, blank=True, help_text="Role values (accounts.roles)")
    # Service ownership is the designer's (policies) relation; declared here by name, not by
    # import, so that accounts keeps below policies in the layers (see accounts/forms.py).
    services = models.ManyToManyField("policies.Service", blank=True, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "group"]
        constraints = [
            models.UniqueConstraint(fields=["source", "group"], name="directory_group_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} group {self.group}"
