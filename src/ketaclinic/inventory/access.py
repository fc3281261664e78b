"""Fetch ledger records only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.inventory.models import CountLine, LedgerEntry, Location, LossReport, Lot, Product


def get_product_for(
    actor: Actor, product_id: int | str | None, action: str = "ledger.view"
) -> Product:
    return get_for(actor, Product, product_id, action)


def get_lot_for(actor: Actor, lot_id: int | str | None, action: str = "ledger.view") -> Lot:
    return get_for(actor, Lot, lot_id, action, related=("product",))


def get_location_for(
    actor: Actor, location_id: int | str | None, action: str = "ledger.view"
) -> Location:
    return get_for(actor, Location, location_id, action)


def get_entry_for(
    actor: Actor, entry_id: int | str | None, action: str = "ledger.view"
) -> LedgerEntry:
    return get_for(
        actor,
        LedgerEntry,
        entry_id,
        action,
        related=("product", "lot", "recorded_by", "witness_requested", "patient"),
    )


def get_loss_report_for(
    actor: Actor, report_id: int | str | None, action: str = "ledger.view"
) -> LossReport:
    return get_for(actor, LossReport, report_id, action, related=("entry__product",))


def get_count_line_for(
    actor: Actor, line_id: int | str | None, action: str = "ledger.record"
) -> CountLine:
    return get_for(
        actor,
        CountLine,
        line_id,
        action,
        related=("session__location", "lot__product"),
        what="count line",
        clinic_field="session__clinic",
    )
