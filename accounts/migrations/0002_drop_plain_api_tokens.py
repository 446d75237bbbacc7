"""Drops DRF's authtoken table, where API tokens were stored in clear.

API tokens are now django-rest-knox tokens (accounts.ApiToken: a digest, an expiry). An old
token cannot be carried over without keeping it usable for ever or in clear, so every old
token stops working here and its owner creates a new one (README, "API tokens"). The table
goes, not only its rows: no secret is left in the database, and nothing writes there any more
(rest_framework.authtoken is no longer installed). Django's record of authtoken's migrations
goes with it, so that installing that app again would create its table afresh.
"""

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder

PLAIN_TOKEN_TABLE = "authtoken_token"


def drop_plain_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if PLAIN_TOKEN_TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(PLAIN_TOKEN_TABLE)}")
    recorder = MigrationRecorder(connection)
    if recorder.has_table():
        recorder.migration_qs.filter(app="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_api_token")]

    # Irreversible on purpose: the tokens are gone, as they should be.
    operations = [migrations.RunPython(drop_plain_tokens, migrations.RunPython.noop)]
