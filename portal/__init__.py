"""The Django project package: settings, URLs, the Celery app, roles, the dashboard."""

# Loaded with Django so that @shared_task in every app binds to this Celery app.
from portal.celery import app as celery_app

__all__ = ["celery_app"]
