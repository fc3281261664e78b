"""What the treatment app tells the apps below it (registered in TreatmentConfig.ready).

Scheduling, measures and inventory sit below treatment and never import it; they ask
through their `hooks` modules, and these functions answer from the treatment sessions:
which appointments have a session, when a patient's doses started, and whether a ledger
reference names a session of this clinic (and whose).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ketaclinic.treatment.models import TreatmentSession


def appointments_with_sessions(appointment_ids: Sequence[int]) -> set[int]:
    """The ids among `appointment_ids` whose treatment session has been opened (one query)."""
    return set(
        TreatmentSession.objects.filter(appointment_id__in=appointment_ids).values_list(
            "appointment_id", flat=True
        )
    )


def dose_times(clinic_id: int, patient_id: int) -> list[datetime]:
    """When each of the patient's doses started, oldest first (one query)."""
    started = (
        TreatmentSession.objects.filter(
            clinic_id=clinic_id, patient_id=patient_id, dose_started_at__isnull=False
        )
        .order_by("dose_started_at")
        .values_list("dose_started_at", flat=True)
    )
    return [at for at in started if at is not None]


def session_patient(clinic_id: int, session_id: int, *, lock: bool) -> int | None:
    """The patient id of the clinic's session `session_id`, or None; `lock` locks the row
    for the caller's transaction (the ledger posts a dose against it)."""
    rows = TreatmentSession.objects.filter(pk=session_id, clinic_id=clinic_id)
    if lock:
        rows = rows.select_for_update()
    return rows.values_list("patient_id", flat=True).first()


def register() -> None:
    from ketaclinic.inventory import hooks as inventory_hooks
    from ketaclinic.measures import hooks as measures_hooks
    from ketaclinic.scheduling import hooks as scheduling_hooks

    if appointments_with_sessions not in scheduling_hooks.SESSIONS_OPENED:
        scheduling_hooks.SESSIONS_OPENED.append(appointments_with_sessions)
    measures_hooks.register_dose_times(dose_times)
    inventory_hooks.SESSION_PATIENT[:] = [session_patient]
