"""The Celery app. Configuration lives in settings.py under the CELERY_ prefix."""

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds tasks.py in every installed app (fleet, audits, ...).
app.autodiscover_tasks()


# --- where a task's audit entries come from -----------------------------------------------------
# A task enqueued while a request is served carries that request's client (address, user agent)
# in a message header, and runs with it as the current client, so the changes it records say
# where they were asked for (accounts/client.py). A task from beat carries none: the system.
# The worker's context is entered before the task runs and left after it, by the task's id.
CLIENT_HEADER = "portal_client"


@before_task_publish.connect(dispatch_uid="portal-client-header")
def _client_header(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    from accounts.client import current_client  # Django's apps are not loaded at import time

    client = current_client()
    if headers is not None and client is not None:
        headers[CLIENT_HEADER] = client.as_data()


_contexts: dict[str, Any] = {}


@task_prerun.connect(dispatch_uid="portal-client-enter")
def _client_enter(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    from accounts.client import Client, client_context

    header = getattr(task.request, CLIENT_HEADER, None) if task is not None else None
    if header is None:
        return  # a worker's task from beat; or an eager one, which runs in its caller's context
    context = client_context(Client.from_data(header))
    context.__enter__()
    _contexts[task_id] = context


@task_postrun.connect(dispatch_uid="portal-client-leave")
def _client_leave(task_id: str = "", **kwargs: Any) -> None:
    context = _contexts.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)
