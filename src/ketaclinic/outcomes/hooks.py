"""The one call other apps make when a write may change a patient's outcome rows.

Lower apps (patients, measures, scheduling, treatment) call `patient_changed` from
their services; this module imports none of them, so the call adds no import cycle.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction


def patient_changed(patient_id: int) -> None:
    """Rewrite the patient's outcome rows once the current transaction commits.

    After the commit, so the rows never describe a write that was rolled back; robust,
    so a failed refresh never fails the clinical write (backfill_outcomes repairs it).
    """
    from ketaclinic.outcomes.upkeep import refresh_patients

    transaction.on_commit(partial(refresh_patients, [patient_id]), robust=True)
