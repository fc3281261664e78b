"""Inventory counts, resolving their discrepancies, and the reminders when one is due."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.roles import may
from ketaclinic.audit.services import record
from ketaclinic.inventory import rules
from ketaclinic.inventory.models import (
    CountKind,
    CountLine,
    CountSession,
    CountTiming,
    InventorySettings,
    LedgerEntry,
    Location,
    Unit,
)

from .corrections import adjust, record_loss
from .posting import _aware, _check_clinic, _decimal
from .stock import QUANT, ZERO, balances, clinic_date, settings_for

# ---------------------------------------------------------------- counts and inventories


def record_count(
    *,
    actor: Actor,
    location: Location,
    timing: str,
    lines: list[dict[str, Any]],
    kind: str = CountKind.COUNT,
    note: str = "",
    counted_at: datetime | None = None,
) -> CountSession:
    """Record a physical count of a location; each line is compared with the ledger.

    `lines`: {"lot": Lot, "counted": quantity, "estimated": bool, "sealed_containers": int}.
    A complete or initial inventory must list every lot with stock at the location.
    """
    actor.check("ledger.record")
    _check_clinic(actor, location)
    if timing not in CountTiming.values:
        raise ValidationError({"timing": "Opening or close of business."})
    if kind not in CountKind.values:
        raise ValidationError({"kind": "Routine count, initial or complete inventory."})
    seen: set[int] = set()
    parsed = []
    for index, line in enumerate(lines):
        lot = line["lot"]
        _check_clinic(actor, lot)
        if lot.pk in seen:
            raise ValidationError({f"lines.{index}.lot": "This lot is listed twice."})
        seen.add(lot.pk)
        counted = _decimal(line.get("counted"), f"lines.{index}.counted")
        if counted < 0:
            raise ValidationError({f"lines.{index}.counted": "A count cannot be negative."})
        estimated = bool(line.get("estimated"))
        if lot.product.unit == Unit.DEVICE and counted != counted.to_integral_value():
            raise ValidationError({f"lines.{index}.counted": "Count whole devices."})
        parsed.append((lot, counted.quantize(QUANT), estimated, line.get("sealed_containers")))
    with transaction.atomic():
        on_hand = {b.lot.pk: b for b in balances(actor.clinic) if b.location.pk == location.pk}
        if kind in (CountKind.INITIAL, CountKind.INVENTORY):
            missing = sorted(set(on_hand) - seen)
            if missing:
                raise ValidationError(
                    {
                        "lines": "A complete inventory counts every lot on hand: "
                        + ", ".join(on_hand[m].lot.number for m in missing)
                        + " missing."
                    }
                )
        session = CountSession.objects.create(
            clinic=actor.clinic,
            location=location,
            kind=kind,
            timing=timing,
            counted_by=actor.user,
            counted_at=_aware(counted_at),
            note=(note or "").strip(),
        )
        CountLine.objects.bulk_create(
            CountLine(
                session=session,
                lot=lot,
                counted=counted,
                ledger_balance=on_hand[lot.pk].quantity if lot.pk in on_hand else ZERO,
                estimated=estimated,
                sealed_containers=sealed,
            )
            for lot, counted, estimated, sealed in parsed
        )
        record(
            actor,
            "create",
            obj=session,
            detail={"kind": kind, "lines": len(parsed), "location": location.pk},
        )
    return session


def resolve_discrepancy(
    *,
    actor: Actor,
    request: HttpRequest,
    line: CountLine,
    resolution: str,
    reason: str,
    witness: str = "",
    witness_password: str = "",
    witness_code: str = "",
    theft_suspected: bool = False,
) -> LedgerEntry:
    """Resolve a count's discrepancy: an `adjust` (co-signed) or escalate a shortfall to `loss`."""
    actor.check("ledger.record")
    session = line.session
    _check_clinic(actor, session)
    if line.resolved_by_id is not None:
        raise ValidationError("This discrepancy has already been resolved.")
    difference = line.discrepancy
    if difference == 0:
        raise ValidationError("The count matched the ledger: nothing to resolve.")
    if resolution == "adjust":
        return adjust(
            actor=actor,
            request=request,
            lot=line.lot,
            delta=difference,
            reason=reason,
            witness=witness,
            witness_password=witness_password,
            witness_code=witness_code,
            location=session.location,
            count_line=line,
        )
    if resolution == "loss":
        if difference > 0:
            raise ValidationError({"resolution": "More was counted than the ledger holds: adjust."})
        report = record_loss(
            actor=actor,
            lot=line.lot,
            quantity=-difference,
            circumstances=reason,
            # The clinic's date of the count: an evening count in New York is already
            # tomorrow in UTC, and tomorrow would be refused as a future discovery.
            discovered_on=clinic_date(actor.clinic, session.counted_at),
            theft_suspected=theft_suspected,
            location=session.location,
            count_line=line,
        )
        return report.entry
    raise ValidationError({"resolution": "Adjust or loss."})


def last_inventories(clinic: Clinic) -> dict[int, date]:
    """Each location's latest initial or complete inventory date (clinic time zone)."""
    rows = (
        CountSession.objects.for_clinic(clinic)
        .filter(kind__in=[CountKind.INITIAL, CountKind.INVENTORY])
        .values("location_id")
        .annotate(at=Max("counted_at"))
        .values_list("location_id", "at")
    )
    return {location_id: clinic_date(clinic, at) for location_id, at in rows}


def inventory_due(clinic: Clinic, today: date | None = None) -> rules.InventoryDue:
    """Whether an initial or complete inventory is due at any of the clinic's active
    locations, and which (for the page banner and the reminder)."""
    config = settings_for(clinic)
    locations = list(
        Location.objects.for_clinic(clinic)
        .filter(is_active=True)
        .order_by("name")
        .values_list("pk", "name")
    )
    return rules.clinic_inventory_due(
        locations=locations,
        last_on=last_inventories(clinic),
        today=today or clinic.today(),
        interval_months=config.inventory_interval_months,
        remind_days=config.remind_days_before,
    )


def _reminder_text(due: rules.InventoryDue) -> str:
    if not due.places:
        return "No initial controlled-substance inventory is on record. Take it today."
    lines = ["A controlled-substance inventory is due:"]
    for place in due.places:
        state = place.due
        if state.state == "initial":
            lines.append(f"- {place.name}: no initial inventory is on record. Take it today.")
        else:
            lines.append(
                f"- {place.name}: the complete inventory is {state.state}, due "
                f"{state.due_on:%Y-%m-%d} (last {state.last_on:%Y-%m-%d})."
            )
    return "\n".join(lines)


def send_inventory_reminders(today: date | None = None) -> int:
    """E-mail each clinic's ledger staff when an inventory is due; once a week at most.

    A clinic with no ledger entries yet is reminded too: its initial inventory (zero if
    nothing is on hand) is due before the first receipt. `today` defaults to each
    clinic's own date. Returns the number of clinics reminded. For the worker (daily).
    """
    from django.core.mail import send_mail

    sent = 0
    for clinic in Clinic.objects.all():
        day = today or clinic.today()
        due = inventory_due(clinic, day)
        if not due.needs_attention:
            continue
        config = settings_for(clinic)
        if config.last_reminder_sent_on and (day - config.last_reminder_sent_on).days < 7:
            continue
        recipients = sorted(
            m.user.email
            for m in Membership.objects.active().select_related("user").filter(clinic=clinic)
            if m.user.email and (may(m.role, "ledger.record") or may(m.role, "ledger.report"))
        )
        if not recipients:
            continue
        send_mail(
            f"{clinic.name}: controlled-substance inventory due",
            _reminder_text(due),
            None,
            recipients,
        )
        InventorySettings.objects.filter(pk=config.pk).update(last_reminder_sent_on=day)
        sent += 1
    return sent
