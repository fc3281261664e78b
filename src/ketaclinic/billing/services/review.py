"""The biller's review of a proposed line: edit with a reason, approve, void."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.errors import StaleVersion
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.billing.models import (
    Charge,
    ChargeChange,
    ChargeStatus,
)
from ketaclinic.billing.numbers import ndc11
from ketaclinic.billing.services.proposing import CENT, fee_for, line_price

EDITABLE = ("code", "modifiers", "units", "ndc", "ndc_quantity", "diagnosis_pointers", "unit_price")


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _parse_edit(charge: Charge, field: str, raw: Any) -> Any:
    text = _as_text(raw).strip()
    if field == "code":
        code = text.upper()
        if not (len(code) == 5 and code.isalnum()):
            raise ValidationError({"code": "A CPT/HCPCS code has five letters or digits."})
        return code
    if field == "modifiers":
        mods = [m.strip().upper() for m in text.split(",") if m.strip()]
        if len(mods) > 4 or any(len(m) != 2 or not m.isalnum() for m in mods):
            raise ValidationError({"modifiers": "Up to four two-character modifiers."})
        return mods
    if field in ("ndc_quantity", "unit_price") and not text:
        return None
    if field in ("units", "ndc_quantity", "unit_price"):
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            raise ValidationError({field: "Enter a number."}) from None
        if not number.is_finite() or number < 0 or number > Decimal("99999"):
            raise ValidationError({field: "Enter a number from 0 to 99999."})
        # Rounded to what the column keeps before the check: 0.001 units would be stored
        # as 0.00 and break the table's "units > 0" constraint (a 500, not a 422).
        number = number.quantize(Decimal("0.001") if field == "ndc_quantity" else CENT)
        if field == "units" and number <= 0:
            raise ValidationError({field: "Units must be more than 0."})
        return number
    if field == "ndc":
        if not text:
            return ""
        found = ndc11(text)
        if found is None:
            raise ValidationError({"ndc": "Enter the NDC as 5-4-2 (11 digits) or with hyphens."})
        return found
    if field == "diagnosis_pointers":
        try:
            ptrs = [int(p) for p in text.split(",") if p.strip()]
        except ValueError:
            raise ValidationError({field: "Pointers are numbers, e.g. 1,2."}) from None
        if not ptrs or len(ptrs) > 4 or any(p < 1 or p > len(charge.diagnoses) for p in ptrs):
            raise ValidationError(
                {field: f"Choose 1 to 4 of the visit's {len(charge.diagnoses)} diagnoses."}
            )
        return ptrs
    raise ValidationError({"field": "This field cannot be edited."})


def _claimed(charge: Charge) -> bool:
    """On a claim that went out (sent or later) and was not denied."""
    return charge.claims.filter(status__in=["ready", "sent", "accepted", "paid"]).exists()


def edit_charge(
    *, actor: Actor, charge: Charge, changes: dict[str, Any], reason: str, version: int
) -> Charge:
    """Change a line with a reason; an approved or held line goes back to proposed for review.

    `version` is the line's version the biller loaded: when someone else saved the line
    since, StaleVersion is raised and nothing is written (no silent overwrite).
    """
    actor.check("billing.review")
    reason = (reason or "").replace("\x00", "").strip()[:300]
    if not reason:
        raise ValidationError({"reason": "Say why the line changes."})
    with transaction.atomic():
        locked = Charge.objects.select_for_update().get(pk=charge.pk)
        if locked.version != version:
            raise StaleVersion(
                f"Another biller changed this {locked.code or 'held'} line since you loaded it "
                f"(your version {version}, now {locked.version}). Reload it, check their "
                "change, and make yours again."
            )
        if locked.status == ChargeStatus.VOID or _claimed(locked):
            raise ValidationError({"charge": "This line is void or on a claim: correct the claim."})
        now = timezone.now()
        changed = []
        for field, raw in changes.items():
            if field not in EDITABLE:
                raise ValidationError({field: "This field cannot be edited."})
            new = _parse_edit(locked, field, raw)
            old = getattr(locked, field)
            if old == new or _as_text(old) == _as_text(new):
                continue
            setattr(locked, field, new)
            ChargeChange.objects.create(
                charge=locked,
                field=field,
                old_value=_as_text(old)[:200],
                new_value=_as_text(new)[:200],
                reason=reason,
                by=actor.user,
                at=now,
            )
            changed.append(field)
        if not changed:
            return locked
        if "code" in changed and "unit_price" not in changed:
            locked.unit_price = fee_for(
                locked.clinic, locked.code, locked.service_date, locked.coverage_id is None
            )
        if locked.ndc and not locked.ndc_unit:
            locked.ndc_unit = "ML"
        locked.price = line_price(locked.unit_price, locked.units)
        locked.status = ChargeStatus.PROPOSED
        locked.approved_by = None
        locked.approved_at = None
        locked.version += 1
        locked.save()
        record(
            actor,
            "charge_edit",
            patient_id=locked.patient_id,
            obj=locked,
            detail={"fields": changed},
        )
    return locked


def approve_charge(*, actor: Actor, charge: Charge) -> Charge:
    actor.check("billing.approve")
    with transaction.atomic():
        locked = Charge.objects.select_for_update().get(pk=charge.pk)
        if locked.status == ChargeStatus.HELD:
            raise ValidationError({"charge": f"Held for review: {locked.note}"})
        if locked.status != ChargeStatus.PROPOSED:
            raise ValidationError(
                {"charge": f"This line is {locked.get_status_display().lower()}."}
            )
        problems = locked.problems
        if problems:
            raise ValidationError({"charge": " ".join(problems)})
        locked.status = ChargeStatus.APPROVED
        locked.approved_by = actor.user
        locked.approved_at = timezone.now()
        locked.version += 1
        locked.save(update_fields=["status", "approved_by", "approved_at", "version"])
        record(actor, "charge_approve", patient_id=locked.patient_id, obj=locked)
    return locked


def void_charge(*, actor: Actor, charge: Charge, reason: str) -> Charge:
    actor.check("billing.review")
    reason = (reason or "").strip()[:300]
    if not reason:
        raise ValidationError({"reason": "Say why the line is void."})
    with transaction.atomic():
        locked = Charge.objects.select_for_update().get(pk=charge.pk)
        if locked.status == ChargeStatus.VOID or _claimed(locked) or locked.allocations.exists():
            raise ValidationError({"charge": "A claimed or paid line cannot be voided."})
        ChargeChange.objects.create(
            charge=locked,
            field="status",
            old_value=locked.status,
            new_value="void",
            reason=reason,
            by=actor.user,
            at=timezone.now(),
        )
        locked.status = ChargeStatus.VOID
        locked.version += 1
        locked.save(update_fields=["status", "version"])
        record(
            actor,
            "charge_edit",
            patient_id=locked.patient_id,
            obj=locked,
            detail={"fields": ["status"]},
        )
    return locked


def charges_for_visit(clinic: Clinic, appointment_id: int) -> QuerySet[Charge]:
    return (
        Charge.objects.for_clinic(clinic)
        .filter(appointment_id=appointment_id)
        .order_by("position", "pk")
    )
