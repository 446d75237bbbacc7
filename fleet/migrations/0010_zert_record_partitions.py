"""On PostgreSQL, the raw zERT table becomes partitioned by month of `started_at`.

A partitioned table's primary key and unique constraints must include the partition column:
the key becomes (id, started_at), and the natural key already holds started_at. Monthly
partitions are created as records arrive (fleet/zert/ingest.py: ensure_partitions); a
DEFAULT partition catches anything else. SQLite keeps the plain table 0007 created.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLE = "fleet_zertrecord"


def partition(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("fleet", "ZertRecord")
    assert model._meta.db_table == TABLE
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        (rows,) = cursor.fetchone()
    if rows:  # never the case: the table was created by the previous migration
        raise RuntimeError(f"{TABLE} is not empty; partition it by hand")
    for statement in (
        f"ALTER TABLE {TABLE} RENAME TO {TABLE}_plain",
        f"CREATE TABLE {TABLE} (LIKE {TABLE}_plain INCLUDING DEFAULTS INCLUDING IDENTITY"
        " INCLUDING CONSTRAINTS) PARTITION BY RANGE (started_at)",
        f"DROP TABLE {TABLE}_plain",
        f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id, started_at)",
        f"ALTER TABLE {TABLE} ADD CONSTRAINT zert_record_identity UNIQUE"
        " (stack_id, connection_id, started_at, event, smf_date, smf_time)",
        # No other index: the natural key's (stack_id, connection_id, started_at, ...) serves
        # the lookups by connection, and each index costs a million-row load its upkeep.
        f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT",
    ):
        schema_editor.execute(statement)


def unpartition(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    # Back to a plain table is what 0007's reversal drops anyway.
    schema_editor.execute(f"DROP TABLE {TABLE} CASCADE")
    model = apps.get_model("fleet", "ZertRecord")
    schema_editor.create_model(model)


class Migration(migrations.Migration):
    dependencies = [("fleet", "0009_zert_collector")]

    operations = [migrations.RunPython(partition, unpartition)]
