"""The Schedule III controlled-substance ledger: products, lots, containers, entries, counts.

The ledger is append-only (21 CFR 1304.21/1304.22, docs/clinical-sources.md §7 (Controlled substances)): an entry is never
edited or deleted, a mistake is corrected by a new entry that references it (once).
The model and its queryset refuse updates, deletes and bulk writes, and database
triggers (migration 0003) refuse them too, except for the witness fields, which a
waste awaiting its witness gets exactly once. Counts, their lines and loss reports are
append-only the same way; only their resolution / notice / filing fields are filled
once, from empty.

Quantities are Decimals in the product's unit (mL or device); every entry also carries
the milligram equivalent so the ledger balances to the milligram.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from ketaclinic.patients.models import ClinicScopedQuerySet


class Digits(TypedDict):
    max_digits: int
    decimal_places: int


QTY: Digits = {"max_digits": 12, "decimal_places": 3}
MG: Digits = {"max_digits": 14, "decimal_places": 3}


class Substance(models.TextChoices):
    KETAMINE = "ketamine", "Ketamine"
    ESKETAMINE = "esketamine", "Esketamine"


class Unit(models.TextChoices):
    ML = "mL", "mL"
    DEVICE = "device", "device"


class InventorySettings(models.Model):
    """Per-clinic ledger settings: how often a complete inventory is due (DEA: ≤ 24 months)."""

    clinic = models.OneToOneField(
        "accounts.Clinic", on_delete=models.CASCADE, related_name="inventory_settings"
    )
    inventory_interval_months = models.PositiveSmallIntegerField(
        default=24,
        choices=[(24, "Every 2 years (federal minimum)"), (12, "Every year (some states)")],
    )
    # How early the banner starts to remind that a complete inventory is due.
    remind_days_before = models.PositiveSmallIntegerField(default=30)
    last_reminder_sent_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Inventory every {self.inventory_interval_months} months"


class Location(models.Model):
    """A secured storage place of the clinic (a safe, a locked cabinet)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="location_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A finished form of a substance, e.g. ketamine 50 mg/mL, 10 mL vial."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    substance = models.CharField(max_length=12, choices=Substance.choices)
    ndc = models.CharField("NDC", max_length=13)
    form = models.CharField(max_length=100, blank=True)
    strength = models.CharField(max_length=60, blank=True)
    schedule = models.CharField(max_length=4, default="III", editable=False)
    unit = models.CharField(max_length=8, choices=Unit.choices)
    mg_per_unit = models.DecimalField(**QTY)
    units_per_container = models.DecimalField(**QTY)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "ndc"], name="product_ndc_unique"),
            models.CheckConstraint(condition=Q(mg_per_unit__gt=0), name="product_mg_positive"),
            models.CheckConstraint(
                condition=Q(units_per_container__gt=0), name="product_units_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def mg_per_container(self) -> Decimal:
        return self.mg_per_unit * self.units_per_container


class Lot(models.Model):
    """A manufacturer's lot of a product. Its row is the lock every ledger write takes."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    number = models.CharField("lot number", max_length=60)
    expiry = models.DateField()
    supplier_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "number"], name="lot_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.product.name} lot {self.number}"


class ContainerState(models.TextChoices):
    SEALED = "sealed", "Sealed"
    OPENED = "opened", "Opened (partially used)"
    EMPTIED = "emptied", "Emptied"


class Container(models.Model):
    """One commercial container (vial, device) of a lot at a location.

    The remaining quantities of a lot's containers at a location always add up to the
    ledger balance there: every ledger write updates them in the same transaction.
    """

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="containers")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveIntegerField()
    state = models.CharField(
        max_length=8, choices=ContainerState.choices, default=ContainerState.SEALED
    )
    remaining = models.DecimalField(**QTY)
    opened_at = models.DateTimeField(null=True, blank=True)
    emptied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lot", "seq"], name="container_seq_unique"),
            models.CheckConstraint(condition=Q(remaining__gte=0), name="container_not_negative"),
        ]
        indexes = [models.Index(fields=["lot", "location", "state"], name="container_state_idx")]

    def __str__(self) -> str:
        return f"container {self.seq} of lot {self.lot_id} ({self.state})"


class Kind(models.TextChoices):
    RECEIVE = "receive", "Receipt"
    ADMINISTER = "administer", "Administration"
    WASTE = "waste", "Waste"
    DESTROY = "destroy", "Destruction"
    RETURN = "return", "Return"
    ADJUST = "adjust", "Adjustment"
    TRANSFER = "transfer", "Transfer"
    LOSS = "loss", "Loss or theft"


# Entry kinds that need a second authorised person's co-signature.
WITNESSED_KINDS = {Kind.WASTE, Kind.DESTROY, Kind.ADJUST}
# The columns the database trigger lets change once (from empty): the witness confirmation.
WITNESS_FIELDS = ("witness", "witnessed_at")


class AppendOnly(Exception):
    """A ledger record was about to be edited or deleted, or written around the services."""


class AppendOnlyQuerySet(ClinicScopedQuerySet):
    """Refuses deletes and edits; `update` may only fill the model's `FILL_ONCE` fields.

    That the filled fields were empty before is the caller's filter (and the trigger's
    check); this only keeps every other column out of reach of the ORM.
    """

    def _refuse(self, what: str) -> AppendOnly:
        return AppendOnly(f"{self.model._meta.verbose_name_plural} are never {what}.".capitalize())

    def delete(self):
        raise self._refuse("deleted")

    def update(self, **kwargs):
        if set(kwargs) - set(getattr(self.model, "FILL_ONCE", ())):
            raise self._refuse("edited")
        return super().update(**kwargs)

    def bulk_update(self, *args, **kwargs):
        raise self._refuse("edited")


class LedgerQuerySet(AppendOnlyQuerySet):
    def bulk_create(self, *args, **kwargs):
        # An entry carries the running balance and moves containers: only `_post` may add one.
        raise AppendOnly("Ledger entries are posted one by one through the ledger services.")


class AppendOnlyModel(models.Model):
    """A row that is inserted once and never saved again nor deleted."""

    FILL_ONCE: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly(f"A {self._meta.verbose_name} is never edited.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly(f"A {self._meta.verbose_name} is never deleted.")


class LedgerEntry(AppendOnlyModel):
    """One movement of a controlled substance at one location, with the balance after it."""

    FILL_ONCE = (*WITNESS_FIELDS, "witness_id")

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    quantity = models.DecimalField(**QTY)  # always positive, in the product's unit
    mg = models.DecimalField(**MG)  # milligram equivalent of quantity
    delta = models.DecimalField(**QTY)  # signed change of the balance at this lot + location
    balance_after = models.DecimalField(**QTY)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    occurred_at = models.DateTimeField()
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    counterpart = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Receipts (21 CFR 1304.22(c)(3)).
    supplier_name = models.CharField(max_length=200, blank=True)
    supplier_address = models.CharField(max_length=300, blank=True)
    supplier_dea_number = models.CharField(max_length=9, blank=True)
    invoice = models.CharField(max_length=100, blank=True)
    containers = models.PositiveIntegerField(null=True, blank=True)
    # Administration and its waste: the patient and the treatment session.
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    session_ref = models.CharField(max_length=64, blank=True)
    # Waste, destruction and return: how; waste, destruction and adjustment: the co-signer.
    manner = models.CharField(max_length=200, blank=True)
    witness_requested = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    witnessed_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # The chain (inventory/ledger_chain.py): the lot's previous entry's hash, and this one's.
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="entry_quantity_positive"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="entry_balance_not_negative"
            ),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="entry_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind__in=["destroy", "adjust"]) | Q(witness__isnull=False),
                name="entry_cosigned_kinds_have_witness",
            ),
            models.CheckConstraint(
                condition=Q(witness__isnull=True) | ~Q(witness=models.F("recorded_by")),
                name="entry_witness_not_recorder",
            ),
            # An entry is reversed at most once (services.correct_entry checks it under the lock).
            models.UniqueConstraint(
                fields=["corrects"],
                condition=Q(corrects__isnull=False),
                name="entry_corrected_once",
            ),
        ]
        indexes = [
            models.Index(fields=["lot", "location", "-id"], name="entry_lot_loc_idx"),
            models.Index(fields=["clinic", "occurred_at"], name="entry_clinic_time_idx"),
            models.Index(fields=["clinic", "kind", "occurred_at"], name="entry_kind_time_idx"),
            models.Index(fields=["session_ref"], name="entry_session_idx"),
            # The ledger page: a clinic's entries newest first, a keyset page at a time.
            models.Index(fields=["clinic", "-id"], name="entry_clinic_id_idx"),
            # The waste still awaiting its witness: a few rows, whatever the history.
            models.Index(
                fields=["clinic", "id"],
                condition=Q(kind="waste", witness__isnull=True),
                name="entry_awaiting_witness_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.quantity} {self.product.unit}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AppendOnly("Ledger entries are never edited; record a correcting entry.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Ledger entries are never deleted; record a correcting entry.")

    @property
    def is_corrected(self) -> bool:
        """Whether a later entry reverses this one (annotated by `services.ledger_entries`)."""
        annotated = self.__dict__.get("corrected")
        if annotated is None:
            annotated = self.pk is not None and self.corrections.exists()
            self.__dict__["corrected"] = annotated
        return bool(annotated)

    @property
    def awaiting_witness(self) -> bool:
        """An unwitnessed waste that still stands; a reversed one is resolved by its correction."""
        return self.kind == Kind.WASTE and self.witness_id is None and not self.is_corrected


class CountTiming(models.TextChoices):
    OPENING = "opening", "Opening of business"
    CLOSING = "closing", "Close of business"


class CountKind(models.TextChoices):
    COUNT = "count", "Routine count"
    INITIAL = "initial", "Initial inventory"
    INVENTORY = "inventory", "Complete inventory"


class CountSession(AppendOnlyModel):
    """A physical count of one location, compared with the ledger when it was taken."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=CountKind.choices, default=CountKind.COUNT)
    timing = models.CharField(max_length=8, choices=CountTiming.choices)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    counted_at = models.DateTimeField()
    note = models.TextField(blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["clinic", "kind", "counted_at"], name="count_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class CountLine(AppendOnlyModel):
    """One lot's counted quantity against the ledger balance at the time of the count.

    Its discrepancy is resolved once: `resolved_by` and `resolved_at` are filled from empty.
    """

    FILL_ONCE = ("resolved_by", "resolved_by_id", "resolved_at")

    session = models.ForeignKey(CountSession, on_delete=models.PROTECT, related_name="lines")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    counted = models.DecimalField(**QTY)
    ledger_balance = models.DecimalField(**QTY)
    sealed_containers = models.PositiveIntegerField(null=True, blank=True)
    estimated = models.BooleanField(default=False)
    resolved_by = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "lot"], name="count_line_unique"),
            models.CheckConstraint(condition=Q(counted__gte=0), name="count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"count line {self.pk}"

    @property
    def discrepancy(self) -> Decimal:
        return self.counted - self.ledger_balance


class LossReport(AppendOnlyModel):
    """A theft or significant loss: the DEA notice (1 business day) and Form 106 (45 days).

    The notice and the filing are each marked once: their fields are filled from empty.
    """

    FILL_ONCE = (
        "notice_sent_at",
        "notice_sent_by",
        "notice_sent_by_id",
        "filed_at",
        "filed_by",
        "filed_by_id",
        "filed_reference",
    )

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="loss_report")
    discovered_on = models.DateField()
    notice_due = models.DateField()
    form106_due = models.DateField()
    circumstances = models.TextField()
    theft_suspected = models.BooleanField(default=False)
    notice_sent_at = models.DateTimeField(null=True, blank=True)
    notice_sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField(null=True, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    filed_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Loss report #{self.pk}"

    def clean(self) -> None:
        if self.filed_at and not self.filed_reference:
            raise ValidationError({"filed_reference": "Give the Form 106 reference."})
