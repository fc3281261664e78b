"""Products and receiving stock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.dea import dea_number_problem
from ketaclinic.inventory.models import (
    ContainerState,
    Kind,
    LedgerEntry,
    Location,
    Lot,
    Product,
    Substance,
    Unit,
)

from .posting import _check_clinic, _decimal, _new_containers, _post
from .stock import ZERO, default_location

# ---------------------------------------------------------------- products and receipts


def create_product(
    *,
    actor: Actor,
    name: str,
    ndc: str,
    substance: str,
    unit: str,
    mg_per_unit: Any,
    units_per_container: Any,
    form: str = "",
    strength: str = "",
) -> Product:
    """Register a product (finished form) of ketamine or esketamine for the clinic."""
    actor.check("inventory.setup")
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Name the product, e.g. Ketamine 50 mg/mL, 10 mL vial."
    digits = (ndc or "").replace("-", "").strip()
    if not digits.isdigit() or len(digits) not in (10, 11):
        errors["ndc"] = "An NDC has 10 or 11 digits (e.g. 12345-678-90)."
    if substance not in Substance.values:
        errors["substance"] = "Ketamine or esketamine."
    if unit not in Unit.values:
        errors["unit"] = "mL or device."
    elif substance == Substance.ESKETAMINE and unit != Unit.DEVICE:
        errors["unit"] = "Esketamine nasal spray is counted per device."
    mg, size = ZERO, ZERO
    try:
        mg = _decimal(mg_per_unit, "mg_per_unit")
        if not ZERO < mg <= 1000:
            errors["mg_per_unit"] = "Between 0 and 1000 mg per unit."
    except ValidationError:
        errors["mg_per_unit"] = "Enter a number."
    try:
        size = _decimal(units_per_container, "units_per_container")
        if not ZERO < size <= 1000 or (unit == Unit.DEVICE and size != size.to_integral_value()):
            errors["units_per_container"] = "A positive size (whole devices)."
    except ValidationError:
        errors["units_per_container"] = "Enter a number."
    if not errors and Product.objects.for_clinic(actor.clinic).filter(ndc=ndc.strip()).exists():
        errors["ndc"] = "This clinic already has a product with this NDC."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        product = Product.objects.create(
            clinic=actor.clinic,
            name=name,
            ndc=ndc.strip(),
            substance=substance,
            unit=unit,
            mg_per_unit=mg,
            units_per_container=size,
            form=form,
            strength=strength,
        )
        record(actor, "create", obj=product)
    return product


def receive(
    *,
    actor: Actor,
    product: Product,
    lot_number: str,
    expiry: date,
    containers: int,
    supplier_name: str,
    supplier_address: str,
    supplier_dea_number: str,
    invoice: str = "",
    location: Location | None = None,
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Record a receipt of sealed containers (21 CFR 1304.22(c)(3)); creates the lot if new."""
    actor.check("ledger.record")
    _check_clinic(actor, product, location)
    location = location or default_location(actor.clinic)
    errors: dict[str, str] = {}
    lot_number = (lot_number or "").strip()
    if not lot_number:
        errors["lot"] = "Give the lot number printed on the container."
    if (
        not isinstance(containers, int)
        or isinstance(containers, bool)
        or not 1 <= containers <= 10000
    ):
        errors["containers"] = "The number of sealed containers received (1 or more)."
    if not (supplier_name or "").strip():
        errors["supplier.name"] = "Give the supplier's name."
    if not (supplier_address or "").strip():
        errors["supplier.address"] = "Give the supplier's address."
    problem = dea_number_problem(supplier_dea_number)
    if problem:
        errors["supplier.dea_number"] = problem
    # Expired stock is never received into usable stock: the supplier takes it back (a
    # return), so nothing expired can be picked for a patient from the ledger.
    received_on = (
        timezone.localdate(occurred_at, timezone=actor.clinic.tz)
        if occurred_at
        else actor.clinic.today()
    )
    if isinstance(expiry, date) and expiry < received_on:
        errors["expiry"] = (
            f"This lot expired on {expiry:%d %b %Y}: expired stock cannot be received. "
            "Return it to the supplier."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        lot, created = Lot.objects.get_or_create(
            product=product,
            number=lot_number,
            defaults={
                "clinic": actor.clinic,
                "expiry": expiry,
                "supplier_name": supplier_name.strip(),
            },
        )
        if not created and lot.expiry != expiry:
            raise ValidationError(
                {"expiry": f"Lot {lot_number} is on record with expiry {lot.expiry:%Y-%m-%d}."}
            )
        quantity = product.units_per_container * containers
        entry = _post(
            actor=actor,
            lot=lot,
            location=location,
            kind=Kind.RECEIVE,
            quantity=quantity,
            sign=+1,
            follow_containers=False,
            occurred_at=occurred_at,
            supplier_name=supplier_name.strip(),
            supplier_address=supplier_address.strip(),
            supplier_dea_number=supplier_dea_number.strip().upper(),
            invoice=(invoice or "").strip(),
            containers=containers,
        )
        _new_containers(
            lot, location, containers, product.units_per_container, ContainerState.SEALED
        )
    return entry
