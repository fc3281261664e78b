"""Before and during the dose: the checklist, what was given, infusion changes, devices."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ketaclinic.treatment.models.session import TreatmentSession


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Not checked"
    MET = "met", "Met"
    FAILED = "failed", "Not met"


class ChecklistResult(models.Model):
    """One pre-dose checklist item of the session (the protocol's item, frozen at start)."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="checklist"
    )
    position = models.PositiveSmallIntegerField()
    item_id = models.CharField(max_length=60)
    label = models.CharField(max_length=300)
    hard_stop = models.BooleanField()
    automatic = models.BooleanField(default=False)  # checked by the system, not the nurse
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    finding = models.CharField(max_length=500, blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    override_reason = models.CharField(max_length=500, blank=True)
    override_at = models.DateTimeField(null=True, blank=True)
    # The finding the physician overrode: a different finding (a worse reading) is not
    # covered by the override.
    override_finding = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "item_id"], name="checklist_item_once"),
            models.CheckConstraint(
                condition=Q(status__in=ItemStatus.values), name="checklist_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(override_by__isnull=True) | ~Q(override_reason=""),
                name="checklist_override_needs_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"checklistresult #{self.pk}"

    @property
    def override_applies(self) -> bool:
        """True when a physician overrode this failed item for the finding it shows now."""
        return (
            self.override_by_id is not None
            and self.status == ItemStatus.FAILED
            and self.override_finding == self.finding
        )

    @property
    def blocks(self) -> bool:
        """True when this item stops the dose: a hard stop not met and not overridden."""
        return self.hard_stop and self.status != ItemStatus.MET and not self.override_applies


class Administration(models.Model):
    """What was given: drug, product, lot, dose and how it was reached, volumes."""

    session = models.OneToOneField(
        TreatmentSession, on_delete=models.CASCADE, related_name="administration"
    )
    drug = models.CharField(max_length=20)
    product = models.CharField(max_length=200)
    lot_number = models.CharField(max_length=60)
    ledger_lot = models.ForeignKey(
        "inventory.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    route = models.CharField(max_length=12)
    dose_mg = models.DecimalField(max_digits=7, decimal_places=2)
    dose_mg_per_kg = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    weight_basis = models.CharField(max_length=10, blank=True)
    weight_used_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    concentration_mg_per_ml = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True
    )
    rate_ml_per_h = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    devices_planned = models.PositiveSmallIntegerField(null=True, blank=True)
    calculation_warnings = models.JSONField(default=list, blank=True)
    unit = models.CharField(max_length=8)  # mL | device
    drawn = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    given = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    left_over = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    total_given_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    waste_manner = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    posted_to_ledger_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"administration #{self.pk}"


class InfusionChange(models.Model):
    """A rate change, pause or resume of an infusion, with its reason."""

    class Kind(models.TextChoices):
        RATE = "rate", "Rate changed"
        PAUSE = "pause", "Paused"
        RESUME = "resume", "Resumed"

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="infusion_changes"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField()
    rate_ml_per_h = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    reason = models.CharField(max_length=300)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"infusionchange #{self.pk}"


class DeviceDose(models.Model):
    """One esketamine nasal device and when it was used."""

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="devices")
    number = models.PositiveSmallIntegerField()
    given_at = models.DateTimeField()
    mg = models.DecimalField(max_digits=5, decimal_places=1)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="device_number_once")
        ]

    def __str__(self) -> str:
        return f"devicedose #{self.pk}"
