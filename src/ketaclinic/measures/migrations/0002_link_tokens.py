# Every token sent for a questionnaire link (first e-mail and reminders) is kept, so an
# earlier e-mail's link keeps working. The old column is dropped in 0003 (a separate
# transaction: PostgreSQL refuses to alter a table with pending deferred-FK checks).

import django.db.models.deletion
from django.db import migrations, models


def copy_token_hashes(apps, schema_editor):
    """Each existing link's current token becomes its first LinkToken."""
    QuestionnaireLink = apps.get_model("measures", "QuestionnaireLink")
    LinkToken = apps.get_model("measures", "LinkToken")
    LinkToken.objects.bulk_create(
        LinkToken(link_id=pk, token_hash=token_hash, sent_at=last_sent_at)
        for pk, token_hash, last_sent_at in QuestionnaireLink.objects.values_list(
            "pk", "token_hash", "last_sent_at"
        ).iterator()
    )


class Migration(migrations.Migration):

    dependencies = [
        ("measures", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="LinkToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("sent_at", models.DateTimeField()),
                (
                    "link",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tokens",
                        to="measures.questionnairelink",
                    ),
                ),
            ],
        ),
        migrations.RunPython(copy_token_hashes, migrations.RunPython.noop),
    ]
