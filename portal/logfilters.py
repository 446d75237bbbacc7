"""Logging filters for the portal's LOGGING setting."""

from __future__ import annotations

import logging


class ForbiddenAsOneLine(logging.Filter):
    """A 403 logged by django.request becomes one line: who asked for what, no traceback.

    Django logs a refused request with the PermissionDenied exception attached, which handlers
    print as a full traceback: a refusal is the portal working as designed (every view raises
    PermissionDenied for a role without the capability), and a walk of the site by a tester
    buried real errors under them. The line keeps what an investigator needs: method, path,
    user and client address.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != 403:
            return True
        request = getattr(record, "request", None)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if request is not None:
            from accounts.client import client_address

            user = getattr(request, "user", None)
            who = user.get_username() if user is not None and user.is_authenticated else "anonymous"
            record.msg = "Forbidden: %s %s (user %s, address %s)"
            record.args = (request.method, request.path, who, client_address(request))
        return True
