"""The dose: prefilling it from the protocol, beginning, device doses, infusion changes, ending."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.dosing import DoseError, DoseResult, calculate_dose
from ketaclinic.clinical.monitoring import device_spacing_warnings
from ketaclinic.clinical.protocols import FixedDose, Protocol
from ketaclinic.patients.changes import patient_changed
from ketaclinic.scheduling import services as scheduling
from ketaclinic.treatment.models import (
    Administration,
    DeviceDose,
    InfusionChange,
    State,
    TreatmentSession,
)

from .checklist import blocking_items, refresh_checklist
from .ledger import ledger_in_use, ledger_substance, post_to_ledger
from .state import (
    SessionConflict,
    _aware,
    _claim,
    _decimal,
    _event,
    _require_state,
    _save,
    _transition,
    session_protocol,
)

# --- administration ------------------------------------------------------------------------


def prefill_dose(session: TreatmentSession, protocol: Protocol | None = None) -> DoseResult | None:
    """The dose from the course's current order and the patient's weight, or None if it cannot."""
    protocol = protocol or session_protocol(session)
    order = scheduling.current_order(session.course)
    if order is None:
        return None
    patient = session.patient
    try:
        return calculate_dose(
            protocol,
            weight_kg=patient.weight_kg,
            height_cm=patient.height_cm,
            sex_at_birth=patient.sex_at_birth,
            dose_mg_per_kg=order.dose_mg_per_kg,
            dose_mg=order.dose_mg,
            weight_basis=order.weight_basis or None,
            weight_measured_on=patient.weight_measured_on,
            today=session.clinic.today(),
        )
    except DoseError:
        return None


def begin_dosing(
    *,
    actor: Actor,
    session: TreatmentSession,
    product: str,
    lot_number: str,
    dose_mg: Any = None,
    concentration_mg_per_ml: Any = None,
    started_at: datetime | None = None,
    ledger_lot: Any = None,
    expected_version: int | None,
) -> Administration:
    """Record what is given and start dosing (IV: the infusion starts now).

    Refused while a hard-stop checklist item is failed or unchecked and not overridden
    (SessionConflict with `blocking`). The dose defaults to the course's order on
    today's weight (the dose calculator); a different dose must still pass the
    calculator's limits. Once the clinic keeps the drug in the controlled-substance
    ledger (some lot of it has stock), the dose must come from a ledger lot that has
    not expired; a free-text lot is for a clinic that does not use the ledger.
    """
    actor.check("dose.record")
    protocol = session_protocol(session)
    now = timezone.now()
    started = _aware(started_at, "started_at", now=now)
    product = (product or "").strip()
    lot_number = (lot_number or "").strip()
    substance = ledger_substance(protocol.drug)
    errors = {}
    if not product:
        errors["product"] = "Name the product (e.g. ketamine 10 mg/mL)."
    if ledger_lot is None:
        if ledger_in_use(actor.clinic, protocol.drug):
            errors["ledger_lot_id"] = (
                f"The clinic keeps {substance} in the controlled-substance ledger: choose the "
                "stock lot the dose is drawn from."
            )
        elif not lot_number:
            errors["lot_number"] = "Enter the lot number."
    else:
        unit = "device" if isinstance(protocol.dose, FixedDose) else "mL"
        if (
            ledger_lot.clinic_id != actor.clinic.pk
            or ledger_lot.product.substance != substance
            or ledger_lot.product.unit != unit
        ):
            errors["ledger_lot_id"] = f"Choose a lot of {substance} ({unit})."
        elif ledger_lot.expiry < actor.clinic.today():
            errors["ledger_lot_id"] = (
                f"Lot {ledger_lot.number} expired on {ledger_lot.expiry:%Y-%m-%d}: choose "
                "another lot."
            )
    if errors:
        raise ValidationError(errors)
    # The automatic checks run first in their own transaction: an override that no
    # longer applies is cleared (and said so) even though the dose is then refused.
    refresh_checklist(session, protocol, now=now, actor=actor)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="start dosing")
        refresh_checklist(session, protocol, now=now, actor=actor)
        blocking = blocking_items(session)
        if blocking:
            raise SessionConflict(
                "A hard-stop checklist item is not met: a physician must override it first.",
                blocking=[
                    {"item": i.item_id, "label": i.label, "finding": i.finding} for i in blocking
                ],
            )
        order = scheduling.current_order(session.course)
        patient = session.patient
        requested = _decimal(dose_mg, "dose_mg")
        try:
            result = calculate_dose(
                protocol,
                weight_kg=patient.weight_kg,
                height_cm=patient.height_cm,
                sex_at_birth=patient.sex_at_birth,
                dose_mg_per_kg=None
                if requested is not None or order is None
                else order.dose_mg_per_kg,
                dose_mg=requested if requested is not None else (order.dose_mg if order else None),
                weight_basis=(order.weight_basis or None) if order else None,
                concentration_mg_per_ml=_decimal(
                    concentration_mg_per_ml, "concentration_mg_per_ml"
                ),
                weight_measured_on=patient.weight_measured_on,
                today=timezone.localdate(now, timezone=actor.clinic.tz),
                first_session=session.first_session and isinstance(protocol.dose, FixedDose),
            )
        except DoseError as exc:
            field = "dose_mg" if exc.field in ("dose_mg", "dose_mg_per_kg") else exc.field
            raise ValidationError({field: exc.message}) from None
        fixed = isinstance(protocol.dose, FixedDose)
        administration = Administration.objects.create(
            session=session,
            drug=protocol.drug,
            product=product[:200],
            lot_number=(lot_number or getattr(ledger_lot, "number", ""))[:60],
            ledger_lot=ledger_lot,
            route=protocol.route,
            dose_mg=result.dose_mg,
            dose_mg_per_kg=result.effective_mg_per_kg,
            weight_basis=result.weight_basis or "",
            weight_used_kg=result.weight_used_kg,
            concentration_mg_per_ml=result.concentration_mg_per_ml,
            rate_ml_per_h=result.rate_ml_per_h,
            devices_planned=result.devices,
            calculation_warnings=list(result.warnings),
            unit="device" if fixed else "mL",
            recorded_by=actor.user,
            recorded_at=now,
        )
        if not fixed:
            session.dose_started_at = started
            _save(session, "dose_started_at")
            patient_changed(session.patient_id)
        _transition(
            actor,
            session,
            State.DOSING,
            at=started,
            text=f"Dosing started: {result.dose_mg.normalize():f} mg {protocol.route}",
        )
    return administration


def record_device(
    *,
    actor: Actor,
    session: TreatmentSession,
    given_at: datetime | None,
    expected_version: int | None,
    override_reason: str = "",
) -> tuple[DeviceDose, list[str]]:
    """Record one esketamine device; returns it and the spacing it breached, if overridden.

    A device sooner after another than the protocol's interval (the label's 5 minutes)
    is refused: only a physician records it, with a written reason (an override), as
    for a failed hard stop. No device is recorded past the number the dose needs.
    """
    actor.check("dose.record")
    protocol = session_protocol(session)
    if not isinstance(protocol.dose, FixedDose):
        raise ValidationError({"device": "Devices are recorded for esketamine nasal spray only."})
    override_reason = (override_reason or "").strip()
    if override_reason and not actor.may("medical.sign"):
        raise ValidationError(
            {"override_reason": "Only a physician overrides the interval between devices."}
        )
    if len(override_reason) > 2000:
        raise ValidationError({"override_reason": "At most 2000 characters."})
    now = timezone.now()
    given = _aware(given_at, "given_at", now=now)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.DOSING, doing="record a device")
        administration = session.administration
        earlier = list(session.devices.values_list("given_at", flat=True))
        count = len(earlier)
        if administration.devices_planned and count >= administration.devices_planned:
            raise ValidationError(
                {"device": f"All {administration.devices_planned} devices are already recorded."}
            )
        before = device_spacing_warnings(earlier, protocol=protocol)
        warnings = device_spacing_warnings([*earlier, given], protocol=protocol)
        breached = warnings[len(before) :]
        if breached and not override_reason:
            raise ValidationError(
                {
                    "given_at": " ".join(breached)
                    + " Not recorded: a physician may record it with an override reason."
                }
            )
        device = DeviceDose.objects.create(
            session=session,
            number=count + 1,
            given_at=given,
            mg=protocol.dose.mg_per_device.value,
            by=actor.user,
        )
        first = min([*earlier, given])
        if session.dose_started_at != first:
            session.dose_started_at = first
            _save(session, "dose_started_at")
            patient_changed(session.patient_id)
        text = f"Device {device.number} ({device.mg} mg)"
        if breached:
            text += f". {breached[-1]} Physician override: {override_reason}"
        _event(actor, session, "device", text, at=given)
        record(
            actor,
            "device",
            patient_id=session.patient_id,
            obj=session,
            detail={
                "device": device.number,
                "spacing_warning": bool(breached),
                **({"override_reason": override_reason} if breached else {}),
            },
        )
    return device, breached


def change_infusion(
    *,
    actor: Actor,
    session: TreatmentSession,
    kind: str,
    reason: str,
    rate_ml_per_h: Any = None,
    at: datetime | None = None,
    expected_version: int | None,
) -> InfusionChange:
    """Record a rate change, pause or resume of the infusion, with its reason."""
    actor.check("dose.record")
    if kind not in InfusionChange.Kind.values:
        raise ValidationError({"kind": "Choose rate, pause or resume."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why."})
    rate = _decimal(rate_ml_per_h, "rate_ml_per_h")
    if kind == "rate" and not rate:
        raise ValidationError({"rate_ml_per_h": "Give the new rate in mL/h."})
    now = timezone.now()
    when = _aware(at, "at", now=now)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.DOSING, doing="change the infusion")
        if session.route != "iv":
            raise ValidationError({"kind": "Only an infusion has a rate."})
        change = InfusionChange.objects.create(
            session=session,
            kind=kind,
            at=when,
            rate_ml_per_h=rate,
            reason=reason[:300],
            by=actor.user,
        )
        label = InfusionChange.Kind(kind).label
        _event(
            actor,
            session,
            "infusion",
            f"{label}{f' to {rate} mL/h' if rate else ''}: {reason}",
            at=when,
        )
        record(actor, "infusion", patient_id=session.patient_id, obj=session, detail={"kind": kind})
    return change


def _amounts(drawn: Any, given: Any, left_over: Any) -> dict[str, Decimal]:
    """What was drawn, given and left over; 422 naming the field when one is missing or off."""
    amounts = {
        "drawn": _decimal(drawn, "drawn"),
        "given": _decimal(given, "given"),
        "left_over": _decimal(left_over, "left_over"),
    }
    missing = {k: "Enter the amount." for k, v in amounts.items() if v is None}
    if missing:
        raise ValidationError(missing)
    found = {k: v for k, v in amounts.items() if v is not None}
    if found["given"] + found["left_over"] != found["drawn"]:
        raise ValidationError({"left_over": "Given and left over must add up to what was drawn."})
    return found


def _record_amounts(
    actor: Actor,
    session: TreatmentSession,
    protocol: Protocol,
    amounts: Mapping[str, Decimal],
    waste_manner: str,
    ended: datetime,
) -> Administration:
    """Store what was given and left over, end the dose at `ended`, and post to the ledger.

    Call inside the write's transaction (end of dosing, or a stop during dosing). For
    nasal devices, 'given' must be the devices recorded; a device drawn but not used
    is still sealed and goes back to stock, so it needs no waste record.
    """
    administration = session.administration
    fixed = isinstance(protocol.dose, FixedDose)
    waste_manner = (waste_manner or "").strip()
    if fixed:
        devices = session.devices.count()
        if devices == 0:
            raise ValidationError({"given": "Record each device before ending dosing."})
        if amounts["given"] != devices:
            raise ValidationError(
                {"given": f"{devices} device(s) are recorded; 'given' must be {devices}."}
            )
        total = sum(session.devices.values_list("mg", flat=True), Decimal(0))
        waste_manner = ""
    else:
        assert session.dose_started_at is not None
        if ended < session.dose_started_at:
            raise ValidationError({"ended_at": "The infusion cannot end before it started."})
        concentration = administration.concentration_mg_per_ml or Decimal(0)
        total = (amounts["given"] * concentration).quantize(Decimal("0.01"))
        if amounts["left_over"] and not waste_manner:
            raise ValidationError(
                {"waste_manner": "Say how the left-over drug was wasted (a witness confirms it)."}
            )
    administration.drawn = amounts["drawn"]
    administration.given = amounts["given"]
    administration.left_over = amounts["left_over"]
    administration.total_given_mg = total
    administration.waste_manner = waste_manner[:200]
    administration.save()
    session.dose_ended_at = ended
    _save(session, "dose_ended_at")
    post_to_ledger(actor=actor, administration=administration, given_at=session.dose_started_at)
    return administration


def end_dosing(
    *,
    actor: Actor,
    session: TreatmentSession,
    drawn: Any,
    given: Any,
    left_over: Any,
    waste_manner: str = "",
    ended_at: datetime | None = None,
    expected_version: int | None,
) -> Administration:
    """End dosing (IV: the infusion stops) and record what was drawn, given and left over."""
    actor.check("dose.record")
    protocol = session_protocol(session)
    now = timezone.now()
    ended = _aware(ended_at, "ended_at", now=now)
    amounts = _amounts(drawn, given, left_over)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.DOSING, doing="end dosing")
        administration = _record_amounts(actor, session, protocol, amounts, waste_manner, ended)
        _transition(
            actor,
            session,
            State.MONITORING,
            at=ended,
            text=f"Dosing ended: {administration.total_given_mg} mg given",
        )
    return administration
