"""Billing set-up, charges proposed from signed visits, claims (837P) and payments.

Money is Decimal with two places. A charge is proposed from the record (billing/coding.py)
and changes only through `services.edit_charge` with a reason (ChargeChange keeps who
changed what); an approved charge can be claimed and is owed by the patient or a payer.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from ketaclinic.patients.models import ClinicScopedQuerySet


class BillingProfile(models.Model):
    """The clinic as a billing provider (837P loop 2010AA) and service facility."""

    clinic = models.OneToOneField("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    legal_name = models.CharField(max_length=60)
    npi = models.CharField("billing NPI", max_length=10)
    tin = models.CharField("TIN (EIN)", max_length=10)
    taxonomy = models.CharField(max_length=10)
    address_line = models.CharField(max_length=55)
    city = models.CharField(max_length=30)
    state = models.CharField(max_length=2)
    zip_code = models.CharField("ZIP+4", max_length=10)
    phone = models.CharField(max_length=20, blank=True)
    place_of_service = models.CharField(max_length=2, default="11")
    submitter_id = models.CharField(max_length=15, default="KETACLINIC")
    receiver_id = models.CharField(max_length=15, default="CLEARINGHOUSE")
    bills_from = models.DateField(
        "bill visits from",
        null=True,
        blank=True,
        help_text=(
            "Signed visits before this day are not proposed for billing on their own (they "
            "were billed in the clinic's previous system). Empty: every visit."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.legal_name


class ProviderNumber(models.Model):
    """A physician's or therapist's own NPI (rendering provider)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    membership = models.OneToOneField(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    npi = models.CharField("NPI", max_length=10)
    taxonomy = models.CharField(max_length=10, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.npi


class PayerKind(models.TextChoices):
    MEDICARE = "medicare", "Medicare"
    MEDICAID = "medicaid", "Medicaid"
    COMMERCIAL = "commercial", "Commercial"


# SBR09 claim filing indicator per payer kind.
FILING_INDICATOR = {"medicare": "MB", "medicaid": "MC", "commercial": "CI"}


class Payer(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=60)
    payer_id = models.CharField("payer id", max_length=15)
    kind = models.CharField(max_length=12, choices=PayerKind.choices)
    in_network = models.BooleanField(default=True)
    # The payer's own rule for esketamine under J0013: its E/M / observation codes.
    esketamine_companion_codes = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "payer_id"], name="payer_id_unique"),
            models.CheckConstraint(condition=Q(kind__in=PayerKind.values), name="payer_kind"),
        ]

    def __str__(self) -> str:
        return self.name


class FeeSchedule(models.TextChoices):
    STANDARD = "standard", "Standard (billed to payers)"
    SELF_PAY = "self_pay", "Self-pay"


class Fee(models.Model):
    """A clinic's price for one code and unit, from a date (to a date)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    schedule = models.CharField(max_length=10, choices=FeeSchedule.choices)
    code = models.CharField(max_length=5)
    description = models.CharField(max_length=120, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["code", "schedule", "-effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="fee_price_positive"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gte=models.F("effective_from")),
                name="fee_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "code"], name="fee_code_idx")]

    def __str__(self) -> str:
        return f"{self.code} {self.price}"


class Relationship(models.TextChoices):
    SELF = "18", "Self"
    SPOUSE = "01", "Spouse"
    CHILD = "19", "Child"
    OTHER = "G8", "Other"


class Coverage(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    member_id = models.CharField(max_length=30)
    group_number = models.CharField(max_length=30, blank=True)
    subscriber_given_name = models.CharField(max_length=35)
    subscriber_family_name = models.CharField(max_length=60)
    subscriber_birth_date = models.DateField()
    subscriber_sex = models.CharField(max_length=1, default="U")  # F | M | U
    relationship = models.CharField(
        max_length=2, choices=Relationship.choices, default=Relationship.SELF
    )
    address_line = models.CharField(max_length=55)
    city = models.CharField(max_length=30)
    state = models.CharField(max_length=2)
    zip_code = models.CharField(max_length=10)
    priority = models.PositiveSmallIntegerField(default=1)  # 1 primary, 2 secondary
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(relationship__in=Relationship.values), name="coverage_relationship"
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=3), name="coverage_priority"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payer} #{self.pk}"


class ChargeStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    # Proposed without a code: the record lacks what the rule needs (e.g. no documented
    # psychotherapy minutes); `note` says what, the biller chooses or voids the line.
    HELD = "held", "Held for review"
    APPROVED = "approved", "Approved"
    VOID = "void", "Void"


class Charge(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="+"
    )
    provider = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coverage = models.ForeignKey(
        Coverage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    service_date = models.DateField()
    position = models.PositiveSmallIntegerField(default=1)
    code = models.CharField(max_length=5)
    modifiers = models.JSONField(default=list, blank=True)
    units = models.DecimalField(max_digits=7, decimal_places=2)
    ndc = models.CharField("NDC", max_length=11, blank=True)
    ndc_unit = models.CharField(max_length=2, blank=True)
    ndc_quantity = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    description = models.CharField(max_length=80, blank=True)
    diagnoses = models.JSONField(default=list, blank=True)  # ICD-10-CM codes of the visit
    diagnosis_pointers = models.JSONField(default=list, blank=True)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ChargeStatus.choices, default=ChargeStatus.PROPOSED
    )
    rule = models.CharField(max_length=40, blank=True)
    rule_source = models.CharField(max_length=40, blank=True)
    rules_version = models.PositiveIntegerField(default=1)
    note = models.CharField(max_length=200, blank=True)
    proposed_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Raised by every edit: an edit made on an older version is refused (StaleVersion),
    # so two billers editing the same line never silently overwrite each other.
    version = models.PositiveIntegerField(default=1)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["service_date", "appointment_id", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ChargeStatus.values), name="charge_status_valid"
            ),
            models.CheckConstraint(condition=Q(units__gt=0), name="charge_units_positive"),
        ]
        indexes = [
            models.Index(fields=["clinic", "appointment"], name="charge_visit_idx"),
            models.Index(fields=["clinic", "patient", "service_date"], name="charge_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"charge #{self.pk} {self.code}"

    @property
    def problems(self) -> list[str]:
        """What keeps this line from being approved."""
        found = []
        if self.status == ChargeStatus.HELD:
            found.append(f"Held for review: {self.note}")
        if not self.code:
            return [*found, "No code yet: choose it from the documentation."]
        if self.price is None:
            found.append("No fee for this code on the service date.")
        if not self.diagnosis_pointers:
            found.append("No diagnosis: the patient has no coded condition.")
        if self.code == "J3490" and (len(self.ndc) != 11 or not self.ndc_quantity):
            found.append("J3490 needs the 11-digit NDC and the quantity given.")
        return found


class ChargeChange(models.Model):
    """One edit of a charge line: what, from, to, why, who."""

    charge = models.ForeignKey(Charge, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(max_length=30)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=300)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"chargechange #{self.pk}"


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    READY = "ready", "Ready"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DENIED = "denied", "Denied"
    PAID = "paid", "Paid"


# Which status may follow which (a denied claim is corrected by a new claim).
CLAIM_NEXT = {
    "draft": ("ready",),
    "ready": ("draft", "sent"),
    "sent": ("accepted", "denied"),
    "accepted": ("paid", "denied"),
    "denied": (),
    "paid": (),
}


class Claim(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    coverage = models.ForeignKey(Coverage, on_delete=models.PROTECT, related_name="+")
    charges = models.ManyToManyField(Charge, related_name="claims")
    status = models.CharField(max_length=10, choices=ClaimStatus.choices, default="draft")
    # CLM05-3: 1 original, 7 replacement, 8 void (of `replaces`).
    frequency_code = models.CharField(max_length=1, default="1")
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    payer_claim_number = models.CharField(max_length=50, blank=True)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    status_note = models.CharField(max_length=300, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ClaimStatus.values), name="claim_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(frequency_code__in=["1", "7", "8"]), name="claim_frequency_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"claim #{self.pk}"

    @property
    def control_number(self) -> str:
        """CLM01, unique per clinic: the claim id."""
        return f"KC{self.clinic_id}C{self.pk}"


class PaymentSource(models.TextChoices):
    PATIENT = "patient", "Patient"
    PAYER = "payer", "Payer"


class Payment(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=8, choices=PaymentSource.choices)
    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claim = models.ForeignKey(
        Claim, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    # Contractual adjustment the payer wrote off with the payment (835 CAS CO), not owed.
    adjustment = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0.00"))
    method = models.CharField(max_length=20, default="card")  # card | cash | check | eft | era
    reference = models.CharField(max_length=50, blank=True)
    received_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(source__in=PaymentSource.values), name="payment_source_valid"
            ),
        ]
        indexes = [models.Index(fields=["clinic", "patient"], name="payment_patient_idx")]

    def __str__(self) -> str:
        return f"payment #{self.pk}"


class Allocation(models.Model):
    """The part of a payment (or adjustment) applied to one charge line."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    adjustment = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0.00"))

    def __str__(self) -> str:
        return f"allocation #{self.pk}"
