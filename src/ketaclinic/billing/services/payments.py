"""Payments applied to a patient's open lines, balances and the aging report."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.billing.models import (
    Allocation,
    Charge,
    ChargeStatus,
    Claim,
    Payer,
    Payment,
    PaymentSource,
)
from ketaclinic.billing.services.proposing import CENT
from ketaclinic.patients.models import Patient


def charge_paid(charge: Charge) -> Decimal:
    got = charge.allocations.aggregate(a=Sum("amount"), j=Sum("adjustment"))
    return (got["a"] or Decimal(0)) + (got["j"] or Decimal(0))


def open_charges(clinic: Clinic, patient_id: int) -> list[tuple[Charge, Decimal]]:
    """Approved lines with something left to pay, oldest first, with what is left."""
    rows = (
        Charge.objects.for_clinic(clinic)
        .filter(patient_id=patient_id, status=ChargeStatus.APPROVED)
        .annotate(paid=Sum("allocations__amount"), adj=Sum("allocations__adjustment"))
        .order_by("service_date", "pk")
    )
    out: list[tuple[Charge, Decimal]] = []
    for charge in rows:
        left = (charge.price or Decimal(0)) - (charge.paid or 0) - (charge.adj or 0)
        if left > 0:
            out.append((charge, left))
    return out


def record_payment(
    *,
    actor: Actor,
    patient: Patient,
    amount: Any,
    source: str = PaymentSource.PATIENT,
    payer: Payer | None = None,
    method: str = "card",
    reference: str = "",
    received_on: date | None = None,
    charge_ids: list[int] | None = None,
    claim: Claim | None = None,
    adjustment: Any = 0,
) -> Payment:
    """A payment applied to the patient's open lines (the given ones first, oldest first)."""
    actor.check("billing.payment")
    try:
        money = Decimal(str(amount)).quantize(CENT)
        adjust = Decimal(str(adjustment or 0)).quantize(CENT)
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": "Enter an amount such as 120.00."}) from None
    if not money.is_finite() or money <= 0 or money > Decimal("100000"):
        raise ValidationError({"amount": "Enter an amount above 0 and up to 100000."})
    if adjust < 0 or adjust > Decimal("100000"):
        raise ValidationError({"adjustment": "Enter an adjustment from 0 to 100000."})
    if source not in PaymentSource.values:
        raise ValidationError({"source": "Patient or payer."})
    if source == PaymentSource.PAYER and payer is None:
        raise ValidationError({"payer": "Choose the payer that paid."})
    method = (method or "card").strip()[:20]
    if method not in ("card", "cash", "check", "eft", "era"):
        raise ValidationError({"method": "Card, cash, check, EFT or ERA."})
    today = actor.clinic.today()
    received_on = received_on or today
    if received_on > today:
        raise ValidationError({"received_on": "A payment cannot be received in the future."})
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)
        payment = Payment.objects.create(
            clinic=actor.clinic,
            patient=patient,
            source=source,
            payer=payer,
            claim=claim,
            amount=money,
            adjustment=adjust,
            method=method,
            reference=(reference or "").replace("\x00", "").strip()[:50],
            received_on=received_on,
            recorded_by=actor.user,
            recorded_at=timezone.now(),
        )
        lines = open_charges(actor.clinic, patient.pk)
        if charge_ids:
            wanted = {int(i) for i in charge_ids}
            lines = [x for x in lines if x[0].pk in wanted] + [
                x for x in lines if x[0].pk not in wanted
            ]
        money_left, adjust_left = money, adjust
        for charge, left in lines:
            if money_left <= 0 and adjust_left <= 0:
                break
            adj = min(adjust_left, left)
            pay = min(money_left, left - adj)
            if pay <= 0 and adj <= 0:
                continue
            Allocation.objects.create(payment=payment, charge=charge, amount=pay, adjustment=adj)
            money_left -= pay
            adjust_left -= adj
        record(
            actor, "payment_record", patient_id=patient.pk, obj=payment, detail={"source": source}
        )
    return payment


@dataclass
class Balance:
    charged: Decimal
    paid: Decimal
    adjusted: Decimal

    @property
    def balance(self) -> Decimal:
        return self.charged - self.paid - self.adjusted


def balance_of(clinic: Clinic, patient_id: int) -> Balance:
    charged = Charge.objects.for_clinic(clinic).filter(
        patient_id=patient_id, status=ChargeStatus.APPROVED
    ).aggregate(s=Sum("price"))["s"] or Decimal(0)
    got = (
        Payment.objects.for_clinic(clinic)
        .filter(patient_id=patient_id)
        .aggregate(a=Sum("amount"), j=Sum("adjustment"))
    )
    return Balance(
        charged=Decimal(charged).quantize(CENT),
        paid=Decimal(got["a"] or 0).quantize(CENT),
        adjusted=Decimal(got["j"] or 0).quantize(CENT),
    )


AGING_BUCKETS = ((0, 30, "0–30"), (31, 60, "31–60"), (61, 90, "61–90"), (91, None, "91+"))


def aging(clinic: Clinic, today: date | None = None) -> list[dict[str, Any]]:
    """What is owed per patient, by days since the service date (0-30, 31-60, 61-90, 91+)."""
    today = today or clinic.today()
    rows = (
        Charge.objects.for_clinic(clinic)
        .filter(status=ChargeStatus.APPROVED)
        .annotate(paid=Sum("allocations__amount"), adj=Sum("allocations__adjustment"))
        .select_related("patient", "coverage__payer")
    )
    per: dict[int, dict[str, Any]] = {}
    for charge in rows:
        left = (charge.price or Decimal(0)) - (charge.paid or 0) - (charge.adj or 0)
        if left <= 0:
            continue
        entry = per.setdefault(
            charge.patient_id,
            {
                "patient": charge.patient,
                "buckets": defaultdict(Decimal),
                "total": Decimal(0),
                "payer": charge.coverage.payer.name if charge.coverage else "Self-pay",
            },
        )
        age = (today - charge.service_date).days
        for lo, hi, label in AGING_BUCKETS:
            if age >= lo and (hi is None or age <= hi):
                entry["buckets"][label] += left
        entry["total"] += left
    out = sorted(per.values(), key=lambda e: (-e["total"], e["patient"].family_name))
    for entry in out:
        entry["cells"] = [entry["buckets"].get(label, Decimal(0)) for *_x, label in AGING_BUCKETS]
    return out
