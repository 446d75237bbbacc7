"""The audit log: every state change, appended, each entry holding its predecessor's hash.

`hash` is SHA-256 over `prev_hash` and the entry's canonical JSON (audits/log.py says
exactly which fields, in which form); a changed, inserted or removed row breaks the chain
at that row, and `manage.py audit_verify` names it.
"""

from __future__ import annotations

from django.db import models


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

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"
