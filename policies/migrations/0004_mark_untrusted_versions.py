"""Marks the versions stored before publishing re-read its own text.

A version whose text does not parse, or parses to another policy than its model (a value
with a line break could carry a hidden rule), gets `text_problem` set: the pages show it
as untrusted and deployments refuse it. The same check runs at every publish and again on
demand (`manage.py policy_versions_check`). Each marking leaves a change record.
"""

from django.db import migrations

from attls.policy.render_check import stored_text_problem


def mark_untrusted(apps, schema_editor):
    PolicyVersion = apps.get_model("policies", "PolicyVersion")
    ChangeRecord = apps.get_model("policies", "ChangeRecord")
    for version in PolicyVersion.objects.select_related("stack__lpar").iterator():
        problem = stored_text_problem(version.text, version.model) or ""
        if problem == version.text_problem:
            continue
        PolicyVersion.objects.filter(pk=version.pk).update(text_problem=problem)
        ChangeRecord.objects.create(
            actor=None,
            action="mark",
            object_type="PolicyVersion",
            object_uuid=version.uuid,
            object_name=f"{version.stack.lpar.name}/{version.stack.name} v{version.number}"[:100],
            before={"text_problem": version.text_problem},
            after={"text_problem": problem},
            note="re-read of stored versions (migration policies 0004)",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0003_design_values_validated"),
    ]

    operations = [
        migrations.RunPython(mark_untrusted, migrations.RunPython.noop, elidable=False),
    ]
