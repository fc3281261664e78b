"""Per-patient outcome rows (kept up to date by the services that write) and published snapshots.

The dashboard never reads raw responses or sessions for outcomes: it aggregates these
rows, one per patient (`PatientCohort`: which group the patient belongs to, and the
facts that decide a drop-out) and one per patient and instrument (`InstrumentOutcome`:
the same summary `/patients/{id}/outcomes` answers). `outcomes.upkeep` rewrites a
patient's rows after every write that can change them; `backfill_outcomes` rebuilds all.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ketaclinic.patients.models import ClinicScopedQuerySet


class PatientCohort(models.Model):
    """One patient: the groups they count in, and their first course's progress."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.CASCADE, related_name="outcome_cohort"
    )
    # The clinic-local day of the first dose, or of registration for a patient never treated:
    # the dashboard's date range selects on it.
    cohort_on = models.DateField()
    treated = models.BooleanField(default=False)
    # The first course defines the groups ("" = the patient has no course).
    family = models.CharField(max_length=30, blank=True)
    condition = models.CharField(max_length=40, blank=True)
    physician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    courses = models.PositiveSmallIntegerField(default=0)
    # The first course's induction: planned and given sessions, status, how it ended.
    planned_sessions = models.PositiveSmallIntegerField(default=0)
    sessions_given = models.PositiveSmallIntegerField(default=0)
    course_status = models.CharField(max_length=10, blank=True)
    course_stop_reason = models.CharField(max_length=300, blank=True)
    last_session_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["clinic", "cohort_on"], name="cohort_clinic_day_idx")]

    def __str__(self) -> str:
        return f"cohort of patient #{self.patient_id}"


class InstrumentOutcome(models.Model):
    """One patient's summary on one instrument (clinical.outcomes.summarize, as stored)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="instrument_outcomes"
    )
    cohort = models.ForeignKey(PatientCohort, on_delete=models.CASCADE, related_name="outcomes")
    instrument = models.CharField(max_length=40)
    baseline = models.IntegerField()
    latest = models.IntegerField()
    baseline_before_treatment = models.BooleanField()
    has_follow_up = models.BooleanField()
    change = models.IntegerField(null=True, blank=True)
    response = models.BooleanField(null=True, blank=True)
    remission = models.BooleanField(null=True, blank=True)
    # Days from the first dose to the first response, or (no response yet) to the
    # latest score: the Kaplan-Meier event and censoring times.
    days_to_response = models.FloatField(null=True, blank=True)
    days_followed = models.FloatField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "instrument"], name="outcome_once")
        ]
        indexes = [models.Index(fields=["clinic", "instrument"], name="outcome_clinic_instr_idx")]

    def __str__(self) -> str:
        return f"{self.instrument} outcome of patient #{self.patient_id}"


class Publication(models.Model):
    """A de-identified snapshot an admin published; the public only ever sees these."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField()
    # First days of the first and last months covered (None = from the first patient / to now).
    from_month = models.DateField(null=True, blank=True)
    to_month = models.DateField(null=True, blank=True)
    tables = models.JSONField()
    snapshot = models.JSONField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["clinic", "published_at"], name="publication_latest_idx")]

    def __str__(self) -> str:
        return f"publication #{self.pk}"
