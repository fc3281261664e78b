"""Journal entries a patient writes in the portal; the care team sees only the shared ones.

The portal (a higher app) writes them; the integration timeline reads the shared ones,
so the model lives here, below both.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.patients.models import ClinicScopedQuerySet, Patient


class JournalEntry(models.Model):
    """One entry: private to the patient until they share it with the care team."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    shared_at = models.DateTimeField(null=True, blank=True)
    # "I need help" on a shared entry opens a staff alert; risk words alone never do.
    needs_help = models.BooleanField(default=False)
    alert = models.ForeignKey(
        "measures.Alert", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        app_label = "integration"
        constraints = [
            models.CheckConstraint(
                condition=Q(needs_help=False) | Q(shared_at__isnull=False),
                name="journal_help_only_when_shared",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "patient", "created_at"], name="journal_patient_idx")
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Journal entry {self.created_at:%Y-%m-%d}"


def shared_entries(clinic: Clinic | int, patient: Patient | int) -> models.QuerySet[JournalEntry]:
    """The entries this patient chose to share, newest first (the caller audits the read)."""
    return JournalEntry.objects.filter(
        clinic=clinic, patient=patient, shared_at__isnull=False
    ).order_by("-shared_at", "-pk")
