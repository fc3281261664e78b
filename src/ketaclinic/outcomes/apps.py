from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "ketaclinic.outcomes"
    label = "outcomes"

    def ready(self) -> None:
        from ketaclinic.outcomes.upkeep import refresh_patients
        from ketaclinic.patients.changes import on_patient_change

        # Per-patient outcome rows follow every write that may change them.
        on_patient_change(refresh_patients)
