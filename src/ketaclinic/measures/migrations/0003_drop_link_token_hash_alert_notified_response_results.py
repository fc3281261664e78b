# Links keep their tokens in LinkToken now (0002); alerts record when the physician
# e-mail went out; responses keep their missing items and the PCL-5 results.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("measures", "0002_link_tokens"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="questionnairelink",
            name="token_hash",
        ),
        migrations.AddField(
            model_name="alert",
            name="notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(fields=["status", "notified_at"], name="alert_unnotified_idx"),
        ),
        migrations.AddField(
            model_name="response",
            name="missing_items",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="response",
            name="provisional_diagnosis",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="response",
            name="above_cutoff",
            field=models.BooleanField(blank=True, null=True),
        ),
    ]
