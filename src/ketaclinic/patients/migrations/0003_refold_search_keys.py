"""Recompute the name search keys: letters such as Ø and ß now fold to O and ss."""

from django.db import migrations


def refold(apps, schema_editor):
    from ketaclinic.patients.models import search_key

    Patient = apps.get_model("patients", "Patient")
    changed = []
    for patient in Patient.objects.only("pk", "family_name", "given_name").iterator():
        family, given = search_key(patient.family_name), search_key(patient.given_name)
        if (family, given) != (patient.family_key, patient.given_key):
            patient.family_key, patient.given_key = family, given
            changed.append(patient)
    Patient.objects.bulk_update(changed, ["family_key", "given_key"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_mrn_prefix_index")]

    operations = [migrations.RunPython(refold, migrations.RunPython.noop)]
