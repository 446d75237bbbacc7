"""`manage.py ensure_demo_signing_key`: a demo CA and evidence-signing key, made on first run.

Writes the PKCS#12 (key, certificate, CA) to EVIDENCE_SIGNING_P12 and the CA certificate to
EVIDENCE_TRUST_ROOTS, both under var/signing/ by default, protected by
EVIDENCE_SIGNING_PASSPHRASE. Does nothing when the key file exists, so `make demo` can run it
every time and a production key configured at that path is never touched.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audits.signing import SigningUnavailable, demo_signing_key_create


class Command(BaseCommand):
    help = "Create a demo CA and evidence-signing key (PKCS#12) unless the key file exists."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--organisation",
            default="AT-TLS portal demo",
            help="The organisation named in the demo certificates",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        p12 = Path(settings.EVIDENCE_SIGNING_P12)
        ca = Path(settings.EVIDENCE_TRUST_ROOTS)
        try:
            key = demo_signing_key_create(
                p12_path=p12,
                ca_path=ca,
                passphrase=settings.EVIDENCE_SIGNING_PASSPHRASE,
                organisation=options["organisation"],
            )
        except SigningUnavailable as error:
            raise CommandError(str(error)) from None
        if key.created:
            self.stdout.write(f"demo signing key created: {p12} (trust root {ca})")
            self.stdout.write(f"  signer: {key.signer_subject}")
        else:
            self.stdout.write(f"signing key present: {p12} ({key.signer_subject})")
