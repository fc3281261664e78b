"""What the patient reported at check-in in the portal, for the nurse to confirm.

The portal (a higher app) writes it; the session's checklist shows it beside the items
it concerns as "patient reported". It never marks an item met: the nurse still checks.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PatientCheckin(models.Model):
    """The patient's own check-in for one appointment (the latest submission wins)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    appointment = models.OneToOneField(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="patient_checkin"
    )
    escort_name = models.CharField(max_length=120)
    escort_phone = models.CharField(max_length=40)
    last_food_at = models.DateTimeField(null=True, blank=True)
    last_liquids_at = models.DateTimeField(null=True, blank=True)
    benzodiazepine_last_12h = models.BooleanField()
    new_medicines = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "treatment"

    def __str__(self) -> str:
        return f"Patient check-in {self.submitted_at:%Y-%m-%d}"


def reported_for(appointment_id: int) -> PatientCheckin | None:
    """The patient's check-in for this appointment, if they sent one."""
    return PatientCheckin.objects.filter(appointment_id=appointment_id).first()
