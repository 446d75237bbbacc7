"""VerificationRun.figures: the stack-wide figures of a finished run (fleet/stored_figures.py),
stored when it finishes; the runs already finished get theirs here, once."""

from django.db import migrations, models

BATCH = 200


def store_figures(apps, schema_editor):
    # The current rule, by design: figures carry FIGURES_VERSION, and readers compute again
    # any stored under another version, so a later change of rule needs no new migration.
    from fleet.stored_figures import run_figures

    runs = apps.get_model("fleet", "VerificationRun")
    last = 0
    while True:
        batch = list(
            runs.objects.filter(pk__gt=last, status="succeeded")
            .order_by("pk")
            .values_list("pk", "results")[:BATCH]
        )
        for pk, results in batch:
            runs.objects.filter(pk=pk).update(figures=run_figures(results or {}))
        if len(batch) < BATCH:
            return
        last = batch[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0010_zert_record_partitions"),
    ]

    operations = [
        migrations.AddField(
            model_name="verificationrun",
            name="figures",
            field=models.JSONField(default=dict),
        ),
        migrations.RunPython(store_figures, migrations.RunPython.noop),
    ]
