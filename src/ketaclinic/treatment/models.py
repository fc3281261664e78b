"""Monitored treatment sessions: checklist, administration, vitals, events, discharge, signing.

A session belongs to one checked-in treatment appointment of an active course. Its
`version` is bumped by every write (compare-and-set), so two people charting the same
session cannot overwrite each other: the second save is refused. Once the nurse has
signed, nothing in the session changes; corrections are `Amendment` rows that keep
the original value.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ketaclinic.patients.models import ClinicScopedQuerySet


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
NAUSEA_SCALE = {0: "none", 1: "mild nausea", 2: "moderate nausea", 3: "vomiting"}
ANXIETY_SCALE = {0: "calm", 1: "mild anxiety", 2: "moderate anxiety", 3: "severe / emergence"}


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


# The patient's portal check-in (treatment/patient_checkin.py), for the nurse to confirm.
from ketaclinic.treatment.patient_checkin import PatientCheckin  # noqa: E402, F401
