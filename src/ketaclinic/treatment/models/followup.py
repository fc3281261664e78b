"""After an esketamine or dosing session: the REMS monitoring form and the follow-up call."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ketaclinic.patients.models import ClinicScopedQuerySet
from ketaclinic.treatment.models.session import TreatmentSession


class RemsForm(models.Model):
    """The SPRAVATO REMS Patient Monitoring Form for one esketamine session."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(
        TreatmentSession, on_delete=models.CASCADE, related_name="rems_form"
    )
    form_version = models.CharField(max_length=20)
    data = models.JSONField(default=dict)
    due_on = models.DateField()
    submitted_on = models.DateField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["clinic", "due_on"], name="rems_due_idx")]

    def __str__(self) -> str:
        return f"remsform #{self.pk}"


class FollowUpCall(models.Model):
    """The nurse's call the day(s) after a dosing session; open until the patient is reached."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(
        TreatmentSession, on_delete=models.PROTECT, related_name="follow_up_call"
    )
    due_on = models.DateField()
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "pk"]
        indexes = [
            models.Index(fields=["clinic", "completed_at", "due_on"], name="followup_open_idx")
        ]

    def __str__(self) -> str:
        return f"followupcall #{self.pk}"


class FollowUpAttempt(models.Model):
    """One try at the follow-up call: reached or not, and what the patient reported."""

    SIDE_EFFECTS = {
        "urinary": "Urinary symptoms (pain, urgency, frequency, blood)",
        "nausea": "Nausea or vomiting",
        "headache": "Headache",
        "dissociation": "Dissociation or perceptual changes still present",
        "sleep": "Sleep problems",
        "other": "Other (in the note)",
    }

    call = models.ForeignKey(FollowUpCall, on_delete=models.PROTECT, related_name="attempts")
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reached = models.BooleanField()
    suicidality = models.BooleanField(null=True, blank=True)
    side_effects = models.JSONField(default=list, blank=True)
    symptoms = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"followupattempt #{self.pk}"
