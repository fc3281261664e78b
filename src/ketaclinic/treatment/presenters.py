"""One session as plain data for the API, the charting page and the PDF (constant queries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ketaclinic.treatment import checklist_now, services
from ketaclinic.treatment.models import Administration, TreatmentSession, VitalReading

# Timeline events that change what the checklist asks or lets through: shown with the
# overrides on the page and the summary.
CHECKLIST_CHANGE_KINDS = ("checklist_change", "override_lapsed")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _name(user: Any) -> str:
    """A user as the record names them (full name, else the username); "" for nobody."""
    return (user.get_full_name() or user.username) if user is not None else ""


def _num(value: Any) -> Any:
    if value is None:
        return None
    return float(value) if not float(value).is_integer() else int(value)


def reading_out(reading: VitalReading, alerts: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": reading.pk,
        "taken_at": _iso(reading.taken_at),
        "phase": reading.phase,
        "systolic": reading.systolic,
        "diastolic": reading.diastolic,
        "heart_rate": reading.heart_rate,
        "spo2": reading.spo2,
        "respiratory_rate": reading.respiratory_rate,
        "temperature_c": _num(reading.temperature_c),
        "alerts": [alert_out(a) for a in (alerts if alerts is not None else [])],
    }


def alert_out(alert: Any) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "code": alert.code,
        "level": alert.level,
        "message": alert.message,
        "raised_at": _iso(alert.raised_at),
        "open": alert.acknowledged_at is None,
    }


def administration_out(adm: Administration | None) -> dict[str, Any] | None:
    if adm is None:
        return None
    return {
        "drug": adm.drug,
        "product": adm.product,
        "lot_number": adm.lot_number,
        "route": adm.route,
        "dose_mg": _num(adm.dose_mg),
        "dose_mg_per_kg": _num(adm.dose_mg_per_kg),
        "weight_basis": adm.weight_basis,
        "weight_used_kg": _num(adm.weight_used_kg),
        "concentration_mg_per_ml": _num(adm.concentration_mg_per_ml),
        "rate_ml_per_h": _num(adm.rate_ml_per_h),
        "devices_planned": adm.devices_planned,
        "unit": adm.unit,
        "drawn": _num(adm.drawn),
        "given": _num(adm.given),
        "left_over": _num(adm.left_over),
        "total_given_mg": _num(adm.total_given_mg),
        "warnings": adm.calculation_warnings,
        "posted_to_ledger": adm.posted_to_ledger_at is not None,
    }


def load(session: TreatmentSession) -> TreatmentSession:
    """Fetch everything the session shows, once (attached as lists on the object)."""
    session.checklist_rows = list(session.checklist.select_related("override_by", "checked_by"))
    session.reading_rows = list(session.readings.all())
    session.observation_rows = list(session.observations.all())
    session.alert_rows = list(session.alerts.all())
    session.device_rows = list(session.devices.all())
    session.infusion_rows = list(session.infusion_changes.all())
    session.event_rows = list(session.events.select_related("by"))
    session.adverse_rows = list(session.adverse_events.all())
    session.amendment_rows = list(session.amendments.select_related("by"))
    session.administration_row = Administration.objects.filter(session=session).first()
    return session


def detail(session: TreatmentSession, now: datetime | None = None) -> dict[str, Any]:
    """The session with its readings, alerts and what is due next (the API's GET)."""
    now = now or timezone.now()
    protocol = services.session_protocol(session)
    load(session)
    # What the automatic checks find now, without writing it (treatment/checklist_now.py).
    checklist_now.overlay(session, session.checklist_rows, now)
    by_reading: dict[int, list[Any]] = {}
    for alert in session.alert_rows:
        if alert.reading_id:
            by_reading.setdefault(alert.reading_id, []).append(alert)
    for reading in session.reading_rows:
        reading.alert_list = by_reading.get(reading.pk, [])
    done = [("vitals", r.taken_at) for r in session.reading_rows] + [
        (o.kind, o.taken_at) for o in session.observation_rows if o.kind in ("moaas", "cadss6")
    ]
    due = services.due_for(session, protocol, now, done=done)
    unmet = (
        services.discharge_unmet(
            session, protocol, now, loaded=(session.reading_rows, session.observation_rows)
        )
        if session.state in ("monitoring", "ready_for_discharge")
        else []
    )
    overrides = [
        {
            "kind": "checklist",
            "item": row.item_id,
            "reason": row.override_reason,
            "by": _name(row.override_by),
            "at": _iso(row.override_at),
        }
        for row in session.checklist_rows
        if row.override_by_id
    ]
    if session.discharge_override_by_id:
        overrides.append(
            {
                "kind": "discharge",
                "item": ",".join(u["code"] for u in session.discharge_unmet),
                "reason": session.discharge_override_reason,
                "by": _name(session.discharge_override_by),
                "at": _iso(session.discharged_at),
            }
        )
    checklist_changes = [
        {
            "kind": e.kind,
            "text": e.text,
            "by": e.by.get_full_name() or e.by.username,
            "at": _iso(e.at),
        }
        for e in session.event_rows
        if e.kind in CHECKLIST_CHANGE_KINDS
    ]
    earliest = services.earliest_discharge(session, protocol)
    return {
        "id": session.pk,
        "version": session.version,
        "state": session.state,
        "patient_id": session.patient_id,
        "appointment_id": session.appointment_id,
        "course_id": session.course_id,
        "room": session.room.name,
        "protocol": {"code": session.protocol_code, "version": session.protocol_version},
        "drug": session.drug,
        "route": session.route,
        "started_at": _iso(session.started_at),
        "dose_started_at": _iso(session.dose_started_at),
        "dose_ended_at": _iso(session.dose_ended_at),
        "checklist": [
            {
                "item": row.item_id,
                "label": row.label,
                "hard_stop": row.hard_stop,
                "automatic": row.automatic,
                "status": row.status,
                "finding": row.finding,
                "overridden": row.override_applies,
                "override_reason": row.override_reason,
                "blocks": row.blocks,
            }
            for row in session.checklist_rows
        ],
        "fasting": {
            "hours_since_food": _num(session.hours_since_food),
            "hours_since_liquids": _num(session.hours_since_liquids),
        },
        "administration": administration_out(session.administration_row),
        "devices": [
            {"number": d.number, "given_at": _iso(d.given_at), "mg": _num(d.mg)}
            for d in session.device_rows
        ],
        "infusion_changes": [
            {
                "kind": c.kind,
                "at": _iso(c.at),
                "rate_ml_per_h": _num(c.rate_ml_per_h),
                "reason": c.reason,
            }
            for c in session.infusion_rows
        ],
        "readings": [reading_out(r, by_reading.get(r.pk, [])) for r in session.reading_rows],
        "observations": [
            {
                "id": o.pk,
                "kind": o.kind,
                "value": o.value,
                "text": o.text,
                "taken_at": _iso(o.taken_at),
            }
            for o in session.observation_rows
        ],
        "alerts": [alert_out(a) for a in session.alert_rows],
        "due": [
            {
                "kind": d.kind,
                "label": d.label,
                "due_at": _iso(d.due_at),
                "overdue": d.overdue,
                "in_minutes": int((d.due_at - now).total_seconds() // 60),
            }
            for d in due
        ],
        "discharge": {
            "earliest_at": _iso(earliest),
            "unmet": [{"code": u.code, "message": u.message} for u in unmet],
            "dissociation_resolved": session.dissociation_resolved,
            "walks_steadily": session.walks_steadily,
            "escort_present": session.escort_present,
            "could_have_left_at": _iso(session.could_have_left_at),
            "discharged_at": _iso(session.discharged_at),
        },
        "adverse_events": [
            {
                "id": e.pk,
                "type": e.type,
                "severity": e.severity,
                "onset_at": _iso(e.onset_at),
                "interventions": e.interventions,
                "drug_given": e.drug_given,
                "outcome": e.outcome,
                "serious": e.serious,
            }
            for e in session.adverse_rows
        ],
        "overrides": overrides,
        "checklist_changes": checklist_changes,
        "stop_reason": session.stop_reason,
        "signed": {
            "nurse_at": _iso(session.nurse_signed_at),
            "physician_at": _iso(session.physician_signed_at),
        },
        "amendments": [
            {
                "target": a.target,
                "field": a.field,
                "old_value": a.old_value,
                "new_value": a.new_value,
                "reason": a.reason,
                "at": _iso(a.at),
            }
            for a in session.amendment_rows
        ],
        "timeline": [
            {
                "at": _iso(e.at),
                "kind": e.kind,
                "from": e.from_state,
                "to": e.to_state,
                "text": e.text,
            }
            for e in session.event_rows
        ],
    }
