"""VerificationFigures: the stack-wide figures of a finished run (fleet/stored_figures.py),
stored when it finishes; the runs already finished get theirs here, once. And an index on a
run's finished_at, by which the dashboard notices a run that finished (portal/dashboard.py)."""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 200


def store_figures(apps, schema_editor):
    # The current rule, by design: figures carry FIGURES_VERSION and readers compute again
    # any stored under another version, so a later change of rule needs no new migration.
    from fleet.stored_figures import run_figures

    runs = apps.get_model("fleet", "VerificationRun")
    figures = apps.get_model("fleet", "VerificationFigures")
    last = 0
    while True:
        batch = list(
            runs.objects.filter(pk__gt=last, status="succeeded")
            .order_by("pk")
            .values_list("pk", "results")[:BATCH]
        )
        figures.objects.bulk_create(
            figures(run_id=pk, figures=run_figures(results or {})) for pk, results in batch
        )
        if len(batch) < BATCH:
            return
        last = batch[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0012_change_impact"),
    ]

    operations = [
        migrations.CreateModel(
            name="VerificationFigures",
            fields=[
                (
                    "run",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="figures",
                        serialize=False,
                        to="fleet.verificationrun",
                    ),
                ),
                ("figures", models.JSONField()),
            ],
        ),
        migrations.RunPython(store_figures, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="verificationrun",
            index=models.Index(fields=["finished_at"], name="fleet_run_finished_idx"),
        ),
    ]
