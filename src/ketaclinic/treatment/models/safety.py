"""Adverse events, the external reports they owe, and liver tests on record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ketaclinic.patients.models import ClinicScopedQuerySet
from ketaclinic.treatment.models.session import TreatmentSession


class AdverseEvent(models.Model):
    class Type(models.TextChoices):
        HYPERTENSION = "hypertension", "Hypertension"
        NAUSEA = "nausea_vomiting", "Nausea / vomiting"
        EMERGENCE = "emergence_reaction", "Emergence reaction"
        SEDATION = "excessive_sedation", "Excessive sedation"
        DESATURATION = "desaturation", "Desaturation"
        RESPIRATORY = "respiratory_depression", "Respiratory depression"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        RESOLVING = "resolving", "Resolving"
        ONGOING = "ongoing", "Ongoing"
        TRANSFERRED = "transferred", "Transferred to emergency care"

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="adverse_events"
    )
    type = models.CharField(max_length=30, choices=Type.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    onset_at = models.DateTimeField()
    interventions = models.JSONField(default=list, blank=True)
    drug_given = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    serious = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["onset_at", "pk"]

    def __str__(self) -> str:
        return f"adverseevent #{self.pk}"


INTERVENTIONS = {
    "infusion_paused": "Infusion paused",
    "infusion_stopped": "Infusion stopped",
    "drug_given": "Drug given",
    "oxygen": "Oxygen given",
    "physician_called": "Physician called",
    "emergency_services": "Emergency services called",
}


class AdverseEventReport(models.Model):
    """An external report owed for an adverse event: FDA MedWatch 3500, or the esketamine REMS.

    Created when a serious event is recorded or a physician marks an event reportable;
    due until someone saves the draft, drafted until someone records its submission.
    """

    class Kind(models.TextChoices):
        MEDWATCH = "medwatch", "FDA MedWatch Form 3500"
        REMS = "rems", "SPRAVATO REMS adverse event report"

    class Reason(models.TextChoices):
        SERIOUS = "serious", "Serious adverse event"
        PHYSICIAN = "physician", "Marked reportable by a physician"

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="reports")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    reason_note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    # The reporter's additions to what the record pre-fills (narrative, outcomes).
    draft = models.JSONField(default=dict, blank=True)
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    drafted_at = models.DateTimeField(null=True, blank=True)
    submitted_on = models.DateField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=100, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "kind"], name="ae_report_once_per_kind"),
            models.CheckConstraint(
                condition=Q(kind__in=["medwatch", "rems"]), name="ae_report_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(submitted_on__isnull=True) | Q(drafted_at__isnull=False),
                name="ae_report_submitted_after_draft",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "submitted_on", "created_at"], name="ae_report_list_idx")
        ]

    def __str__(self) -> str:
        return f"adverseeventreport #{self.pk}"

    @property
    def status(self) -> str:
        if self.submitted_on is not None:
            return "submitted"
        return "drafted" if self.drafted_at is not None else "due"


class LiverTest(models.Model):
    """Liver tests on record (long-term monitoring of repeated ketamine): when, and the reading."""

    class Result(models.TextChoices):
        NORMAL = "normal", "Within normal limits"
        ABNORMAL = "abnormal", "Abnormal (physician to review)"

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    taken_on = models.DateField()
    result = models.CharField(max_length=10, choices=Result.choices)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-taken_on", "-pk"]
        indexes = [
            models.Index(fields=["clinic", "patient", "taken_on"], name="livertest_patient_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(result__in=["normal", "abnormal"]), name="livertest_result_valid"
            )
        ]

    def __str__(self) -> str:
        return f"livertest #{self.pk}"
