"""The database cache's table (rate limits and lockouts shared by every process).

`migrate` is the one set-up step an operator runs, so the table comes with it rather
than with a separate `createcachetable`. With KETACLINIC_CACHE_URL (Redis) set,
createcachetable has nothing to create.
"""

from django.core.management import call_command
from django.db import migrations


def create(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def drop(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS ketaclinic_cache")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
