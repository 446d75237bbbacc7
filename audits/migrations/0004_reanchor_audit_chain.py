"""Re-anchors the audit chain on version 2 (canonical JSON; audits/log.py).

Entries written before keep verifying under version 1. One version-2 entry is appended after
them, recording the old head and a digest of their version-2 forms (`audits.log.reanchor`).
An empty log needs nothing: its first entry is version 2.

Going back leaves the entry in place: nothing is ever removed from the audit log.
"""

from typing import Any

from django.db import migrations


def reanchor(apps: Any, schema_editor: Any) -> None:
    from audits.log import reanchor as append_reanchor

    append_reanchor(apps.get_model("audits", "AuditEntry"))


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0003_audit_chain_version_and_head"),
    ]

    operations = [
        migrations.RunPython(reanchor, migrations.RunPython.noop),
    ]
