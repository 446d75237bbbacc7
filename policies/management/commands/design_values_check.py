"""Lists design rows holding a value the validators now refuse (saved before they existed).

    python manage.py design_values_check

Such a row cannot be published (the renderer or the re-read refuses it) and should be
corrected in the designer. Exits non-zero when any is found. Reads only.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models

from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Lpar,
    Service,
    Stack,
)

CHECKED: tuple[type[models.Model], ...] = (
    Lpar,
    Stack,
    Keyring,
    CipherSet,
    GroupAction,
    EnvironmentAction,
    ConnectionAction,
    Service,
)


class Command(BaseCommand):
    help = "List design rows whose values the design's validators refuse."

    def handle(self, *args: Any, **options: Any) -> None:
        refused = 0
        for model in CHECKED:
            for row in model.objects.all().iterator():
                try:
                    # Uniqueness is the database's to keep; only the values are in question.
                    row.full_clean(validate_unique=False, validate_constraints=False)
                except ValidationError as error:
                    for field, messages in error.message_dict.items():
                        refused += 1
                        label = f"{model.__name__} {getattr(row, 'uuid', row.pk)}"
                        self.stdout.write(f"{label} {field}: {' '.join(messages)}")
        if refused:
            raise CommandError(f"{refused} value(s) must be corrected in the designer")
        self.stdout.write("every design value is one the validators accept")
