"""Fetch ledger records only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model
from django.http import Http404

from ketaclinic.accounts.access import Actor
from ketaclinic.inventory.models import CountLine, LedgerEntry, Location, LossReport, Lot, Product

M = TypeVar("M", bound=Model)


def _pk(value: int | str | None) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Http404 from None


def _get(actor: Actor, model: type[M], pk: int | str | None, action: str, **related: str) -> M:
    actor.check(action)
    query = model._default_manager.filter(clinic=actor.clinic, pk=_pk(pk))  # type: ignore[attr-defined]
    if related:
        query = query.select_related(*related.values())
    found = query.first()
    if found is None:
        raise Http404(f"No such {model._meta.verbose_name} in this clinic.")
    return found


def get_product_for(
    actor: Actor, product_id: int | str | None, action: str = "ledger.view"
) -> Product:
    return _get(actor, Product, product_id, action)


def get_lot_for(actor: Actor, lot_id: int | str | None, action: str = "ledger.view") -> Lot:
    return _get(actor, Lot, lot_id, action, p="product")


def get_location_for(
    actor: Actor, location_id: int | str | None, action: str = "ledger.view"
) -> Location:
    return _get(actor, Location, location_id, action)


def get_entry_for(
    actor: Actor, entry_id: int | str | None, action: str = "ledger.view"
) -> LedgerEntry:
    return _get(
        actor,
        LedgerEntry,
        entry_id,
        action,
        p="product",
        l="lot",
        r="recorded_by",
        w="witness_requested",
        pa="patient",
    )


def get_loss_report_for(
    actor: Actor, report_id: int | str | None, action: str = "ledger.view"
) -> LossReport:
    return _get(actor, LossReport, report_id, action, e="entry__product")


def get_count_line_for(
    actor: Actor, line_id: int | str | None, action: str = "ledger.record"
) -> CountLine:
    actor.check(action)
    found = (
        CountLine.objects.select_related("session__location", "lot__product")
        .filter(session__clinic=actor.clinic, pk=_pk(line_id))
        .first()
    )
    if found is None:
        raise Http404("No such count line in this clinic.")
    return found
