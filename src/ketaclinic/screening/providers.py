"""What screening tells the apps below it (registered in ScreeningConfig.ready)."""

from __future__ import annotations

from ketaclinic.screening.models import Screening


def screening_decider(clinic_id: int, patient_id: int) -> list[int]:
    """The physician who decided the patient's latest screening (after the prescriber)."""
    decider = (
        Screening.objects.filter(
            clinic_id=clinic_id, patient_id=patient_id, decided_by__isnull=False
        )
        .order_by("-decided_at", "-pk")
        .values_list("decided_by_id", flat=True)
        .first()
    )
    return [decider] if decider is not None else []


def register() -> None:
    from ketaclinic.measures import hooks as measures_hooks

    measures_hooks.register_physicians(20, screening_decider)
