"""Stock leaving or moving other than to a patient: destruction, returns, adjustments, corrections, transfers, losses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.inventory import rules
from ketaclinic.inventory.models import (
    Container,
    ContainerState,
    CountLine,
    Kind,
    LedgerEntry,
    Location,
    LossReport,
    Lot,
)

from .posting import (
    _aware,
    _check_clinic,
    _cosigned,
    _decimal,
    _draw,
    _lock_lot,
    _place,
    _post,
    _post_out,
    _quantity,
    _text,
)


def destroy(
    *,
    actor: Actor,
    request: HttpRequest,
    lot: Lot,
    quantity: Any,
    manner: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
    reason: str = "",
    location: Location | None = None,
) -> LedgerEntry:
    """Destroy expired or unwanted stock on site, two staff (21 CFR 1317.95(d))."""
    place, amount = _draw(actor, lot, location, quantity)
    manner = _text(manner, "manner", "Say how it was destroyed (rendered non-retrievable).")
    cosigner = _cosigned(
        actor=actor,
        request=request,
        witness=witness,
        witness_password=witness_password,
        witness_code=witness_code,
    )
    with transaction.atomic():
        return _post_out(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.DESTROY,
            quantity=amount,
            cosigner=cosigner,
            manner=manner,
            reason=(reason or "").strip(),
        )


def return_stock(
    *,
    actor: Actor,
    lot: Lot,
    quantity: Any,
    manner: str,
    location: Location | None = None,
) -> LedgerEntry:
    """Return stock to the supplier or a reverse distributor (manner names to whom)."""
    place, amount = _draw(actor, lot, location, quantity)
    manner = _text(manner, "manner", "Name the supplier or reverse distributor.")
    with transaction.atomic():
        return _post_out(
            actor=actor, lot=lot, location=place, kind=Kind.RETURN, quantity=amount, manner=manner
        )


def adjust(
    *,
    actor: Actor,
    request: HttpRequest,
    lot: Lot,
    delta: Any,
    reason: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
    location: Location | None = None,
    count_line: CountLine | None = None,
) -> LedgerEntry:
    """Correct a balance after a count, by a signed amount, with a reason and a co-signer."""
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    change = _decimal(delta, "delta")
    if change == 0:
        raise ValidationError({"delta": "An adjustment changes the balance."})
    amount = _quantity(lot.product, abs(change), field="delta")
    reason = _text(reason, "reason", "Give the reason for the adjustment.")
    cosigner = _cosigned(
        actor=actor,
        request=request,
        witness=witness,
        witness_password=witness_password,
        witness_code=witness_code,
    )
    with transaction.atomic():
        entry = _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.ADJUST,
            quantity=amount,
            sign=1 if change > 0 else -1,
            reason=reason,
            witness=cosigner,
            witnessed_at=timezone.now(),
        )
        if count_line is not None:
            _resolve_line(count_line, entry)
    return entry


_CORRECTED = "This entry has already been corrected."


def correct_entry(
    *,
    actor: Actor,
    request: HttpRequest,
    entry: LedgerEntry,
    reason: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
) -> LedgerEntry:
    """Reverse a mistaken entry with a new one of the same kind that references it.

    The original stays in the ledger; record the right entry afterwards. Co-signed,
    because a reversal puts stock back on the books.
    """
    actor.check("ledger.record")
    _check_clinic(actor, entry)
    if entry.corrects_id is not None:
        raise ValidationError("This entry is itself a correction; correct the original.")
    if entry.corrections.exists():
        raise ValidationError(_CORRECTED)
    if entry.kind == Kind.TRANSFER:
        raise ValidationError("Reverse a transfer by transferring back.")
    reason = _text(reason, "reason", "Say what was wrong.")
    cosigner = _cosigned(
        actor=actor,
        request=request,
        witness=witness,
        witness_password=witness_password,
        witness_code=witness_code,
    )
    try:
        with transaction.atomic():
            # Checked again under the lot lock: two corrections posted at once queue here,
            # and the second sees the first (the unique constraint is the last word).
            _lock_lot(entry.lot)
            if LedgerEntry.objects.filter(corrects=entry).exists():
                raise ValidationError(_CORRECTED)
            return _post(
                actor=actor,
                lot=entry.lot,
                location=entry.location,
                kind=entry.kind,
                quantity=entry.quantity,
                sign=-1 if entry.delta > 0 else 1,
                corrects=entry,
                reason=reason,
                patient_id=entry.patient_id,
                session_ref=entry.session_ref,
                witness=cosigner,
                witnessed_at=timezone.now(),
                audit_action="correct",
            )
    except IntegrityError:
        if LedgerEntry.objects.filter(corrects=entry).exists():
            raise ValidationError(_CORRECTED) from None
        raise


def transfer(
    *,
    actor: Actor,
    lot: Lot,
    from_location: Location,
    to_location: Location,
    containers: int,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move sealed containers between the clinic's locations: an entry out and one in."""
    actor.check("ledger.record")
    _check_clinic(actor, lot, from_location, to_location)
    if from_location.pk == to_location.pk:
        raise ValidationError({"to_location": "Choose a different location."})
    if not isinstance(containers, int) or containers < 1:
        raise ValidationError({"containers": "Move one or more sealed containers."})
    with transaction.atomic():
        locked = _lock_lot(lot)
        sealed = list(
            Container.objects.filter(
                lot=locked, location=from_location, state=ContainerState.SEALED
            ).order_by("seq")[:containers]
        )
        if len(sealed) < containers:
            raise ValidationError(
                {"containers": f"Only {len(sealed)} sealed containers are at {from_location.name}."}
            )
        quantity = lot.product.units_per_container * containers
        out = _post(
            actor=actor,
            lot=locked,
            location=from_location,
            kind=Kind.TRANSFER,
            quantity=quantity,
            sign=-1,
            follow_containers=False,
            containers=containers,
        )
        into = _post(
            actor=actor,
            lot=locked,
            location=to_location,
            kind=Kind.TRANSFER,
            quantity=quantity,
            sign=+1,
            follow_containers=False,
            containers=containers,
            counterpart=out,
        )
        Container.objects.filter(pk__in=[c.pk for c in sealed]).update(location=to_location)
    return out, into


def record_loss(
    *,
    actor: Actor,
    lot: Lot,
    quantity: Any,
    circumstances: str,
    discovered_on: date | None = None,
    theft_suspected: bool = False,
    location: Location | None = None,
    count_line: CountLine | None = None,
) -> LossReport:
    """Record a theft or significant loss and open its DEA report with the due dates."""
    place, amount = _draw(actor, lot, location, quantity)
    circumstances = _text(
        circumstances, "circumstances", "Describe what happened and how it was found."
    )
    today = actor.clinic.today()
    discovered_on = discovered_on or today
    if discovered_on > today:
        raise ValidationError({"discovered_on": "The discovery date is in the future."})
    notice_due, form_due = rules.loss_deadlines(discovered_on)
    with transaction.atomic():
        entry = _post_out(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.LOSS,
            quantity=amount,
            reason=circumstances,
        )
        report = LossReport.objects.create(
            clinic=actor.clinic,
            entry=entry,
            discovered_on=discovered_on,
            notice_due=notice_due,
            form106_due=form_due,
            circumstances=circumstances,
            theft_suspected=theft_suspected,
        )
        record(actor, "create", obj=report, detail={"entry": entry.pk})
        if count_line is not None:
            _resolve_line(count_line, entry)
    return report


def mark_loss_notice_sent(
    *, actor: Actor, report: LossReport, sent_at: datetime | None = None
) -> LossReport:
    """Note that the written notice went to the DEA Field Division Office."""
    actor.check("loss.record")
    _check_clinic(actor, report)
    if report.notice_sent_at is not None:
        raise ValidationError("The written notice is already marked as sent.")
    return _fill_once(
        actor,
        report,
        "The written notice is already marked as sent.",
        ["notice_sent_at"],
        notice_sent_at=_aware(sent_at),
        notice_sent_by=actor.user,
    )


def mark_loss_filed(
    *, actor: Actor, report: LossReport, reference: str, filed_at: datetime | None = None
) -> LossReport:
    """Note that DEA Form 106 was filed, with its reference."""
    actor.check("loss.record")
    _check_clinic(actor, report)
    if report.filed_at is not None:
        raise ValidationError("Form 106 is already marked as filed.")
    reference = _text(reference, "reference", "Give the Form 106 reference.")
    return _fill_once(
        actor,
        report,
        "Form 106 is already marked as filed.",
        ["filed_at", "filed_reference"],
        filed_at=_aware(filed_at),
        filed_by=actor.user,
        filed_reference=reference,
    )


def _fill_once(
    actor: Actor, report: LossReport, already: str, audited: list[str], **values: Any
) -> LossReport:
    """Fill a loss report's empty fields once, from empty (it is append-only otherwise).

    The first of ``values`` must still be empty, else ``already`` is the error; the
    audit event names the ``audited`` fields.
    """
    first = next(iter(values))
    with transaction.atomic():
        if not LossReport.objects.filter(pk=report.pk, **{f"{first}__isnull": True}).update(
            **values
        ):
            raise ValidationError(already)
        record(actor, "update", obj=report, detail={"fields": audited})
    for name, value in values.items():
        setattr(report, name, value)
    return report


def _resolve_line(line: CountLine, entry: LedgerEntry) -> None:
    updated = CountLine.objects.filter(pk=line.pk, resolved_by__isnull=True).update(
        resolved_by=entry, resolved_at=timezone.now()
    )
    if not updated:
        raise ValidationError("This discrepancy has already been resolved.")
