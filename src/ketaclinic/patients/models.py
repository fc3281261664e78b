"""The patient record: demographics, contacts, body measurements, conditions, medications."""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal
from typing import Any, Self

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.functional import cached_property

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.eligibility.facts import MEDICATION_CLASSES

# Letters that Unicode does not decompose into a base letter and a mark: without this,
# "Ødegård" would fold to "degard" and sort under D.
_UNDECOMPOSED = str.maketrans(
    {
        "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss",
        "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "Th", "þ": "th",
        "ı": "i", "Ħ": "H", "ħ": "h",
    }
)  # fmt: skip


def search_key(text: str) -> str:
    """Lower-case ASCII form of a name for prefix search ("Ødegård" -> "odegard")."""
    folded = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    return " ".join(folded.encode("ascii", "ignore").decode().lower().split())


class ClinicScopedQuerySet(models.QuerySet):
    def for_clinic(self, clinic: object) -> Self:
        return self.filter(clinic=clinic)


class PatientStatus(models.TextChoices):
    REFERRED = "referred", "Referred"
    SCREENING = "screening", "Screening"
    ACTIVE = "active", "Active treatment"
    MAINTENANCE = "maintenance", "Maintenance"
    INACTIVE = "inactive", "Inactive"


class SexAtBirth(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Unknown"


# Physiological plausibility (docs/clinical-sources.md §5 (Monitoring thresholds), policy): outside these a value is an entry error.
WEIGHT_KG_RANGE = (Decimal(25), Decimal(350))
HEIGHT_CM_RANGE = (Decimal(100), Decimal(250))


class Patient(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField()
    sex_at_birth = models.CharField(max_length=10, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=60, blank=True)
    pronouns = models.CharField(max_length=30, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address = models.TextField(blank=True)
    emergency_contact_name = models.CharField(max_length=150, blank=True)
    emergency_contact_phone = models.CharField(max_length=40, blank=True)
    emergency_contact_relationship = models.CharField(max_length=60, blank=True)
    escort_name = models.CharField("escort / driver", max_length=150, blank=True)
    escort_phone = models.CharField("escort phone", max_length=40, blank=True)
    weight_kg = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(WEIGHT_KG_RANGE[0]), MaxValueValidator(WEIGHT_KG_RANGE[1])],
    )
    weight_measured_on = models.DateField(null=True, blank=True)
    height_cm = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(HEIGHT_CM_RANGE[0]), MaxValueValidator(HEIGHT_CM_RANGE[1])],
    )
    height_measured_on = models.DateField(null=True, blank=True)
    # Allergy state besides the list of Allergy rows: "no known allergies" (NKDA) is a
    # recorded answer, not an empty list (which means "not recorded"); what the patient
    # wrote at intake shows until a clinician has put it on the list (patients/allergies.py).
    no_known_allergies = models.BooleanField("no known allergies (NKDA)", default=False)
    allergies_reported = models.TextField(blank=True)
    allergies_reported_on = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=PatientStatus.choices, default=PatientStatus.REFERRED
    )
    family_key = models.CharField(max_length=100, editable=False)
    given_key = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped on every update so two people editing at once cannot overwrite each other.
    version = models.PositiveIntegerField(default=1)
    # A restricted chart opens only for its care team, or through break-glass
    # (patients/restricted.py): a staff member who is also a patient, a public figure.
    restricted = models.BooleanField(default=False)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="mrn_unique_in_clinic"),
            models.CheckConstraint(
                condition=models.Q(status__in=PatientStatus.values), name="patient_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(sex_at_birth__in=SexAtBirth.values),
                name="patient_sex_at_birth_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "family_key", "given_key"], name="patient_family_idx"),
            models.Index(fields=["clinic", "given_key"], name="patient_given_idx"),
            models.Index(fields=["clinic", "birth_date"], name="patient_birth_idx"),
            models.Index(
                fields=["mrn"], name="patient_mrn_like_idx", opclasses=["varchar_pattern_ops"]
            ),
            # LIKE 'prefix%' on PostgreSQL needs pattern ops whatever the collation.
            models.Index(
                fields=["family_key"],
                name="patient_family_like_idx",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["given_key"],
                name="patient_given_like_idx",
                opclasses=["varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.mrn})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.family_key = search_key(self.family_name)
        self.given_key = search_key(self.given_name)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError
        from django.utils import timezone

        # The form validates before the service attaches the clinic: without one, the
        # server's date is close enough here and the service checks again in the clinic's zone.
        tz = self.clinic.tz if self.clinic_id else None
        if self.birth_date and self.birth_date > timezone.localdate(timezone=tz):
            raise ValidationError({"birth_date": "The birth date cannot be in the future."})
        if self.birth_date and self.birth_date.year < timezone.localdate(timezone=tz).year - 130:
            raise ValidationError({"birth_date": "Check the year: that is over 130 years ago."})

    @property
    def display_name(self) -> str:
        given = self.preferred_name or self.given_name
        return f"{given} {self.family_name}"

    @property
    def age(self) -> int:
        return self.age_on(self.clinic.today())

    # A weight older than this makes a weight-based dose a guess (issue 5; policy).
    WEIGHT_STALE_DAYS = 30

    @property
    def weight_is_stale(self) -> bool:
        if self.weight_measured_on is None:
            return True
        return (self.clinic.today() - self.weight_measured_on).days > self.WEIGHT_STALE_DAYS

    @cached_property
    def active_allergies(self) -> list[Allergy]:
        return list(self.allergies.filter(is_active=True).order_by("substance"))

    def age_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


class MrnCounter(models.Model):
    """The last automatic MRN number given out in one clinic (patients/services.py).

    One row per clinic, incremented under its row lock: registrations at the same
    moment queue on it for a few milliseconds instead of colliding on the MRN.
    """

    clinic = models.OneToOneField(
        "accounts.Clinic", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_number = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"MRN{self.last_number:06d}"


class Condition(models.Model):
    """A coded diagnosis (codes from clinical/conditions.py, docs/clinical-sources.md §1 (Conditions and their codes))."""

    CODE_CHOICES = [(c.code, c.display) for c in CONDITIONS.values()]

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="conditions")
    code = models.CharField(max_length=40, choices=CODE_CHOICES)
    icd10cm = models.CharField("ICD-10-CM", max_length=10, blank=True)
    note = models.CharField(max_length=200, blank=True)
    onset = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.get_code_display()


class Medication(models.Model):
    CLASS_CHOICES = [(c, c.replace("_", " ")) for c in MEDICATION_CLASSES] + [("other", "other")]

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    name = models.CharField(max_length=120)
    med_class = models.CharField("class", max_length=30, choices=CLASS_CHOICES)
    dose = models.CharField(max_length=60, blank=True)
    frequency = models.CharField(max_length=60, blank=True)
    is_active = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} {self.dose}".strip()


class Allergy(models.Model):
    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"
        UNKNOWN = "unknown", "Unknown"

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="allergies")
    substance = models.CharField(max_length=120)
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.UNKNOWN)
    is_active = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.substance


class CareTeamMember(models.Model):
    """A staff member who may open a restricted chart without break-glass."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.CASCADE, related_name="care_of"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "membership"], name="care_team_once")
        ]

    def __str__(self) -> str:
        return f"care team {self.patient_id}/{self.membership_id}"


class BreakGlass(models.Model):
    """One emergency opening of a restricted chart by someone outside its care team.

    Time-limited (until `expires_at`), with the reason given; listed for the clinic's
    admins until one of them reviews it.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    opened_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_note = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["clinic", "reviewed_at", "opened_at"], name="breakglass_review_idx"
            ),
            models.Index(
                fields=["patient", "membership", "expires_at"], name="breakglass_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"break-glass {self.pk} ({self.patient_id})"
