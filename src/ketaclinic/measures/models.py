"""Questionnaire responses, the alerts they open, patient links and send schedules."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ketaclinic.clinical.instruments import Score
from ketaclinic.patients.models import ClinicScopedQuerySet


class Source(models.TextChoices):
    CLINICIAN = "clinician", "Entered by a clinician"
    PATIENT_LINK = "patient_link", "Filled in by the patient (link)"


class Response(models.Model):
    """One scored questionnaire; the score is stored as the definition version produced it."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="measure_responses"
    )
    instrument = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    answers = models.JSONField()
    total = models.IntegerField(null=True, blank=True)
    severity = models.CharField(max_length=40, blank=True)
    severity_label = models.CharField(max_length=80, blank=True)
    subscores = models.JSONField(default=dict, blank=True)
    prorated = models.BooleanField(default=False)
    # Items left blank that counted as missing (prorated over, or too many for a total).
    missing_items = models.JSONField(default=list, blank=True)
    # PCL-5 only (None elsewhere): the DSM-5 item rule, and the total at or above the cut-off.
    provisional_diagnosis = models.BooleanField(null=True, blank=True)
    above_cutoff = models.BooleanField(null=True, blank=True)
    taken_at = models.DateTimeField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CLINICIAN)
    created_at = models.DateTimeField(auto_now_add=True)
    # The full Score, attached by services.record_response to the row it just wrote.
    score: Score

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["clinic", "patient", "instrument", "taken_at"], name="response_series_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__in=Source.values), name="response_source_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument}@{self.version} #{self.pk}"


class AlertLevel(models.TextChoices):
    URGENT = "urgent", "Urgent"
    HIGH = "high", "High"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class AlertAction(models.TextChoices):
    SAFETY_ASSESSMENT = "safety_assessment", "Safety assessment done"
    SAFETY_PLAN = "safety_plan", "Safety plan made or reviewed"
    REFERRAL = "referral", "Referral"
    EMERGENCY_SERVICES = "emergency_services", "Emergency services called"
    OTHER = "other", "Other (described in the note)"


class Alert(models.Model):
    """A safety alert a response opened. Only a person closes it (resolve_alert); nothing else."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="measure_alerts"
    )
    # The questionnaire that opened the alert; None when a person opened it from a
    # conversation (a follow-up call), named in `origin`.
    response = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    origin = models.CharField(max_length=60, blank=True)
    code = models.CharField(max_length=40)
    level = models.CharField(max_length=10, choices=AlertLevel.choices)
    message = models.TextField()
    opened_at = models.DateTimeField()
    # When the physician e-mail went out; the worker retries open alerts until it has.
    notified_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=30, choices=AlertAction.choices, blank=True)
    note = models.TextField(blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "status", "opened_at"], name="alert_open_idx"),
            models.Index(fields=["clinic", "patient", "status"], name="alert_patient_idx"),
            models.Index(fields=["status", "notified_at"], name="alert_unnotified_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__in=AlertLevel.values), name="alert_level_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AlertStatus.values), name="alert_status_valid"
            ),
            # A resolved alert always says who closed it, when, and with what action.
            models.CheckConstraint(
                condition=models.Q(status="open", resolved_at__isnull=True)
                | models.Q(
                    status="resolved",
                    resolved_at__isnull=False,
                    resolved_by__isnull=False,
                    action__in=AlertAction.values,
                ),
                name="alert_resolution_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.level}) #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == AlertStatus.OPEN


class ScheduleKind(models.TextChoices):
    EVERY_N_DAYS = "every_n_days", "Every N days"
    BEFORE_APPOINTMENT = "before_appointment", "Before every appointment (24 h before)"


class Schedule(models.Model):
    """Send a questionnaire bundle to a patient periodically, or before each appointment."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="measure_schedules"
    )
    instruments = models.JSONField()
    kind = models.CharField(max_length=20, choices=ScheduleKind.choices)
    every_days = models.PositiveIntegerField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["is_active", "next_due_at"], name="schedule_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=ScheduleKind.values), name="schedule_kind_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="every_n_days") | models.Q(every_days__gte=1),
                name="schedule_every_days_set",
            ),
        ]

    def __str__(self) -> str:
        return f"schedule #{self.pk} ({self.kind})"


class QuestionnaireLink(models.Model):
    """A single-use, expiring link e-mailed to a patient; its tokens are stored as LinkToken hashes."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="measure_links"
    )
    instruments = models.JSONField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="links"
    )
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["used_at", "expires_at"], name="link_pending_idx"),
            models.Index(fields=["clinic", "patient", "created_at"], name="link_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"questionnaire link #{self.pk}"


class LinkToken(models.Model):
    """One token e-mailed for a link (the first e-mail or a reminder); only its SHA-256 is stored.

    Every token sent for a link opens it until the link is used or expires: a patient
    who opened the first e-mail and submits after a reminder went out must not lose
    their answers (nor an item-9 answer its alert).
    """

    link = models.ForeignKey(QuestionnaireLink, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"token for link #{self.link_id}"
