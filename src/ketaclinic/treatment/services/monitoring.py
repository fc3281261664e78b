"""Monitoring during a session: vital signs, observations, their alerts, and what is due."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.monitoring import (
    DueCheck,
    Phase,
    VitalError,
    check_plausible,
    due_checks,
    vital_alerts,
)
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.treatment.models import (
    Observation,
    ObservationKind,
    SessionAlert,
    State,
    TreatmentSession,
    VitalReading,
)

from .adverse_events import notify_escalated_alerts
from .checklist import refresh_checklist
from .state import SessionConflict, _aware, _claim, _event, _transition, session_protocol

# API field name -> the monitoring module's key (docs/clinical-sources.md §5 (Monitoring thresholds) signals).
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


# --- monitoring -------------------------------------------------------------------------------


def _phase(session: TreatmentSession, taken_at: datetime) -> Phase:
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


def _new_reading(
    actor: Actor,
    session: TreatmentSession,
    values: Mapping[str, Any],
    taken: datetime,
    phase: Phase,
    now: datetime,
) -> VitalReading:
    """Insert the reading from checked values; all but the temperature are whole numbers."""
    whole = {k: None if v is None else int(v) for k, v in values.items() if k != "temperature_c"}
    return VitalReading.objects.create(
        session=session,
        taken_at=taken,
        phase=phase,
        systolic=whole["systolic_bp"],
        diastolic=whole["diastolic_bp"],
        heart_rate=whole["heart_rate"],
        spo2=whole["spo2"],
        respiratory_rate=whole["respiratory_rate"],
        temperature_c=values["temperature_c"],
        recorded_by=actor.user,
        recorded_at=now,
    )


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
            phase=phase,
            persisting=_previous_reading_codes(session, taken),
        )
        reading = _new_reading(actor, session, reading_values, taken, phase, now)
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
            alerts = vital_alerts(protocol, {"moaas": number}, phase=_phase(session, taken))
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
