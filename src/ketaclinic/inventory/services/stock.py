"""Locations, balances on hand, expiring lots and inventory settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.inventory.models import (
    Container,
    ContainerState,
    InventorySettings,
    LedgerEntry,
    Location,
    Lot,
    Product,
)

DEFAULT_LOCATION = "Main safe"


ZERO = Decimal("0")


QUANT = Decimal("0.001")


# ---------------------------------------------------------------- lookups


def default_location(clinic: Clinic) -> Location:
    """The clinic's first active storage location, created as "Main safe" when there is none."""
    found = Location.objects.for_clinic(clinic).filter(is_active=True).order_by("pk").first()
    if found:
        return found
    location, _ = Location.objects.get_or_create(clinic=clinic, name=DEFAULT_LOCATION)
    return location


def create_location(*, actor: Actor, name: str) -> Location:
    """Add a secured storage location (a safe, a locked cabinet) to the clinic."""
    actor.check("inventory.setup")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the location."})
    default_location(actor.clinic)  # the main safe stays the first (default) location
    if Location.objects.for_clinic(actor.clinic).filter(name__iexact=name).exists():
        raise ValidationError({"name": "This clinic already has a location with this name."})
    with transaction.atomic():
        location = Location.objects.create(clinic=actor.clinic, name=name)
        record(actor, "create", obj=location)
    return location


def set_in_use(*, actor: Actor, item: Product | Location, in_use: bool) -> None:
    """Take a product or storage location out of use, or back; it is never deleted.

    A location that still holds stock stays in use: its balance must move first.
    """
    actor.check("inventory.setup")
    if item.clinic_id != actor.clinic.pk:
        raise ValidationError({"item": "Not an item of this clinic."})
    if not in_use and isinstance(item, Location):
        # Each lot's latest entry here carries its exact balance; a SUM of the
        # deltas is a float on SQLite and leaves ~1e-14 of an emptied location.
        latest = (
            LedgerEntry.objects.for_clinic(actor.clinic)
            .filter(location=item)
            .values("lot_id")
            .annotate(last=Max("id"))
            .values("last")
        )
        if LedgerEntry.objects.filter(id__in=latest).exclude(balance_after=0).exists():
            raise ValidationError({"in_use": "This location still holds stock: transfer it first."})
    with transaction.atomic():
        type(item).objects.filter(pk=item.pk).update(is_active=in_use)
        record(actor, "update", obj=item, detail={"in_use": in_use})
    item.is_active = in_use


def clinic_date(clinic: Clinic, moment: datetime) -> date:
    """The clinic's calendar date of a stored (UTC) moment."""
    return clinic.date_of(moment)


def settings_for(clinic: Clinic) -> InventorySettings:
    found, _ = InventorySettings.objects.get_or_create(clinic=clinic)
    return found


def current_balance(lot: Lot, location: Location) -> Decimal:
    """The balance at a lot + location after its latest entry (zero before any)."""
    last = (
        LedgerEntry.objects.filter(lot=lot, location=location)
        .order_by("-id")
        .values_list("balance_after", flat=True)
        .first()
    )
    return last if last is not None else ZERO


@dataclass(frozen=True)
class Balance:
    product: Product
    lot: Lot
    location: Location
    quantity: Decimal
    sealed: int
    opened: int

    @property
    def mg(self) -> Decimal:
        return (self.quantity * self.product.mg_per_unit).quantize(QUANT)


def balances(clinic: Clinic, *, include_empty: bool = False) -> list[Balance]:
    """Every lot + location's balance in the clinic (two queries whatever the ledger's size)."""
    latest = (
        LedgerEntry.objects.for_clinic(clinic)
        .values("lot_id", "location_id")
        .annotate(last=Max("id"))
        .values("last")
    )
    entries = (
        LedgerEntry.objects.filter(id__in=latest)
        .select_related("product", "lot", "location")
        .order_by("product__name", "lot__expiry", "lot__number", "location__name")
    )
    containers: dict[tuple[int, int], dict[str, int]] = {}
    for lot_id, location_id, state in (
        Container.objects.filter(clinic=clinic)
        .exclude(state=ContainerState.EMPTIED)
        .values_list("lot_id", "location_id", "state")
    ):
        counts = containers.setdefault((lot_id, location_id), {"sealed": 0, "opened": 0})
        counts[state] += 1
    found = []
    for entry in entries:
        if entry.balance_after == 0 and not include_empty:
            continue
        counts = containers.get((entry.lot_id, entry.location_id), {"sealed": 0, "opened": 0})
        found.append(
            Balance(
                entry.product,
                entry.lot,
                entry.location,
                entry.balance_after,
                counts["sealed"],
                counts["opened"],
            )
        )
    return found


def update_settings(*, actor: Actor, interval_months: int) -> InventorySettings:
    """Change how often a complete inventory is due (12 or 24 months)."""
    actor.check("ledger.report")
    if interval_months not in (12, 24):
        raise ValidationError({"inventory_interval_months": "Every 12 or every 24 months."})
    config = settings_for(actor.clinic)
    with transaction.atomic():
        config.inventory_interval_months = interval_months
        config.save(update_fields=["inventory_interval_months"])
        record(actor, "update", obj=config, detail={"fields": ["inventory_interval_months"]})
    return config


def expiring_lots(clinic: Clinic, today: date, days: int = 60) -> list[Balance]:
    """Lots with stock on hand that expire within `days` (or have expired)."""
    horizon = today + timedelta(days=days)
    return [b for b in balances(clinic) if b.lot.expiry <= horizon]
