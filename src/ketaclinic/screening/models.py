"""Consultation and eligibility: versioned intakes, screenings with physician sign-off, consents.

Signed records (screening decisions, consultation notes, consents) are never edited:
a note changes by amendment with a reason; a consent ends by withdrawal or expiry.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.patients.models import ClinicScopedQuerySet

FAMILY_CHOICES = [
    ("esketamine-nasal", "Esketamine nasal spray"),
    ("ketamine-iv-mood", "IV ketamine (mood)"),
    ("ketamine-im-mood", "IM ketamine (mood)"),
    ("ketamine-iv-pain", "IV ketamine (pain)"),
]
FAMILY_LABELS = dict(FAMILY_CHOICES)


class IntakeVersion(models.Model):
    """One saved state of a patient's intake; every save adds a version, none is changed.

    `data` holds the docs/clinical-sources.md §2 (The facts screening reads) facts as entered plus the structured parts (trials,
    histories, allergies ...); see screening/intake.py for its shape.
    """

    class Source(models.TextChoices):
        STAFF = "staff", "Staff"
        PATIENT = "patient", "Patient (link)"

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="intake_versions"
    )
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    data = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When `data["suicide_risk"]` was assessed: set when a save changes it, carried
    # forward otherwise, so re-saving an old answer never makes it look newer than a
    # later C-SSRS screen. None when the intake states no risk.
    suicide_risk_assessed_at = models.DateTimeField(null=True, blank=True)
    # On a patient (link) version: what the patient added on top of the staff's record,
    # {"history": [...], "medications": [...], "trials": [drug, ...], "text": [field, ...]}.
    patient_added = models.JSONField(default=dict, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="intake_version_unique"),
        ]
        ordering = ["patient", "-version"]

    def __str__(self) -> str:
        return f"Intake v{self.version}"


class IntakeLink(models.Model):
    """A single-use, expiring link for the patient to fill in the history part of the intake.

    Only the SHA-256 of the token is stored; the token itself is shown once.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Intake link {self.pk}"


class Decision(models.TextChoices):
    ACCEPT = "accept", "Accepted"
    DECLINE = "decline", "Declined"
    OVERRIDE = "override", "Overridden"


class Screening(models.Model):
    """One stored eligibility evaluation: the facts snapshot, the rule set version, the result.

    The result is stored as computed, so re-reading it never depends on today's rule
    files; `facts` lets anyone re-run it by hand against the named version.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="screenings"
    )
    protocol = models.CharField(max_length=30, choices=FAMILY_CHOICES)
    ruleset_version = models.PositiveIntegerField()
    # SHA-256 of the rule file: two files with one version are still told apart.
    ruleset_hash = models.CharField(max_length=64, blank=True, default="")
    intake = models.ForeignKey(
        IntakeVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    facts = models.JSONField(default=dict)
    overrides = models.JSONField(default=dict)
    result = models.CharField(max_length=20)  # the engine's decision
    findings = models.JSONField(default=list)
    missing = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The physician's signed decision (one per screening; a new screening for a new one).
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["patient", "protocol", "-created_at"], name="screening_latest_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(result__in=["eligible", "needs_review", "ineligible"]),
                name="screening_result_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(decision="override") | ~models.Q(decision_reason=""),
                name="screening_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Screening {self.pk} ({self.protocol})"

    @property
    def protocol_label(self) -> str:
        return FAMILY_LABELS.get(self.protocol, self.protocol)

    @property
    def is_override(self) -> bool:
        return self.decision == Decision.OVERRIDE

    @property
    def approved(self) -> bool:
        return self.decision in (Decision.ACCEPT, Decision.OVERRIDE)


class ConsultationNote(models.Model):
    """The physician's consultation note: intake version, baseline scores, screening, signed."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consultation_notes"
    )
    intake = models.ForeignKey(
        IntakeVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    screening = models.ForeignKey(
        Screening, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Snapshot of the latest baseline scores at signing: [{"instrument", "score", "band", "at"}].
    baseline = models.JSONField(default=list)
    text = models.TextField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_by_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Consultation note {self.pk}"


class NoteAmendment(models.Model):
    """A change to a signed consultation note; the original text stays as it was."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    note = models.ForeignKey(ConsultationNote, on_delete=models.PROTECT, related_name="amendments")
    text = models.TextField()
    reason = models.TextField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_by_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Amendment {self.pk} to note {self.note_id}"


class Consent(models.Model):
    """A signed informed consent: exactly the text signed, the ticked risks, and its PDF.

    Valid from its signing day up to (not including) `expires_on`, unless withdrawn.
    """

    class Via(models.TextChoices):
        TABLET = "tablet", "Tablet (witnessed)"
        LINK = "link", "Patient link"
        API = "api", "API"

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consents"
    )
    family = models.CharField(max_length=30, choices=FAMILY_CHOICES)
    template_key = models.CharField(max_length=60)
    template_version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    text = models.TextField()  # the rendered Markdown, clinic name filled in
    risks = models.JSONField(default=list)  # every key risk, each acknowledged
    signed_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    signed_on = models.DateField()  # the signing day in the clinic's time zone
    ip = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=10, choices=Via.choices)
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    witness_name = models.CharField(max_length=200, blank=True)
    expires_on = models.DateField()
    # Esketamine only: the REMS patient enrollment is signed by the patient (above) and
    # the prescriber (here); until the prescriber co-signs, enrollment is incomplete.
    rems_enrollment = models.BooleanField(default=False)
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    prescriber_name = models.CharField(max_length=200, blank=True)
    prescriber_signed_at = models.DateTimeField(null=True, blank=True)
    pdf = models.BinaryField()
    pdf_sha256 = models.CharField(max_length=64)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawn_by_name = models.CharField(max_length=200, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["patient", "family", "-signed_at"], name="consent_latest_idx")
        ]

    def __str__(self) -> str:
        return f"Consent {self.pk} ({self.family} v{self.template_version})"

    @property
    def family_label(self) -> str:
        return FAMILY_LABELS.get(self.family, self.family)

    def state_on(self, day: date) -> str:
        """Return "withdrawn", "expired", "not_yet" or "valid" for `day` (a clinic date).

        There is deliberately no `state` property: "today" must be the clinic's date
        (`Clinic.today()`), which the server's date is not.
        """
        if self.withdrawn_at is not None:
            return "withdrawn"
        if day >= self.expires_on:
            return "expired"
        if day < self.signed_on:
            return "not_yet"
        return "valid"

    @property
    def rems_complete(self) -> bool:
        return self.rems_enrollment and self.prescriber_signed_at is not None


class ConsentLink(models.Model):
    """A single-use, expiring link for the patient to sign one consent template remotely."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    template_key = models.CharField(max_length=60)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    consent = models.ForeignKey(
        Consent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Consent link {self.pk}"


class ClinicConsentTemplate(models.Model):
    """One version of a clinic's own copy of a consent template; rows are never changed.

    Each edit adds a row with the next version. The highest version of a family, here
    or in the shipped and data-directory files, is what patients sign
    (screening/clinic_consent.py); a signed Consent keeps its own copy of the text.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    family = models.CharField(max_length=30, choices=FAMILY_CHOICES)
    version = models.PositiveIntegerField()
    based_on_version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    off_label = models.BooleanField(default=False)
    rems = models.BooleanField(default=False)
    risks = models.JSONField(default=list)  # [{"id": ..., "text": ...}], as in the files
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "family", "version"], name="clinic_consent_version_unique"
            )
        ]
        ordering = ["clinic", "family", "-version"]

    def __str__(self) -> str:
        return f"{self.get_family_display()} v{self.version} (clinic copy)"
