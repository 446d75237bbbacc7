"""The baseline of a stack: its policy file as the portal first found it (the pre-portal state).

Captured by whichever reads the live file first — a deployment before its upload, or a
verification — while nothing has been deployed to the stack. Written once: a second
capture (two workers at the first contact) keeps the first row.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from fleet.models import StackBaseline
from policies.changes import change_record
from policies.models import Stack


def stack_baseline_capture(
    *, stack: Stack, path: str, text: str, existed: bool, captured_by: str
) -> StackBaseline:
    """The stack's baseline: the one already stored, or `text` stored now (audited)."""
    found = StackBaseline.objects.filter(stack=stack).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            baseline = StackBaseline.objects.create(
                stack=stack,
                path=path,
                text=text,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                existed=existed,
                captured_at=timezone.now(),
                captured_by=captured_by[:100],
            )
            change_record(
                actor=None,
                action="capture-baseline",
                obj=baseline,
                after={
                    "stack": stack.label,
                    "path": path,
                    "sha256": baseline.sha256,
                    "bytes": len(text),
                    "existed": existed,
                    "captured_by": baseline.captured_by,
                },
            )
    except IntegrityError:  # another worker captured it first: theirs is the first contact
        return StackBaseline.objects.get(stack=stack)
    return baseline
