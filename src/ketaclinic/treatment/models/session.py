"""The session itself: its state, its timeline of events, and amendments after signing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

from ketaclinic.patients.models import ClinicScopedQuerySet

if TYPE_CHECKING:  # what treatment.presenters.load attaches (below)
    from ketaclinic.treatment.models.dosing import (
        Administration,
        ChecklistResult,
        DeviceDose,
        InfusionChange,
    )
    from ketaclinic.treatment.models.monitoring import Observation, SessionAlert, VitalReading
    from ketaclinic.treatment.models.safety import AdverseEvent


class State(models.TextChoices):
    PRE_DOSE = "pre_dose", "Pre-dose"
    DOSING = "dosing", "Dosing"
    MONITORING = "monitoring", "Monitoring"
    READY = "ready_for_discharge", "Ready for discharge"
    DISCHARGED = "discharged", "Discharged"
    STOPPED = "stopped", "Stopped"


ACTIVE_STATES = (State.PRE_DOSE, State.DOSING, State.MONITORING, State.READY)
FINAL_STATES = (State.DISCHARGED, State.STOPPED)


class TreatmentSession(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="treatment_sessions"
    )
    appointment = models.OneToOneField(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="treatment_session"
    )
    course = models.ForeignKey(
        "scheduling.TreatmentCourse", on_delete=models.PROTECT, related_name="sessions"
    )
    room = models.ForeignKey("scheduling.Room", on_delete=models.PROTECT, related_name="+")
    protocol_code = models.CharField(max_length=60)
    protocol_version = models.PositiveIntegerField()
    drug = models.CharField(max_length=20)
    route = models.CharField(max_length=12)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PRE_DOSE)
    version = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Patient circumstances the checklist depends on (protocol CHECKLIST_CONDITIONS).
    pregnancy_possible = models.BooleanField(default=False)
    first_session = models.BooleanField(default=False)
    # A longer minimum observation than the protocol's, set at start from the patient's
    # history (issue 12: moderate hepatic impairment with esketamine); None = the protocol's.
    observation_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    observation_reason = models.CharField(max_length=300, blank=True)
    # Fasting as the patient reports it at the checklist (None = not asked yet).
    hours_since_food = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    hours_since_liquids = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    # Dosing and infusion times (first device for esketamine).
    dose_started_at = models.DateTimeField(null=True, blank=True)
    dose_ended_at = models.DateTimeField(null=True, blank=True)
    # Discharge assessment (None = not assessed).
    dissociation_resolved = models.BooleanField(null=True, blank=True)
    walks_steadily = models.BooleanField(null=True, blank=True)
    escort_present = models.BooleanField(null=True, blank=True)
    respiratory_depression = models.BooleanField(null=True, blank=True)
    could_have_left_at = models.DateTimeField(null=True, blank=True)
    discharged_at = models.DateTimeField(null=True, blank=True)
    discharge_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    discharge_override_reason = models.CharField(max_length=500, blank=True)
    discharge_unmet = models.JSONField(default=list, blank=True)
    stop_reason = models.CharField(max_length=500, blank=True)
    nurse_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    nurse_signed_at = models.DateTimeField(null=True, blank=True)
    physician_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    physician_signed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(state__in=State.values), name="session_state_valid"),
            models.CheckConstraint(
                condition=~Q(state="stopped") | ~Q(stop_reason=""), name="session_stop_needs_reason"
            ),
            models.CheckConstraint(
                condition=Q(discharge_override_by__isnull=True) | ~Q(discharge_override_reason=""),
                name="session_override_needs_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "state"], name="session_state_idx"),
            models.Index(fields=["clinic", "patient", "started_at"], name="session_patient_idx"),
        ]

    # What treatment.presenters.load attaches, each fetched once for the page, API and PDF.
    checklist_rows: list[ChecklistResult]
    reading_rows: list[VitalReading]
    observation_rows: list[Observation]
    alert_rows: list[SessionAlert]
    device_rows: list[DeviceDose]
    infusion_rows: list[InfusionChange]
    event_rows: list[SessionEvent]
    adverse_rows: list[AdverseEvent]
    amendment_rows: list[Amendment]
    administration_row: Administration | None

    def __str__(self) -> str:
        return f"session #{self.pk} ({self.state})"

    @property
    def is_signed(self) -> bool:
        return self.nurse_signed_at is not None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_esketamine(self) -> bool:
        return self.drug == "esketamine"


class SessionEvent(models.Model):
    """The session's timeline: every transition and notable action, timestamped."""

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=30)  # transition | override | infusion | device | ...
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    text = models.CharField(max_length=500, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"sessionevent #{self.pk}"


class Amendment(models.Model):
    """A correction to a signed session: the original stays, this row says what changed."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="amendments"
    )
    target = models.CharField(max_length=40)  # "session" or "reading:<id>"
    field = models.CharField(max_length=40)
    old_value = models.CharField(max_length=500, blank=True)
    new_value = models.CharField(max_length=500)
    reason = models.CharField(max_length=500)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"amendment #{self.pk}"
