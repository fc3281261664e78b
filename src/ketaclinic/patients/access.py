"""Fetch patient data only through the acting user's clinic and role."""

from __future__ import annotations

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.patients.models import Patient
from ketaclinic.patients.restricted import check_chart


def _chart_guard(actor: Actor, patient: Patient) -> None:
    check_chart(actor, patient)  # a restricted chart: its care team, or break-glass


def get_patient_for(
    actor: Actor,
    patient_id: int | str,
    action: str = "patient.view",
    *,
    read: str | bool = False,
    read_detail: dict[str, object] | None = None,
) -> Patient:
    """The patient with this id in the actor's clinic, or 404; PermissionDenied if the role may not.

    `read` audits the read of the record here ("chart", "api"; see accounts.access.get_for).
    """
    return get_for(
        actor,
        Patient,
        patient_id,
        action,
        what="patient",
        guard=_chart_guard,
        read=read,
        read_detail=read_detail,
        patient_of=lambda found: found.pk,
    )
