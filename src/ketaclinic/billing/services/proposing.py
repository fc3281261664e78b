"""Charge lines proposed from a signed visit's record (the rules are billing/coding.py).

A visit is proposed once: a visit that already has lines is left alone. Treatment
signatures call `on_session_signed`; the worker's `propose_missing` sweeps up the rest.
Neither proposes a visit before the billing profile's `bills_from` day (history billed in
the clinic's previous system); the biller can still propose one from the visit's page.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.billing import coding
from ketaclinic.billing.models import (
    BillingProfile,
    Charge,
    ChargeStatus,
    Coverage,
    Fee,
    FeeSchedule,
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


def before_billing_starts(appointment: Appointment) -> bool:
    """Whether the visit's day is before the clinic's billing profile's `bills_from`."""
    first_day = (
        BillingProfile.objects.filter(clinic_id=appointment.clinic_id)
        .values_list("bills_from", flat=True)
        .first()
    )
    return first_day is not None and first_day > timezone.localdate(
        appointment.start, timezone=appointment.clinic.tz
    )


def _billed_elsewhere() -> Q | None:
    """Appointments before their clinic's `bills_from` day, for the worker's sweep."""
    before = Q()
    for profile in BillingProfile.objects.filter(bills_from__isnull=False).select_related("clinic"):
        if profile.bills_from is not None:  # always, by the filter; for the type checker
            first = datetime.combine(profile.bills_from, time.min, tzinfo=profile.clinic.tz)
            before |= Q(clinic_id=profile.clinic_id, start__lt=first)
    return before or None


def documented_minutes(appointment: Appointment) -> int | None:
    """The psychotherapy minutes of the visit's latest signed progress note that has them.

    Never the booked length: a session booked for an hour may have held 40 minutes of
    psychotherapy, and the code must follow what the therapist documented.
    """
    return (
        ProgressNote.objects.filter(
            appointment=appointment, signed_at__isnull=False, psychotherapy_minutes__isnull=False
        )
        .order_by("-signed_at", "-pk")
        .values_list("psychotherapy_minutes", flat=True)
        .first()
    )


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
        facts["psychotherapy_minutes"] = documented_minutes(appointment)
    elif appointment.kind == "consultation":
        facts["provider_role"] = appointment.staff.role if appointment.staff else ""
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


def line_price(unit_price: Decimal | None, units: Decimal) -> Decimal | None:
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
                    price=line_price(unit_price, line.units),
                    rule=line.rule,
                    rule_source=line.source,
                    rules_version=coding.rules()["version"],
                    note=line.note[:200],
                    status=ChargeStatus.HELD if line.held else ChargeStatus.PROPOSED,
                    proposed_at=now,
                )
            )
        return made


def on_session_signed(actor: Actor, session: TreatmentSession) -> None:
    """treatment/hooks.py: propose the charges of a session the nurse just signed.

    Runs in a savepoint: a billing problem (no fee schedule yet) never stops a signature;
    the worker's sweep (propose_missing) tries again.
    """
    if before_billing_starts(session.appointment):
        return
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
    # Left out in SQL, not one by one: 500 old visits would otherwise fill every sweep.
    billed_elsewhere = _billed_elsewhere()
    if billed_elsewhere is not None:
        candidates = candidates.exclude(billed_elsewhere)
    made = 0
    for appointment in candidates[:500]:
        made += len(propose_for_appointment(appointment)) and 1
    return made
