"""The portal's own rows: heartbeats of the background processes, read by the health check.

(This module also makes Django emit post_migrate for the portal app, which portal/apps.py
hooks the creation of the role groups onto.)
"""

from django.db import models


class Heartbeat(models.Model):
    """The last time a background process proved it is alive, one row per process kind.

    In the database, not the cache: with a RabbitMQ broker the cache is each process's own
    memory, and the web processes must see what beat and the workers stamped."""

    name = models.CharField(max_length=32, unique=True)  # "beat"
    at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)  # which host:pid stamped it last

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
