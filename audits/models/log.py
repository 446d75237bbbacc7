"""The audit log: every state change, appended, each entry holding its predecessor's hash.

`hash` is SHA-256 over `prev_hash` and the entry's canonical form in its chain `version`
(audits/log.py says exactly which fields, in which form); a changed, inserted or removed row
breaks the chain at that row, and `manage.py audit_verify` names it. Entries removed from the
end leave no break behind them: the head (sequence and hash) is recorded elsewhere, in an
AuditCheckpoint row on a beat schedule and in every evidence pack, and checked against them.
"""

from __future__ import annotations

from typing import Any

from django.db import models

# `data[CLIENT]` says where an entry came from (audits.log.append writes it, inside the hash):
# {"address": ..., "user_agent": ...} of the web or API request that made it (or that started
# the task that made it), or SYSTEM. Entries from before it was recorded have none.
CLIENT = "client"
SYSTEM = "system"


class AuditEntry(models.Model):
    # `sequence` is the chain's order; the id is not used for it so a restore from backup
    # that renumbers ids cannot silently reorder the chain.
    sequence = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, blank=True)  # the username, kept as written then
    action = models.CharField(max_length=32, db_index=True)  # login, publish, approve, ...
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # How the entry was encoded for its hash (audits/log.py): 1 joined fields with "|",
    # 2 is canonical JSON. Always written explicitly; rows from before versions are 1.
    version = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"

    def _client(self) -> Any:
        return self.data.get(CLIENT) if isinstance(self.data, dict) else None

    @property
    def client_address(self) -> str:
        """The request's client address, "system", or "" when the entry does not say."""
        client = self._client()
        if isinstance(client, dict):
            return str(client.get("address") or "")
        return SYSTEM if client == SYSTEM else ""

    @property
    def user_agent(self) -> str:
        client = self._client()
        return str(client.get("user_agent") or "") if isinstance(client, dict) else ""


class AuditCheckpoint(models.Model):
    """The chain's head at a moment, written by beat (audits.tasks.audit_chain_checkpoint).

    `audit_verify` checks the log still holds this entry with this hash: entries deleted from
    the end of the log are otherwise invisible.
    """

    at = models.DateTimeField(db_index=True)
    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"checkpoint {self.at:%Y-%m-%d %H:%M} head #{self.sequence}"
