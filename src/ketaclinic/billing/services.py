"""Charges from signed visits, the biller's review, claims, payments and balances.

Every write checks the actor's permission, runs in one transaction (a refused write leaves
the database as it was) and writes an audit event; reads of billing data are audited by
the pages and API that show them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.billing import coding
from ketaclinic.billing.models import (
    CLAIM_NEXT,
    Allocation,
    Charge,
    ChargeChange,
    ChargeStatus,
    Claim,
    Coverage,
    Fee,
    FeeSchedule,
    Payer,
    Payment,
    PaymentSource,
)
from ketaclinic.billing.numbers import ndc11
from ketaclinic.integration.models import ProgressNote
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Condition, Patient
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import InfusionChange, TreatmentSession

log = logging.getLogger(__name__)
CENT = Decimal("0.01")


# --- facts from the record -----------------------------------------------------------


def primary_coverage(patient: Patient | int, clinic: Clinic) -> Coverage | None:
    pid = patient if isinstance(patient, int) else patient.pk
    return (
        Coverage.objects.for_clinic(clinic)
        .filter(patient_id=pid, is_active=True, payer__is_active=True)
        .select_related("payer")
        .order_by("priority", "pk")
        .first()
    )


def _infusion_minutes(session: TreatmentSession) -> int:
    pauses: list[tuple[Any, Any]] = []
    opened = None
    for change in InfusionChange.objects.filter(session=session).order_by("at", "pk"):
        if change.kind == "pause" and opened is None:
            opened = change.at
        elif change.kind == "resume" and opened is not None:
            pauses.append((opened, change.at))
            opened = None
    if opened is not None:
        pauses.append((opened, None))
    return coding.minutes_between(session.dose_started_at, session.dose_ended_at, pauses)


def is_signed_visit(appointment: Appointment) -> bool:
    """A treatment session signed by the nurse, a signed progress note, a completed consultation."""
    if appointment.kind == "treatment":
        return TreatmentSession.objects.filter(
            appointment=appointment, nurse_signed_at__isnull=False
        ).exists()
    if appointment.kind in ("integration", "preparation"):
        return ProgressNote.objects.filter(
            appointment=appointment, signed_at__isnull=False
        ).exists()
    return appointment.kind == "consultation" and appointment.status == "completed"


def visit_facts(appointment: Appointment, coverage: Coverage | None) -> coding.VisitFacts:
    clinic = appointment.clinic
    day = timezone.localdate(appointment.start, timezone=clinic.tz)
    conditions = Condition.objects.filter(
        patient_id=appointment.patient_id, is_active=True
    ).order_by("recorded_at", "pk")
    icd10 = coding.diagnosis_codes([c.icd10cm for c in conditions])
    start = datetime.combine(day, time.min, tzinfo=clinic.tz)
    instruments = tuple(
        sorted(
            set(
                Response.objects.filter(
                    patient_id=appointment.patient_id,
                    taken_at__gte=start,
                    taken_at__lt=start + timedelta(days=1),
                ).values_list("instrument", flat=True)
            )
        )
    )
    # 96127 once a day: not again on a second visit the same day that already carries it.
    code96127 = coding.rules()["instruments"]["code"]
    if (
        Charge.objects.filter(patient_id=appointment.patient_id, service_date=day, code=code96127)
        .exclude(appointment=appointment)
        .exclude(status=ChargeStatus.VOID)
        .exists()
    ):
        instruments = ()
    facts: dict[str, Any] = {
        "kind": appointment.kind,
        "service_date": day,
        "payer_kind": coverage.payer.kind if coverage else "self_pay",
        "instruments": instruments,
        "icd10": icd10,
        "companion_codes": tuple(coverage.payer.esketamine_companion_codes) if coverage else (),
    }
    if appointment.kind == "treatment":
        session = (
            TreatmentSession.objects.filter(appointment=appointment)
            .select_related("administration__ledger_lot__product")
            .first()
        )
        if session is not None:
            admin = getattr(session, "administration", None)
            mg = None
            if session.is_esketamine:
                total = session.devices.aggregate(s=Sum("mg"))["s"]
                mg = Decimal(total) if total else None
            if mg is None and admin is not None:
                mg = admin.total_given_mg or admin.dose_mg
            ndc = ""
            if admin is not None and admin.ledger_lot_id:
                ndc = ndc11(admin.ledger_lot.product.ndc) or ""
            facts.update(
                drug=session.drug,
                route=session.route,
                dose_mg=mg,
                infusion_minutes=_infusion_minutes(session) if session.route == "iv" else None,
                ml_given=(admin.given if admin is not None and admin.unit == "mL" else None),
                ndc=ndc,
            )
    elif appointment.kind in ("integration", "preparation"):
        # The documented session time: the appointment's start to end (issue 20: the
        # progress note has no minutes field of its own yet).
        facts["psychotherapy_minutes"] = int(
            (appointment.end - appointment.start).total_seconds() // 60
        )
    return coding.VisitFacts(**facts)


def fee_for(clinic: Clinic, code: str, on: date, self_pay: bool) -> Decimal | None:
    schedule = FeeSchedule.SELF_PAY if self_pay else FeeSchedule.STANDARD
    fee = (
        Fee.objects.for_clinic(clinic)
        .filter(schedule=schedule, code=code, effective_from__lte=on)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .order_by("-effective_from", "-pk")
        .first()
    )
    return fee.price if fee else None


def _price(unit_price: Decimal | None, units: Decimal) -> Decimal | None:
    return None if unit_price is None else (unit_price * units).quantize(CENT)


def propose_for_appointment(appointment: Appointment) -> list[Charge]:
    """Propose the visit's charge lines (once: a visit with charges is left alone)."""
    with transaction.atomic():
        locked = (
            Appointment.objects.select_for_update().select_related("clinic").get(pk=appointment.pk)
        )
        if Charge.objects.filter(appointment=locked).exists() or not is_signed_visit(locked):
            return []
        coverage = primary_coverage(locked.patient_id, locked.clinic)
        facts = visit_facts(locked, coverage)
        now = timezone.now()
        made = []
        for position, line in enumerate(coding.propose(facts), start=1):
            unit_price = fee_for(locked.clinic, line.code, facts.service_date, coverage is None)
            made.append(
                Charge.objects.create(
                    clinic=locked.clinic,
                    patient_id=locked.patient_id,
                    appointment=locked,
                    provider=locked.staff,
                    coverage=coverage,
                    service_date=facts.service_date,
                    position=position,
                    code=line.code,
                    modifiers=line.modifiers,
                    units=line.units,
                    ndc=line.ndc,
                    ndc_unit=line.ndc_unit if line.ndc else "",
                    ndc_quantity=line.ndc_quantity if line.ndc else None,
                    description=line.description,
                    diagnoses=list(facts.icd10),
                    diagnosis_pointers=line.pointers,
                    unit_price=unit_price,
                    price=_price(unit_price, line.units),
                    rule=line.rule,
                    rule_source=line.source,
                    rules_version=coding.rules()["version"],
                    note=line.note[:200],
                    proposed_at=now,
                )
            )
        return made


def on_session_signed(actor: Actor, session: TreatmentSession) -> None:
    """treatment/hooks.py: propose the charges of a session the nurse just signed.

    Runs in a savepoint: a billing problem (no fee schedule yet) never stops a signature;
    the worker's sweep (propose_missing) tries again.
    """
    try:
        with transaction.atomic():
            propose_for_appointment(session.appointment)
    except Exception:  # noqa: BLE001 - logged with the id only, retried by the worker
        log.exception("billing: could not propose charges for session %s", session.pk)


def propose_missing(now: Any = None, days: int = 60) -> int:
    """Worker job: charges for signed visits of the last `days` days that have none."""
    since = timezone.now() - timedelta(days=days)
    billed = Charge.objects.values("appointment_id")
    candidates = (
        Appointment.objects.filter(start__gte=since)
        .exclude(pk__in=billed)
        .filter(
            Q(kind="treatment", treatment_session__nurse_signed_at__isnull=False)
            | Q(kind="consultation", status="completed")
            | Q(
                kind__in=["integration", "preparation"],
                pk__in=ProgressNote.objects.filter(
                    signed_at__isnull=False, appointment__isnull=False
                ).values("appointment_id"),
            )
        )
        .order_by("start")
    )
    made = 0
    for appointment in candidates[:500]:
        made += len(propose_for_appointment(appointment)) and 1
    return made


# --- review -----------------------------------------------------------------------------

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


def edit_charge(*, actor: Actor, charge: Charge, changes: dict[str, Any], reason: str) -> Charge:
    """Change a line with a reason; an approved line goes back to proposed for review."""
    actor.check("billing.review")
    reason = (reason or "").replace("\x00", "").strip()[:300]
    if not reason:
        raise ValidationError({"reason": "Say why the line changes."})
    with transaction.atomic():
        locked = Charge.objects.select_for_update().get(pk=charge.pk)
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
        locked.price = _price(locked.unit_price, locked.units)
        locked.status = ChargeStatus.PROPOSED
        locked.approved_by = None
        locked.approved_at = None
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
        locked.save(update_fields=["status", "approved_by", "approved_at"])
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
        locked.save(update_fields=["status"])
        record(
            actor,
            "charge_edit",
            patient_id=locked.patient_id,
            obj=locked,
            detail={"fields": ["status"]},
        )
    return locked


# --- claims --------------------------------------------------------------------------


def create_claim(*, actor: Actor, charge_ids: list[int]) -> Claim:
    """A draft claim of approved lines of one patient and one coverage, not already claimed."""
    actor.check("billing.claim")
    ids = sorted({int(i) for i in charge_ids})
    if not ids or len(ids) > 50:
        raise ValidationError({"charges": "Choose 1 to 50 approved charge lines."})
    with transaction.atomic():
        charges = list(
            Charge.objects.for_clinic(actor.clinic).select_for_update().filter(pk__in=ids)
        )
        if len(charges) != len(ids):
            raise ValidationError({"charges": "Some of these lines are not in this clinic."})
        if any(c.status != ChargeStatus.APPROVED for c in charges):
            raise ValidationError({"charges": "Only approved lines can be claimed."})
        if len({c.patient_id for c in charges}) != 1:
            raise ValidationError({"charges": "A claim is for one patient."})
        if (
            any(c.coverage_id is None for c in charges)
            or len({c.coverage_id for c in charges}) != 1
        ):
            raise ValidationError(
                {"charges": "Self-pay lines get a superbill, not a claim; one coverage per claim."}
            )
        if any(c.claims.exclude(status="denied").exists() for c in charges):
            raise ValidationError({"charges": "A line is already on a claim."})
        claim = Claim.objects.create(
            clinic=actor.clinic,
            patient_id=charges[0].patient_id,
            coverage_id=charges[0].coverage_id,
            total=sum((c.price or Decimal(0) for c in charges), Decimal(0)),
            created_by=actor.user,
            created_at=timezone.now(),
        )
        claim.charges.set(charges)
        record(actor, "claim_create", patient_id=claim.patient_id, obj=claim)
    return claim


def set_claim_status(
    *, actor: Actor, claim: Claim, status: str, note: str = "", payer_claim_number: str = ""
) -> Claim:
    actor.check("billing.claim")
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if status not in CLAIM_NEXT.get(locked.status, ()):
            raise ValidationError(
                {"status": f"A {locked.status} claim cannot become {status or 'nothing'}."}
            )
        locked.status = status
        locked.status_note = (note or "").strip()[:300]
        if payer_claim_number.strip():
            locked.payer_claim_number = payer_claim_number.strip()[:50]
        if status == "sent":
            locked.sent_at = timezone.now()
        locked.save()
        record(
            actor,
            "claim_status",
            patient_id=locked.patient_id,
            obj=locked,
            detail={"status": status},
        )
    return locked


def correct_claim(*, actor: Actor, claim: Claim, frequency_code: str) -> Claim:
    """A replacement (7) or void (8) of a claim the payer has: a new claim of the same lines."""
    actor.check("billing.claim")
    if frequency_code not in ("7", "8"):
        raise ValidationError({"frequency_code": "7 replaces the claim, 8 voids it."})
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if locked.status not in ("sent", "accepted", "denied", "paid"):
            raise ValidationError({"claim": "Only a claim the payer has can be corrected."})
        if locked.corrections.exists():
            raise ValidationError({"claim": "This claim is already corrected."})
        charges = list(locked.charges.exclude(status=ChargeStatus.VOID))
        new = Claim.objects.create(
            clinic=locked.clinic,
            patient_id=locked.patient_id,
            coverage_id=locked.coverage_id,
            frequency_code=frequency_code,
            replaces=locked,
            payer_claim_number=locked.payer_claim_number,
            total=sum((c.price or Decimal(0) for c in charges), Decimal(0)),
            created_by=actor.user,
            created_at=timezone.now(),
        )
        new.charges.set(charges)
        record(
            actor,
            "claim_create",
            patient_id=new.patient_id,
            obj=new,
            detail={"replaces": locked.pk, "frequency_code": frequency_code},
        )
    return new


# --- payments and balances -------------------------------------------------------------


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
    out = []
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
    today = timezone.localdate(timezone=actor.clinic.tz)
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
    today = today or timezone.localdate(timezone=clinic.tz)
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
                "payer": charge.coverage.payer.name if charge.coverage_id else "Self-pay",
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


def charges_for_visit(clinic: Clinic, appointment_id: int) -> QuerySet[Charge]:
    return (
        Charge.objects.for_clinic(clinic)
        .filter(appointment_id=appointment_id)
        .order_by("position", "pk")
    )
