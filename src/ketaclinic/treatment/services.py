"""Writes to a treatment session; each owns its transaction and writes its audit event.

Locking: every write first does a compare-and-set on the session's `version`
(`_claim`). When the caller passes the version they loaded and someone saved in
between, the update touches no row and StaleVersion is raised (answered 409) before
anything is written. Writes that only append (a vital reading, an observation) may
omit the version; they still bump it, so a form loaded before them is refused.
A signed session refuses every write except the physician's co-signature and
amendments.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_time

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.clinical.dosing import DoseError, DoseResult, calculate_dose
from ketaclinic.clinical.monitoring import (
    DueCheck,
    UnmetCriterion,
    VitalError,
    check_plausible,
    device_spacing_warnings,
    discharge_check,
    due_checks,
    earliest_discharge_at,
    vital_alerts,
)
from ketaclinic.clinical.protocols import FixedDose, Protocol
from ketaclinic.inventory import services as inventory
from ketaclinic.inventory.models import LedgerEntry
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.services import StaleVersion
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, CourseStatus
from ketaclinic.treatment import checklist as checks
from ketaclinic.treatment.followup import create_follow_up
from ketaclinic.treatment.models import (
    FINAL_STATES,
    INTERVENTIONS,
    Administration,
    AdverseEvent,
    Amendment,
    ChecklistResult,
    DeviceDose,
    InfusionChange,
    ItemStatus,
    Observation,
    ObservationKind,
    RemsForm,
    SessionAlert,
    SessionEvent,
    State,
    TreatmentSession,
    VitalReading,
)
from ketaclinic.treatment.rems import ensure_form, form_data, missing_fields, refresh_unsubmitted

log = logging.getLogger(__name__)

__all__ = [
    "SessionConflict",
    "StaleVersion",
    "acknowledge_alert",
    "add_amendment",
    "assess_discharge",
    "begin_dosing",
    "change_infusion",
    "check_item",
    "discharge",
    "discharge_unmet",
    "due_for",
    "ledger_in_use",
    "ledger_substance",
    "end_dosing",
    "override_item",
    "post_to_ledger",
    "prefill_dose",
    "record_adverse_event",
    "record_device",
    "record_observation",
    "record_vitals",
    "refresh_checklist",
    "session_protocol",
    "set_pregnancy_applies",
    "sign_session",
    "start_session",
    "stop_session",
]

# API field name -> the monitoring module's key (DOMAIN §5 signals).
VITAL_FIELDS = {
    "systolic": "systolic_bp",
    "diastolic": "diastolic_bp",
    "heart_rate": "heart_rate",
    "spo2": "spo2",
    "respiratory_rate": "respiratory_rate",
    "temperature_c": "temperature_c",
}
API_FIELD = {value: key for key, value in VITAL_FIELDS.items()}
WHOLE_FIELDS = ("systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate")
# A time entered for a reading may lie this far in the future (clock drift between devices).
CLOCK_SKEW = timedelta(minutes=2)


class SessionConflict(Exception):
    """The write is refused in the session's current state; `extra` goes into the 409 body."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


# --- reading -------------------------------------------------------------------------


def session_protocol(session: TreatmentSession) -> Protocol:
    """The protocol the session runs under: its course's, with the patient's longer observation."""
    from ketaclinic.treatment.longterm import apply_observation

    return apply_observation(session, scheduling.course_protocol(session.course))


def _now(value: datetime | None = None) -> datetime:
    return value or timezone.now()


def _aware(value: datetime | None, field: str, *, now: datetime) -> datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ValidationError({field: "Give the time with its UTC offset."})
    if value > now + CLOCK_SKEW:
        raise ValidationError({field: "This time is in the future."})
    return value


def due_for(
    session: TreatmentSession,
    protocol: Protocol,
    now: datetime,
    done: Sequence[tuple[str, datetime]] | None = None,
) -> list[DueCheck]:
    """What is due next (protocol schedule); nothing before the dose or after the session."""
    if session.dose_started_at is None or not session.is_active:
        return []
    if done is None:
        done = [("vitals", r) for r in session.readings.values_list("taken_at", flat=True)]
        done = [
            *done,
            *session.observations.filter(kind__in=["moaas", "cadss6"]).values_list(
                "kind", "taken_at"
            ),
        ]
    infusion_end = session.dose_ended_at if session.route == "iv" else None
    return due_checks(
        protocol,
        dose_started_at=session.dose_started_at,
        infusion_ended_at=infusion_end,
        done=list(done),
        now=now,
    )


def _latest_observation(session: TreatmentSession, kind: str) -> Observation | None:
    return session.observations.filter(kind=kind).order_by("-taken_at", "-pk").first()


def discharge_unmet(
    session: TreatmentSession, protocol: Protocol, now: datetime
) -> list[UnmetCriterion]:
    """The discharge criteria not met now ([] = the patient may go).

    The latest vitals, MOAA/S and CADSS-6 go in with the time each was taken: only
    those taken after the dose ended and recently count (clinical.monitoring).
    """
    if session.dose_started_at is None:
        return [UnmetCriterion("observation_time", "No dose has been given.")]
    reading = session.readings.order_by("-taken_at", "-pk").first()
    moaas = _latest_observation(session, ObservationKind.MOAAS)
    cadss = _latest_observation(session, ObservationKind.CADSS6)
    return discharge_check(
        protocol,
        first_dose_at=session.dose_started_at,
        infusion_ended_at=session.dose_ended_at if session.route == "iv" else None,
        dose_ended_at=session.dose_ended_at,
        # In the clinic's zone: the messages name clock times the staff read at the chair.
        now=timezone.localtime(max(now, session.dose_started_at), session.clinic.tz),
        last_vitals=reading.as_monitoring() if reading else None,
        last_vitals_at=reading.taken_at if reading else None,
        last_moaas=moaas.value if moaas else None,
        last_moaas_at=moaas.taken_at if moaas else None,
        last_cadss6_at=cadss.taken_at if cadss else None,
        dissociation_resolved=session.dissociation_resolved,
        respiratory_depression=session.respiratory_depression,
        walks_steadily=session.walks_steadily,
        escort_present=session.escort_present,
    )


# --- locking and the timeline -----------------------------------------------------------


def _claim(
    session: TreatmentSession, expected_version: int | None, *, signed_ok: bool = False
) -> None:
    """Compare-and-set the version (call inside the write's transaction).

    Raises StaleVersion when someone saved since `expected_version` was loaded, and
    SessionConflict when the session is signed (read-only) unless `signed_ok`.
    """
    current = (
        TreatmentSession.objects.select_for_update()
        .filter(pk=session.pk)
        .values("version", "nurse_signed_at")
        .first()
    )
    if current is None:
        raise StaleVersion
    if expected_version is not None and expected_version != current["version"]:
        raise StaleVersion
    if current["nurse_signed_at"] is not None and not signed_ok:
        raise SessionConflict(
            "This session is signed and read-only; record a correction as an amendment."
        )
    updated = TreatmentSession.objects.filter(pk=session.pk, version=current["version"]).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    if updated == 0:
        raise StaleVersion
    session.version = current["version"] + 1
    # Decide on what is stored now, not on what this request loaded.
    session.refresh_from_db(fields=_STATE_FIELDS)


_STATE_FIELDS = [
    "state",
    "dose_started_at",
    "dose_ended_at",
    "nurse_signed_by",
    "nurse_signed_at",
    "physician_signed_at",
    "could_have_left_at",
    "dissociation_resolved",
    "walks_steadily",
    "escort_present",
    "respiratory_depression",
]


def _event(
    actor: Actor,
    session: TreatmentSession,
    kind: str,
    text: str = "",
    *,
    at: datetime | None = None,
    to_state: str = "",
    from_state: str = "",
) -> SessionEvent:
    return SessionEvent.objects.create(
        session=session,
        at=at or timezone.now(),
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        text=text[:500],
        by=actor.user,
    )


def _transition(
    actor: Actor, session: TreatmentSession, to: str, *, at: datetime, text: str = ""
) -> None:
    before = session.state
    session.state = to
    TreatmentSession.objects.filter(pk=session.pk).update(state=to)
    _event(actor, session, "transition", text, at=at, from_state=before, to_state=to)
    record(
        actor,
        "transition",
        patient_id=session.patient_id,
        obj=session,
        detail={"from": before, "to": to},
    )


def _require_state(session: TreatmentSession, *states: str, doing: str) -> None:
    if session.state not in states:
        raise SessionConflict(
            f"Cannot {doing} while the session is {session.get_state_display().lower()}.",
            state=session.state,
        )


def _save(session: TreatmentSession, *fields: str) -> None:
    TreatmentSession.objects.filter(pk=session.pk).update(
        **{name: getattr(session, name) for name in fields}
    )


# --- starting --------------------------------------------------------------------------


def _start_missing(appointment: Appointment) -> list[str]:
    missing = []
    if appointment.kind != "treatment":
        missing.append("The appointment is not a treatment appointment.")
    if appointment.status != "checked_in":
        missing.append(
            f"The patient is not checked in (the appointment is "
            f"{appointment.get_status_display().lower()})."
        )
    course = appointment.course
    if course is None:
        missing.append("The appointment belongs to no treatment course.")
    elif course.status != CourseStatus.ACTIVE:
        missing.append(
            f"The treatment course is {course.get_status_display().lower()}, not active."
        )
    elif scheduling.current_order(course) is None:
        missing.append("The course has no signed dose order.")
    if TreatmentSession.objects.filter(appointment_id=appointment.pk).exists():
        missing.append("A session has already been started for this appointment.")
    return missing


def start_session(
    *, actor: Actor, appointment: Appointment, pregnancy_possible: bool | None = None
) -> TreatmentSession:
    """Open the session of a checked-in treatment appointment (state pre-dose).

    Raises SessionConflict with `missing` when the appointment cannot start one.
    The protocol's checklist is frozen onto the session; the appointment moves to
    in progress in the same transaction.
    """
    actor.check("session.chart")
    if appointment.clinic_id != actor.clinic.pk:
        raise PermissionDenied
    with transaction.atomic():
        locked = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("course", "patient")
            .get(pk=appointment.pk)
        )
        missing = _start_missing(locked)
        if missing:
            raise SessionConflict("The session cannot start.", missing=missing)
        course = locked.course
        assert course is not None
        protocol = scheduling.course_protocol(course)
        now = timezone.now()
        patient = locked.patient
        previous = TreatmentSession.objects.filter(course=course, dose_started_at__isnull=False)
        session = TreatmentSession.objects.create(
            clinic=actor.clinic,
            patient=patient,
            appointment=locked,
            course=course,
            room_id=locked.room_id,
            protocol_code=protocol.code,
            protocol_version=protocol.version,
            drug=protocol.drug,
            route=protocol.route,
            started_at=now,
            started_by=actor.user,
            pregnancy_possible=(
                checks.pregnancy_possible_default(
                    patient, timezone.localdate(now, timezone=actor.clinic.tz)
                )
                if pregnancy_possible is None
                else pregnancy_possible
            ),
            first_session=not previous.exists(),
        )
        from ketaclinic.treatment import longterm

        longterm.freeze_observation(session, protocol)
        items = checks.items_for(session, protocol)
        ChecklistResult.objects.bulk_create(
            ChecklistResult(
                session=session,
                position=i,
                item_id=item.id,
                label=item.label,
                hard_stop=item.hard_stop,
                automatic=item.id in checks.AUTOMATIC_ITEMS,
                # The nurse reviews the list; show what it holds (classes only).
                finding=(
                    checks.medication_hint(patient)
                    if item.id == "medication_changes_reviewed"
                    else ""
                ),
            )
            for i, item in enumerate(items)
        )
        _event(actor, session, "transition", "Session started", at=now, to_state=State.PRE_DOSE)
        record(
            actor,
            "start",
            patient_id=patient.pk,
            obj=session,
            detail={"appointment": locked.pk, "protocol": protocol.code},
        )
        scheduling.update_appointment(actor=actor, appointment=locked, status="in_progress")
        refresh_checklist(session, protocol, now=now, actor=actor)
    return session


# --- the checklist -----------------------------------------------------------------------


def refresh_checklist(
    session: TreatmentSession,
    protocol: Protocol | None = None,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Re-run the automatic checks while the session is before the dose.

    An override covers the finding it was given for: when an overridden item's finding
    changes (145/85 overridden, then a 210/125 reading) the override is cleared, so the
    item blocks again, and the timeline says so (by `actor`, whose action found it).
    """
    if session.state != State.PRE_DOSE or session.is_signed:
        return
    protocol = protocol or session_protocol(session)
    now = _now(now)
    with transaction.atomic():
        rows = list(session.checklist.filter(automatic=True))
        findings = checks.automatic_findings(session, protocol, {r.item_id for r in rows}, now)
        for row in rows:
            finding = findings.get(row.item_id)
            if finding is None:
                continue
            status = ItemStatus.MET if finding.met else ItemStatus.FAILED
            text = finding.text[:500]
            if row.status == status and row.finding == text:
                continue
            changes: dict[str, Any] = {
                "status": status,
                "finding": text,
                "checked_at": now,
                "checked_by": None,
            }
            if row.override_by_id is not None:
                changes.update(_lapse_override(actor, session, row, text, at=now))
            ChecklistResult.objects.filter(pk=row.pk).update(**changes)


NO_OVERRIDE = {
    "override_by": None,
    "override_reason": "",
    "override_at": None,
    "override_finding": "",
}


def _lapse_override(
    actor: Actor, session: TreatmentSession, row: ChecklistResult, finding: str, *, at: datetime
) -> dict[str, Any]:
    """Record that an override no longer applies; returns the fields that clear it."""
    _event(
        actor,
        session,
        "override_lapsed",
        f"Override of '{row.label}' no longer applies: the finding changed to: {finding or 'met'}",
        at=at,
    )
    record(
        actor,
        "override_lapsed",
        patient_id=session.patient_id,
        obj=session,
        detail={"item": row.item_id},
    )
    return dict(NO_OVERRIDE)


def _item(session: TreatmentSession, item_id: str) -> ChecklistResult:
    found = session.checklist.filter(item_id=item_id).first()
    if found is None:
        raise ValidationError({"item": f"This session's checklist has no item {item_id!r}."})
    return found


def check_item(
    *,
    actor: Actor,
    session: TreatmentSession,
    item_id: str,
    met: bool,
    finding: str = "",
    hours_since_food: Any = None,
    hours_since_liquids: Any = None,
    expected_version: int | None,
) -> ChecklistResult:
    """The nurse confirms (or fails) a checklist item the system cannot check itself.

    The fasting item takes the hours since food and since liquids; where the protocol
    gives fasting times the system decides whether it is met, not the tick.
    """
    actor.check("session.chart")
    fasting = None
    if item_id == "fasting":
        fasting = _fasting_hours(hours_since_food, hours_since_liquids)
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="change the checklist")
        item = _item(session, item_id)
        if item.automatic:
            raise ValidationError(
                {"item": "The system checks this item itself; fix the record it reads instead."}
            )
        status = ItemStatus.MET if met else ItemStatus.FAILED
        finding = finding.strip()
        if fasting is not None:
            session.hours_since_food, session.hours_since_liquids = fasting
            _save(session, "hours_since_food", "hours_since_liquids")
            found = checks.fasting_finding(protocol, *fasting)
            if found is not None:
                status = ItemStatus.MET if found.met else ItemStatus.FAILED
            reported = found.text if found is not None else checks.fasting_reported(*fasting)
            finding = f"{reported} {finding}".strip()
        finding = finding[:500] or item.finding
        fields = ["status", "finding", "checked_by", "checked_at"]
        if item.override_by_id is not None and (item.status, item.finding) != (status, finding):
            for name, value in _lapse_override(
                actor,
                session,
                item,
                finding if status == ItemStatus.FAILED else "",
                at=timezone.now(),
            ).items():
                setattr(item, name, value)
            fields += list(NO_OVERRIDE)
        item.status = status
        item.finding = finding
        item.checked_by = actor.user
        item.checked_at = timezone.now()
        item.save(update_fields=fields)
        record(
            actor,
            "checklist",
            patient_id=session.patient_id,
            obj=session,
            detail={"item": item_id, "status": item.status},
        )
    return item


def _fasting_hours(food: Any, liquids: Any) -> tuple[Decimal, Decimal]:
    """The reported hours since food and liquids (0.1 h steps); 422 naming the field."""
    hours = {}
    for field, raw in (("hours_since_food", food), ("hours_since_liquids", liquids)):
        number = _decimal(raw, field)
        if number is None:
            raise ValidationError({field: "Ask the patient and enter the hours (0.5 = 30 min)."})
        number = number.quantize(Decimal("0.1"))
        if number > Decimal("99.9"):
            raise ValidationError({field: "Enter up to 99.9 hours."})
        hours[field] = number
    return hours["hours_since_food"], hours["hours_since_liquids"]


def override_item(
    *,
    actor: Actor,
    session: TreatmentSession,
    item_id: str,
    reason: str,
    expected_version: int | None,
) -> ChecklistResult:
    """A physician lets the dose go ahead despite a failed hard stop, with a reason.

    Only a failed item can be overridden (an unchecked one must be checked first), and
    the override covers the finding it was given for: a different finding later clears it.
    """
    actor.check("medical.sign")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the dose may go ahead."})
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="override a checklist item")
        refresh_checklist(session, actor=actor)
        item = _item(session, item_id)
        if not item.hard_stop:
            raise ValidationError({"item": "Only a hard-stop item needs an override."})
        if item.status != ItemStatus.FAILED:
            raise SessionConflict(
                f"Only a failed item can be overridden; '{item.label}' is "
                f"{item.get_status_display().lower()}: check it first.",
                item=item.item_id,
                status=item.status,
            )
        item.override_by = actor.user
        item.override_reason = reason[:500]
        item.override_at = timezone.now()
        item.override_finding = item.finding
        item.save(
            update_fields=["override_by", "override_reason", "override_at", "override_finding"]
        )
        _event(
            actor,
            session,
            "override",
            f"Checklist override: {item.label} ({item.finding or 'not met'}). Reason: {reason}",
        )
        record(
            actor, "override", patient_id=session.patient_id, obj=session, detail={"item": item_id}
        )
    return item


def set_pregnancy_applies(
    *,
    actor: Actor,
    session: TreatmentSession,
    applies: bool,
    reason: str = "",
    expected_version: int | None,
) -> None:
    """Say whether pregnancy is possible; adds or removes the protocol's pregnancy item.

    Removing an item (the pregnancy test is a hard stop) needs a reason; the change,
    with what the removed item showed, goes on the timeline, the page and the summary.
    """
    actor.check("session.chart")
    reason = (reason or "").strip()
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.PRE_DOSE, doing="change the checklist")
        session.pregnancy_possible = applies
        wanted = {item.id: item for item in checks.items_for(session, protocol)}
        removed = list(session.checklist.exclude(item_id__in=list(wanted)))
        if removed and not reason:
            raise ValidationError(
                {"reason": "Say why pregnancy is not possible (the pregnancy test is a hard stop)."}
            )
        _save(session, "pregnancy_possible")
        have = set(session.checklist.values_list("item_id", flat=True))
        added = []
        for position, (item_id, item) in enumerate(wanted.items()):
            if item_id not in have:
                ChecklistResult.objects.create(
                    session=session,
                    position=position,
                    item_id=item.id,
                    label=item.label,
                    hard_stop=item.hard_stop,
                    automatic=item.id in checks.AUTOMATIC_ITEMS,
                )
                added.append(item.label)
        for row in removed:
            was = row.get_status_display().lower()
            if row.override_by_id:
                was += ", overridden"
            _event(
                actor,
                session,
                "checklist_change",
                f"Removed from the checklist (pregnancy not possible): {row.label} "
                f"(was {was}). Reason: {reason}",
            )
        for label in added:
            _event(
                actor,
                session,
                "checklist_change",
                f"Added to the checklist (pregnancy possible): {label}"
                + (f". Reason: {reason}" if reason else ""),
            )
        session.checklist.filter(pk__in=[row.pk for row in removed]).delete()
        record(
            actor,
            "checklist",
            patient_id=session.patient_id,
            obj=session,
            detail={"pregnancy_possible": applies, "removed": [r.item_id for r in removed]},
        )


def blocking_items(session: TreatmentSession) -> list[ChecklistResult]:
    return [item for item in session.checklist.all() if item.blocks]


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
            today=scheduling.clinic_today(session.clinic),
        )
    except DoseError:
        return None


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "Enter a number."}) from None
    if not number.is_finite() or number < 0:
        raise ValidationError({field: "Enter a number of zero or more."})
    return number


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
        elif ledger_lot.expiry < scheduling.clinic_today(actor.clinic):
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


# --- monitoring -------------------------------------------------------------------------------


def _phase(session: TreatmentSession, taken_at: datetime) -> str:
    if session.dose_started_at is None or taken_at < session.dose_started_at:
        return "pre_dose"
    return "during"


def _store_alerts(
    session: TreatmentSession,
    alerts: Sequence[Any],
    *,
    reading: VitalReading | None = None,
    observation: Observation | None = None,
    at: datetime,
) -> list[SessionAlert]:
    return [
        SessionAlert.objects.create(
            session=session,
            reading=reading,
            observation=observation,
            code=a.code,
            level=a.level,
            message=a.message[:500],
            rule_id=a.rule_id,
            raised_at=at,
        )
        for a in alerts
    ]


def _vital_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parse API values (numbers or None) into monitoring keys; 422 naming the API field."""
    unknown = set(values) - set(VITAL_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    reading: dict[str, Any] = {}
    errors: dict[str, str] = {}  # every bad field at once, so the nurse fixes them in one go
    for field, key in VITAL_FIELDS.items():
        raw = values.get(field)
        reading[key] = None
        if raw is None or raw == "":
            continue
        try:
            number = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            errors[field] = "Enter a number."
            continue
        if field in WHOLE_FIELDS and number.is_finite():
            if number != number.to_integral_value():
                errors[field] = "Enter a whole number."
                continue
            number = number.quantize(Decimal(1))  # 180.0 from a JSON float reads as 180
        try:
            check_plausible({key: number})
        except VitalError as exc:
            errors[field] = exc.message
            continue
        reading[key] = number
    if errors:
        raise ValidationError(errors)
    if all(v is None for v in reading.values()):
        raise ValidationError({"systolic": "Enter at least one vital sign."})
    try:
        check_plausible(reading)
    except VitalError as exc:
        raise ValidationError({API_FIELD.get(exc.field, exc.field): exc.message}) from None
    return reading


def record_vitals(
    *,
    actor: Actor,
    session: TreatmentSession,
    values: Mapping[str, Any],
    taken_at: datetime | None = None,
    expected_version: int | None = None,
) -> tuple[VitalReading, list[SessionAlert]]:
    """Store a reading and the alerts it raises; an impossible value stores nothing (422)."""
    actor.check("session.chart")
    reading_values = _vital_values(values)
    now = timezone.now()
    taken = _aware(taken_at, "taken_at", now=now)
    if taken < session.started_at - timedelta(hours=1):
        raise ValidationError({"taken_at": "This time is before the session began."})
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        if session.state in (State.DISCHARGED, State.STOPPED):
            raise SessionConflict("The session has ended; no readings can be added.")
        phase = _phase(session, taken)
        alerts = vital_alerts(
            protocol,
            reading_values,
            phase=phase,  # type: ignore[arg-type]
            persisting=_previous_reading_codes(session, taken),
        )
        whole = {
            k: None if v is None else int(v)
            for k, v in reading_values.items()
            if k != "temperature_c"
        }
        reading = VitalReading.objects.create(
            session=session,
            taken_at=taken,
            phase=phase,
            systolic=whole["systolic_bp"],
            diastolic=whole["diastolic_bp"],
            heart_rate=whole["heart_rate"],
            spo2=whole["spo2"],
            respiratory_rate=whole["respiratory_rate"],
            temperature_c=reading_values["temperature_c"],
            recorded_by=actor.user,
            recorded_at=now,
        )
        stored = _store_alerts(session, alerts, reading=reading, at=taken)
        record(
            actor,
            "vitals",
            patient_id=session.patient_id,
            obj=reading,
            detail={"session": session.pk, "alerts": [a.code for a in stored]},
        )
        _back_to_monitoring(actor, session, stored, at=now)
        if session.state == State.PRE_DOSE:
            refresh_checklist(session, protocol, now=now, actor=actor)
        escalated = [row for row, alert in zip(stored, alerts, strict=True) if alert.escalated]
        for row in escalated:
            _event(
                actor, session, "alert", f"Alert raised on recheck: {row.message}"[:500], at=taken
            )
        if escalated:
            clinic_id, session_id = session.clinic_id, session.pk
            alert_ids = [row.pk for row in escalated]
            transaction.on_commit(
                lambda: notify_escalated_alerts(
                    clinic_id=clinic_id, session_id=session_id, alert_ids=alert_ids
                )
            )
    return reading, stored


def _previous_reading_codes(session: TreatmentSession, taken: datetime) -> set[str]:
    """The alert codes the session's reading just before ``taken`` raised (the one rechecked)."""
    previous = session.readings.filter(taken_at__lte=taken).order_by("-taken_at", "-pk").first()
    if previous is None:
        return set()
    return set(previous.alerts.values_list("code", flat=True))


def _back_to_monitoring(
    actor: Actor, session: TreatmentSession, alerts: Sequence[SessionAlert], *, at: datetime
) -> None:
    """A new alert while ready for discharge puts the patient back under monitoring."""
    if alerts and session.state == State.READY:
        codes = ", ".join(sorted({a.code for a in alerts}))
        _transition(
            actor,
            session,
            State.MONITORING,
            at=at,
            text=f"New alert ({codes}): back to monitoring; reassess before discharge",
        )


OBSERVATION_RANGES = {"nausea": (0, 3), "anxiety": (0, 3)}


def record_observation(
    *,
    actor: Actor,
    session: TreatmentSession,
    kind: str,
    value: Any = None,
    text: str = "",
    taken_at: datetime | None = None,
    expected_version: int | None = None,
) -> tuple[Observation, list[SessionAlert]]:
    """Store a timed sedation / dissociation / nausea / anxiety score or a note."""
    actor.check("session.chart")
    if kind not in ObservationKind.values:
        raise ValidationError({"kind": "Choose moaas, cadss6, nausea, anxiety or note."})
    text = (text or "").strip()
    number: int | None = None
    if kind == ObservationKind.NOTE:
        if not text:
            raise ValidationError({"text": "Write the note."})
    else:
        if value is None or value == "":
            raise ValidationError({"value": "Enter the score."})
        try:
            decimal_value = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise ValidationError({"value": "Enter a whole number."}) from None
        if kind in ("moaas", "cadss6"):
            try:
                check_plausible({kind: decimal_value})
            except VitalError as exc:
                raise ValidationError({"value": exc.message}) from None
        else:
            low, high = OBSERVATION_RANGES[kind]
            if (
                decimal_value != decimal_value.to_integral_value()
                or not low <= decimal_value <= high
            ):
                raise ValidationError({"value": f"Enter a whole number from {low} to {high}."})
        number = int(decimal_value)
    now = timezone.now()
    taken = _aware(taken_at, "taken_at", now=now)
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        if session.state in (State.DISCHARGED, State.STOPPED):
            raise SessionConflict("The session has ended; nothing can be added.")
        observation = Observation.objects.create(
            session=session,
            kind=kind,
            value=number,
            text=text,
            taken_at=taken,
            recorded_by=actor.user,
        )
        stored: list[SessionAlert] = []
        if kind == ObservationKind.MOAAS:
            alerts = vital_alerts(protocol, {"moaas": number}, phase=_phase(session, taken))  # type: ignore[arg-type]
            stored = _store_alerts(session, alerts, observation=observation, at=taken)
            _back_to_monitoring(actor, session, stored, at=now)
        record(
            actor,
            "observation",
            patient_id=session.patient_id,
            obj=observation,
            detail={"session": session.pk, "kind": kind, "alerts": [a.code for a in stored]},
        )
    return observation, stored


def acknowledge_alert(
    *, actor: Actor, session: TreatmentSession, alert_id: int, expected_version: int | None = None
) -> SessionAlert:
    """Mark an alert seen and acted on (it stays in the record)."""
    actor.check("session.chart")
    with transaction.atomic():
        _claim(session, expected_version)
        alert = session.alerts.filter(pk=alert_id).first()
        if alert is None:
            raise ValidationError({"alert": "No such alert in this session."})
        if alert.acknowledged_at is None:
            alert.acknowledged_by = actor.user
            alert.acknowledged_at = timezone.now()
            alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
            record(
                actor,
                "acknowledge",
                patient_id=session.patient_id,
                obj=alert,
                detail={"code": alert.code},
            )
    return alert


def record_adverse_event(
    *,
    actor: Actor,
    session: TreatmentSession,
    type: str,  # noqa: A002 - the field's name in the API
    severity: str,
    outcome: str,
    onset_at: datetime | None = None,
    interventions: Sequence[str] = (),
    drug_given: str = "",
    serious: bool = False,
    note: str = "",
    expected_version: int | None = None,
) -> AdverseEvent:
    """Record an adverse event; a serious one e-mails the clinic's physicians on commit."""
    actor.check("session.chart")
    errors = {}
    if type not in AdverseEvent.Type.values:
        errors["type"] = "Choose a type of event."
    if severity not in AdverseEvent.Severity.values:
        errors["severity"] = "Choose mild, moderate or severe."
    if outcome not in AdverseEvent.Outcome.values:
        errors["outcome"] = "Choose the outcome."
    bad = [i for i in interventions if i not in INTERVENTIONS]
    if bad:
        errors["interventions"] = f"Unknown intervention(s): {', '.join(bad)}."
    if "drug_given" in interventions and not drug_given.strip():
        errors["drug_given"] = "Name the drug and dose given."
    if type == "other" and not note.strip():
        errors["note"] = "Describe the event."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    onset = _aware(onset_at, "onset_at", now=now)
    with transaction.atomic():
        _claim(session, expected_version)
        event = AdverseEvent.objects.create(
            session=session,
            type=type,
            severity=severity,
            onset_at=onset,
            interventions=list(interventions),
            drug_given=drug_given.strip()[:200],
            outcome=outcome,
            serious=serious,
            note=note.strip(),
            recorded_by=actor.user,
            recorded_at=now,
        )
        _event(
            actor,
            session,
            "adverse_event",
            f"Adverse event: {event.get_type_display()} ({severity}{', serious' if serious else ''})",
            at=onset,
        )
        record(
            actor,
            "adverse_event",
            patient_id=session.patient_id,
            obj=event,
            detail={"type": type, "serious": serious},
        )
        if serious:
            from ketaclinic.treatment.ae_reports import serious_event_recorded

            serious_event_recorded(actor=actor, session=session, event=event)
    return event


def notify_serious_event(*, clinic_id: int, session_id: int, event_id: int) -> int:
    """E-mail the clinic's physicians that a serious adverse event happened (ids only)."""
    return _mail_physicians(
        clinic_id=clinic_id,
        session_id=session_id,
        subject=f"[ketaclinic] Serious adverse event in treatment session {session_id}",
        text=f"A serious adverse event (event id {event_id}) was recorded in treatment "
        f"session {session_id}.",
        what=f"serious adverse event {event_id}",
    )


def notify_escalated_alerts(*, clinic_id: int, session_id: int, alert_ids: Sequence[int]) -> int:
    """E-mail the clinic's physicians again: an alert persisted on its recheck (ids only)."""
    return _mail_physicians(
        clinic_id=clinic_id,
        session_id=session_id,
        subject=f"[ketaclinic] Alert persists on recheck in treatment session {session_id}",
        text=f"An alert in treatment session {session_id} persisted on its recheck and was "
        f"raised to a higher level (alert id {', '.join(str(i) for i in alert_ids)}).",
        what=f"escalated alert(s) {list(alert_ids)}",
    )


def _mail_physicians(*, clinic_id: int, session_id: int, subject: str, text: str, what: str) -> int:
    """E-mail the clinic's physicians a link to the session; the text names ids, never the patient."""
    from ketaclinic.measures.services import base_url

    recipients = sorted(
        {
            m.user.email
            for m in Membership.objects.active()
            .filter(clinic_id=clinic_id, role=Role.PHYSICIAN, user__is_active=True)
            .select_related("user")
            if m.user.email
        }
    )
    if not recipients:
        log.warning("%s: no physician has an e-mail address", what)
        return 0
    link = base_url() + reverse("treatment_session", args=[session_id])
    try:
        send_mail(
            subject=subject,
            message="\n".join([text, "", f"Open the session: {link}"]),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - the record is stored whatever the mail server does
        log.exception("%s: e-mail failed", what)
        return 0
    return len(recipients)


# --- discharge ------------------------------------------------------------------------------------


def assess_discharge(
    *,
    actor: Actor,
    session: TreatmentSession,
    dissociation_resolved: bool | None,
    walks_steadily: bool | None,
    escort_present: bool | None,
    respiratory_depression: bool | None = None,
    could_have_left_at: datetime | None = None,
    expected_version: int | None,
) -> list[UnmetCriterion]:
    """Record the nurse's discharge assessment; returns the criteria still unmet.

    When nothing is unmet the session becomes ready for discharge.
    """
    actor.check("session.chart")
    now = timezone.now()
    if could_have_left_at is not None:
        could_have_left_at = _aware(
            could_have_left_at, "could_have_left_at", now=now + timedelta(hours=6)
        )
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.MONITORING, State.READY, doing="assess for discharge")
        if (
            could_have_left_at is not None
            and session.dose_started_at
            and could_have_left_at < session.dose_started_at
        ):
            raise ValidationError({"could_have_left_at": "This is before the first dose."})
        session.dissociation_resolved = dissociation_resolved
        session.walks_steadily = walks_steadily
        session.escort_present = escort_present
        session.respiratory_depression = respiratory_depression
        if could_have_left_at is not None:
            session.could_have_left_at = could_have_left_at
        _save(
            session,
            "dissociation_resolved",
            "walks_steadily",
            "escort_present",
            "respiratory_depression",
            "could_have_left_at",
        )
        unmet = discharge_unmet(session, protocol, now)
        if not unmet and session.state == State.MONITORING:
            _transition(actor, session, State.READY, at=now, text="Discharge criteria met")
        elif unmet and session.state == State.READY:
            _transition(
                actor, session, State.MONITORING, at=now, text="Discharge criteria no longer met"
            )
        record(
            actor,
            "discharge_assessment",
            patient_id=session.patient_id,
            obj=session,
            detail={"unmet": [u.code for u in unmet]},
        )
    return unmet


def discharge(
    *,
    actor: Actor,
    session: TreatmentSession,
    override_reason: str = "",
    could_have_left_at: datetime | None = None,
    expected_version: int | None,
) -> TreatmentSession:
    """Discharge the patient, or SessionConflict with `unmet` unless a physician overrides.

    The clinician's "could have left at" estimate is never filled in for them: for
    esketamine the REMS form needs it (minutes until ready without the 2-hour rule),
    so discharge asks for it when the assessment did not record it.
    """
    actor.check("session.chart")
    override_reason = (override_reason or "").strip()
    if override_reason:
        actor.check("medical.sign")
    protocol = session_protocol(session)
    now = timezone.now()
    if could_have_left_at is not None:
        could_have_left_at = _aware(could_have_left_at, "could_have_left_at", now=now)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.MONITORING, State.READY, doing="discharge")
        unmet = discharge_unmet(session, protocol, now)
        if unmet and not override_reason:
            raise SessionConflict(
                "The patient does not yet meet the discharge criteria.",
                unmet=[{"code": u.code, "message": u.message} for u in unmet],
            )
        if could_have_left_at is not None:
            if session.dose_started_at and could_have_left_at < session.dose_started_at:
                raise ValidationError({"could_have_left_at": "This is before the first dose."})
            session.could_have_left_at = could_have_left_at
        if session.is_esketamine and session.could_have_left_at is None:
            raise ValidationError(
                {
                    "could_have_left_at": "Estimate when the patient could have left without "
                    "the 2-hour rule (the REMS form asks for it)."
                }
            )
        session.discharged_at = now
        session.discharge_unmet = [{"code": u.code, "message": u.message} for u in unmet]
        if unmet:
            session.discharge_override_by = actor.user
            session.discharge_override_reason = override_reason[:500]
            _event(
                actor,
                session,
                "override",
                f"Discharge override ({', '.join(u.code for u in unmet)}). Reason: {override_reason}",
                at=now,
            )
        _save(
            session,
            "discharged_at",
            "discharge_unmet",
            "discharge_override_by",
            "discharge_override_reason",
            "could_have_left_at",
        )
        _transition(actor, session, State.DISCHARGED, at=now, text="Discharged")
        _finish_appointment(actor, session)
        if session.is_esketamine:
            ensure_form(session)
    return session


def _finish_appointment(actor: Actor, session: TreatmentSession) -> None:
    appointment = Appointment.objects.get(pk=session.appointment_id)
    if appointment.status == "in_progress":
        scheduling.update_appointment(actor=actor, appointment=appointment, status="completed")
    # Every session that gave a dose gets its follow-up call (issue 12).
    create_follow_up(session, session_protocol(session), at=timezone.now())


def stop_session(
    *,
    actor: Actor,
    session: TreatmentSession,
    reason: str,
    drawn: Any = None,
    given: Any = None,
    left_over: Any = None,
    waste_manner: str = "",
    expected_version: int | None,
) -> TreatmentSession:
    """Stop the session early (before or during treatment), with the reason.

    Stopped while dosing after the dose started (the infusion running, a device given),
    the dose ends now and what was drawn, given and left over is required and posted to
    the ledger, as at the end of dosing.
    """
    actor.check("session.chart")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the session is stopped."})
    protocol = session_protocol(session)
    now = timezone.now()
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, *[s for s in State.values if s not in FINAL_STATES], doing="stop")
        if session.state == State.DOSING and session.dose_started_at is not None:
            actor.check("dose.record")
            amounts = _amounts(drawn, given, left_over)
            _record_amounts(actor, session, protocol, amounts, waste_manner, now)
        session.stop_reason = reason[:500]
        _save(session, "stop_reason")
        _transition(actor, session, State.STOPPED, at=now, text=f"Stopped: {reason}")
        _finish_appointment(actor, session)
        if session.is_esketamine and session.dose_started_at is not None:
            ensure_form(session)
    return session


# --- signing and amendments ------------------------------------------------------------------------


def sign_session(
    *, actor: Actor, session: TreatmentSession, expected_version: int | None
) -> TreatmentSession:
    """The nurse signs (then the session is read-only); a physician then co-signs.

    The first signature needs a discharged or stopped session and, for esketamine,
    a complete REMS form (SessionConflict with `missing`).
    """
    actor.check("session.chart")
    now = timezone.now()
    with transaction.atomic():
        _claim(session, expected_version, signed_ok=True)
        if session.nurse_signed_at is None:
            _require_state(session, State.DISCHARGED, State.STOPPED, doing="sign")
            if session.is_esketamine and session.dose_started_at is not None:
                form = ensure_form(session)
                data = form_data(session)
                missing = missing_fields(data)
                if missing:
                    raise SessionConflict(
                        "The REMS Patient Monitoring Form is incomplete.", missing=missing
                    )
                RemsForm.objects.filter(pk=form.pk).update(data=data)
            session.nurse_signed_by = actor.user
            session.nurse_signed_at = now
            _save(session, "nurse_signed_by", "nurse_signed_at")
            _event(actor, session, "sign", "Signed", at=now)
            record(actor, "sign", patient_id=session.patient_id, obj=session)
            patient_changed(session.patient_id)
        elif session.physician_signed_at is None:
            actor.check("medical.sign")
            if session.nurse_signed_by_id == actor.user.pk:
                raise SessionConflict(
                    "You signed this session; the co-signature must come from another physician."
                )
            session.physician_signed_by = actor.user
            session.physician_signed_at = now
            _save(session, "physician_signed_by", "physician_signed_at")
            _event(actor, session, "cosign", "Co-signed by the physician", at=now)
            record(actor, "cosign", patient_id=session.patient_id, obj=session)
        else:
            raise SessionConflict("The session is already signed and co-signed.")
    return session


AMENDABLE_READING_FIELDS = (
    "systolic",
    "diastolic",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "temperature_c",
)
AMENDABLE_SESSION_FIELDS = ("note", "could_have_left_at", "lot_number")


def add_amendment(
    *,
    actor: Actor,
    session: TreatmentSession,
    target: str,
    field: str,
    new_value: str,
    reason: str,
    expected_version: int | None,
) -> Amendment:
    """Correct a signed session: the original value is kept, the amendment says what it should be."""
    actor.check("session.chart")
    reason = (reason or "").strip()
    new_value = (new_value or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the record is corrected."
    if not new_value:
        errors["new_value"] = "Enter the corrected value."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _claim(session, expected_version, signed_ok=True)
        if not session.is_signed:
            raise SessionConflict("The session is not signed yet: change it directly.")
        old = ""
        if target.startswith("reading:"):
            reading = (
                session.readings.filter(pk=target.partition(":")[2] or 0).first()
                if target.partition(":")[2].isdigit()
                else None
            )
            if reading is None:
                raise ValidationError({"target": "No such reading in this session."})
            if field not in AMENDABLE_READING_FIELDS:
                raise ValidationError({"field": "Choose a vital sign to correct."})
            _vital_values({field: new_value})
            old = "" if getattr(reading, field) is None else str(getattr(reading, field))
        elif target == "session":
            if field not in AMENDABLE_SESSION_FIELDS:
                raise ValidationError({"field": "This field cannot be amended."})
            if field == "lot_number":
                administration = Administration.objects.filter(session=session).first()
                old = administration.lot_number if administration else ""
            elif field == "could_have_left_at":
                old = session.could_have_left_at.isoformat() if session.could_have_left_at else ""
                new_value = _amended_time(session, new_value).isoformat()
        else:
            raise ValidationError({"target": "Give 'session' or 'reading:<id>'."})
        amendment = Amendment.objects.create(
            session=session,
            target=target,
            field=field,
            old_value=old,
            new_value=new_value[:500],
            reason=reason[:500],
            by=actor.user,
            at=timezone.now(),
        )
        record(
            actor,
            "amend",
            patient_id=session.patient_id,
            obj=session,
            detail={"target": target, "field": field},
        )
        if session.is_esketamine:
            refresh_unsubmitted(session)
    return amendment


def _amended_time(session: TreatmentSession, raw: str) -> datetime:
    """A corrected "could have left at": an ISO time with offset, or HH:MM on the session's day.

    It must lie between the first dose and the end of the session (422 naming new_value).
    """
    tz = session.clinic.tz
    when = None
    try:
        clock = parse_time(raw) if len(raw) <= 5 else None
    except ValueError:
        clock = None
    if clock is not None:
        day = timezone.localdate(session.dose_started_at or session.started_at, timezone=tz)
        when = datetime.combine(day, clock, tzinfo=tz)
    else:
        try:
            when = parse_datetime(raw)
        except ValueError:
            when = None
        if when is not None and timezone.is_naive(when):
            when = when.replace(tzinfo=tz)
    if when is None:
        raise ValidationError({"new_value": "Enter the time as HH:MM (or an ISO date and time)."})
    end = session.discharged_at or timezone.now()
    if session.dose_started_at and when < session.dose_started_at:
        raise ValidationError({"new_value": "This is before the first dose."})
    if when > end:
        raise ValidationError({"new_value": "This is after the patient left."})
    return when


def view_session(*, actor: Actor, session: TreatmentSession, what: str = "session") -> None:
    """Record that the actor read this session."""
    record(actor, "view", patient_id=session.patient_id, obj=session, detail={"view": what})


def earliest_discharge(session: TreatmentSession, protocol: Protocol) -> datetime | None:
    if session.dose_started_at is None:
        return None
    return earliest_discharge_at(
        protocol,
        dose_started_at=session.dose_started_at,
        infusion_ended_at=session.dose_ended_at if session.route == "iv" else None,
    )
