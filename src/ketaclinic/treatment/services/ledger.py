"""Where a session meets the controlled-substance ledger: which drug is kept, posting doses and waste."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.inventory import services as inventory
from ketaclinic.inventory.models import LedgerEntry
from ketaclinic.treatment.models import Administration


def ledger_substance(drug: str) -> str:
    """The ledger's substance for a protocol's drug (racemic ketamine is 'ketamine')."""
    return "esketamine" if drug == "esketamine" else "ketamine"


def ledger_in_use(clinic: Any, drug: str) -> bool:
    """True when the clinic keeps `drug` in the ledger: some lot of it has stock on hand."""
    latest = (
        LedgerEntry.objects.for_clinic(clinic)
        .filter(product__substance=ledger_substance(drug))
        .values("lot_id", "location_id")
        .annotate(last=Max("id"))
        .values("last")
    )
    return LedgerEntry.objects.filter(id__in=latest, balance_after__gt=0).exists()


def post_to_ledger(
    *,
    actor: Actor,
    administration: Administration,
    given_at: datetime | None,
    wasted_at: datetime | None = None,
) -> None:
    """Post the dose (and any waste, pending its witness) to the controlled-substance ledger.

    Only when the administration names a ledger lot; a free-text lot (no ledger in
    use) posts nothing. The session records volumes of what was drawn into the
    syringe (IV: the diluted solution) or devices; the ledger counts the stock
    product's own unit, so amounts are converted through mg: ``mg / product.mg_per_unit``
    (35 mg given from a 50 mg/mL vial is 0.7 mL of stock; 56 mg of 28 mg devices is
    2 devices). A nasal device drawn but not used is still sealed: it stays in stock and
    nothing is wasted. Runs inside the caller's transaction: a refused ledger entry
    refuses the whole write. The waste is dated `wasted_at` (default now, when dosing ends).
    """
    lot = administration.ledger_lot
    if lot is None:
        return
    product = lot.product
    ref = str(administration.session_id)
    session = administration.session
    if administration.unit == "device":
        mg = administration.total_given_mg or Decimal(0)
        devices = mg / product.mg_per_unit
        if devices != devices.to_integral_value():
            raise ValidationError(
                {
                    "ledger_lot_id": f"{mg:g} mg is not a whole number of {product.name} "
                    f"({product.mg_per_unit:g} mg each)."
                }
            )
        given, left = devices.quantize(Decimal(1)), Decimal(0)
    else:
        per_unit = administration.concentration_mg_per_ml
        if per_unit is None:
            raise ValidationError({"ledger_lot_id": "The dose has no concentration to convert."})
        step = Decimal(1) if product.unit == "device" else Decimal("0.001")

        def stock(amount: Decimal | None) -> Decimal:
            return ((amount or Decimal(0)) * per_unit / product.mg_per_unit).quantize(step)

        given, left = stock(administration.given), stock(administration.left_over)
    if given:
        inventory.post_administration(
            actor=actor,
            lot=lot,
            quantity=given,
            unit=product.unit,
            patient=session.patient,
            session_ref=ref,
            given_at=given_at,
        )
    if left:
        inventory.post_waste_pending_witness(
            actor=actor,
            lot=lot,
            quantity=left,
            unit=product.unit,
            patient=session.patient,
            session_ref=ref,
            manner=administration.waste_manner,
            occurred_at=wasted_at,
        )
    Administration.objects.filter(pk=administration.pk).update(posted_to_ledger_at=timezone.now())
