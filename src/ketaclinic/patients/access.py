"""Fetch patient data only through the acting user's clinic and role."""

from __future__ import annotations

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.patients.models import Patient
from ketaclinic.patients.restricted import check_chart


def get_patient_for(actor: Actor, patient_id: int | str, action: str = "patient.view") -> Patient:
    """The patient with this id in the actor's clinic, or 404; PermissionDenied if the role may not."""
    found = get_for(actor, Patient, patient_id, action, what="patient")
    check_chart(actor, found)  # a restricted chart: its care team, or break-glass
    return found
