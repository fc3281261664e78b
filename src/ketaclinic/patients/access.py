"""Fetch patient data only through the acting user's clinic and role."""

from __future__ import annotations

from django.http import Http404

from ketaclinic.accounts.access import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.patients.restricted import check_chart


def get_patient_for(actor: Actor, patient_id: int | str, action: str = "patient.view") -> Patient:
    """The patient with this id in the actor's clinic, or 404; PermissionDenied if the role may not."""
    actor.check(action)
    try:
        patient = Patient.objects.for_clinic(actor.clinic).get(pk=int(patient_id))
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404("No such patient in this clinic.") from None
    check_chart(actor, patient)  # a restricted chart: its care team, or break-glass
    return patient
