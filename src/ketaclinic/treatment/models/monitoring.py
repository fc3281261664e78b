"""Monitoring during the session: vital signs, observations and the alerts they raise."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ketaclinic.treatment.models.session import TreatmentSession


class VitalReading(models.Model):
    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="readings")
    taken_at = models.DateTimeField()
    phase = models.CharField(max_length=10)  # pre_dose | during
    systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    # What treatment.presenters attaches: the alerts this reading raised.
    alert_list: list[SessionAlert]

    class Meta:
        ordering = ["taken_at", "pk"]
        indexes = [models.Index(fields=["session", "taken_at"], name="reading_session_idx")]

    def __str__(self) -> str:
        return f"vitalreading #{self.pk}"

    def as_monitoring(self) -> dict[str, object]:
        """The reading in the monitoring module's keys."""
        return {
            "systolic_bp": self.systolic,
            "diastolic_bp": self.diastolic,
            "heart_rate": self.heart_rate,
            "spo2": self.spo2,
            "respiratory_rate": self.respiratory_rate,
            "temperature_c": self.temperature_c,
        }

    @property
    def bp(self) -> str:
        if self.systolic is None or self.diastolic is None:
            return "—"
        return f"{self.systolic}/{self.diastolic}"


class ObservationKind(models.TextChoices):
    MOAAS = "moaas", "Sedation (MOAA/S)"
    CADSS6 = "cadss6", "Dissociation (CADSS-6)"
    NAUSEA = "nausea", "Nausea / vomiting"
    ANXIETY = "anxiety", "Anxiety / emergence"
    NOTE = "note", "Note"


# 0-3 scales for nausea and anxiety (clinic policy wording).
NAUSEA_SCALE: dict[int | None, str] = {
    0: "none",
    1: "mild nausea",
    2: "moderate nausea",
    3: "vomiting",
}
ANXIETY_SCALE: dict[int | None, str] = {
    0: "calm",
    1: "mild anxiety",
    2: "moderate anxiety",
    3: "severe / emergence",
}


class Observation(models.Model):
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.CASCADE, related_name="observations"
    )
    kind = models.CharField(max_length=10, choices=ObservationKind.choices)
    value = models.SmallIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)
    taken_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["taken_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ObservationKind.values), name="observation_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"observation #{self.pk}"

    @property
    def display(self) -> str:
        if self.kind == ObservationKind.NAUSEA:
            return NAUSEA_SCALE.get(self.value, "")
        if self.kind == ObservationKind.ANXIETY:
            return ANXIETY_SCALE.get(self.value, "")
        if self.kind == ObservationKind.NOTE:
            return self.text
        return str(self.value)


class SessionAlert(models.Model):
    """An alert a reading or observation raised (monitoring thresholds of the protocol)."""

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="alerts")
    reading = models.ForeignKey(
        VitalReading, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    observation = models.ForeignKey(
        Observation, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    code = models.CharField(max_length=30)
    level = models.CharField(max_length=10)
    message = models.CharField(max_length=500)
    rule_id = models.CharField(max_length=60)
    raised_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["raised_at", "pk"]

    def __str__(self) -> str:
        return f"sessionalert #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None
