"""Encounters, appointments, procedures, administrations, adverse events, consents, audit."""

from __future__ import annotations

from datetime import date
from typing import Any

from ketaclinic.interop import terminology as t

from .base import Resource, _meta, _prune, coding, concept, day, instant, ref
from .observations import (
    _quantity,
)

# --- Visits and treatment ------------------------------------------------------------------

ENCOUNTER_STATUS = {"checked_in": "arrived", "in_progress": "in-progress", "completed": "finished"}
ENCOUNTER_TYPE = {
    "consultation": "Consultation",
    "treatment": "Treatment session",
    "preparation": "Preparation session",
    "integration": "Integration session",
    "follow_up": "Follow-up visit",
}


def encounter(row: Any) -> Resource:
    """A visit that took place (an appointment checked in, in progress or completed).

    `row` is a named tuple of sources.APPOINTMENT_FIELDS; a treatment session's own
    times, where there is one, are the visit's.
    """
    start = row.treatment_session__started_at or row.start
    end = None
    if row.status == "completed":
        end = row.treatment_session__discharged_at if row.treatment_session__started_at else row.end
    return _prune(
        {
            "resourceType": "Encounter",
            "id": str(row.pk),
            "meta": _meta(row.updated_at),
            "identifier": [{"system": f"{t.LOCAL}/appointment", "value": str(row.pk)}],
            "status": ENCOUNTER_STATUS[row.status],
            "class": coding(t.ACT_CODE, "AMB", "ambulatory"),
            "type": [
                concept(
                    coding(t.LOCAL_CODES, f"visit-{row.kind}", ENCOUNTER_TYPE[row.kind]),
                    text=ENCOUNTER_TYPE[row.kind],
                )
            ],
            "subject": ref("Patient", row.patient_id),
            "participant": (
                [{"individual": ref("Practitioner", row.staff__user_id)}]
                if row.staff__user_id
                else []
            ),
            "appointment": [ref("Appointment", row.pk)],
            "period": _prune({"start": instant(start), "end": instant(end)}),
            "location": [{"location": ref("Location", row.room_id)}],
            "serviceProvider": ref("Organization", row.clinic_id),
        }
    )


APPOINTMENT_STATUS = {
    "booked": "booked",
    "checked_in": "checked-in",
    "in_progress": "arrived",
    "completed": "fulfilled",
    "no_show": "noshow",
    "cancelled": "cancelled",
}


def appointment(row: Any) -> Resource:
    participants = [{"actor": ref("Patient", row.patient_id), "status": "accepted"}]
    if row.staff__user_id:
        participants.append(
            {"actor": ref("Practitioner", row.staff__user_id), "status": "accepted"}
        )
    participants.append({"actor": ref("Location", row.room_id), "status": "accepted"})
    return {
        "resourceType": "Appointment",
        "id": str(row.pk),
        "meta": _meta(row.updated_at),
        "status": APPOINTMENT_STATUS[row.status],
        "appointmentType": concept(
            coding(t.LOCAL_CODES, f"visit-{row.kind}", ENCOUNTER_TYPE[row.kind]),
            text=ENCOUNTER_TYPE[row.kind],
        ),
        "start": instant(row.start),
        "end": instant(row.end),
        "created": instant(row.created_at),
        "participant": participants,
    }


PROCEDURE_STATUS = {
    "pre_dose": "preparation",
    "dosing": "in-progress",
    "monitoring": "completed",
    "ready_for_discharge": "completed",
    "discharged": "completed",
    "stopped": "stopped",
}
DRUG_TEXT = {"racemic_ketamine": "ketamine", "esketamine": "esketamine"}
ROUTE_TEXT = {
    "iv": "intravenous infusion",
    "im": "intramuscular injection",
    "intranasal": "nasal spray",
}


def procedure(row: Any) -> Resource:
    """The treatment session as a procedure: the drug given by its route, monitored."""
    title = (
        f"{DRUG_TEXT.get(row.drug, row.drug).capitalize()} {ROUTE_TEXT.get(row.route, row.route)}"
    )
    status = PROCEDURE_STATUS[row.state]
    if row.state == "stopped" and row.dose_started_at is None:
        status = "not-done"
    performed = _prune(
        {"start": instant(row.dose_started_at or row.started_at), "end": instant(row.dose_ended_at)}
    )
    return _prune(
        {
            "resourceType": "Procedure",
            "id": str(row.pk),
            "meta": _meta(row.updated_at),
            "status": status,
            "code": concept(coding(t.LOCAL_CODES, f"{row.drug}-{row.route}", title), text=title),
            "subject": ref("Patient", row.patient_id),
            "encounter": ref("Encounter", row.appointment_id),
            "performedPeriod": performed,
            "performer": [{"actor": ref("Practitioner", row.started_by_id)}],
            "location": ref("Location", row.room_id),
        }
    )


def _medication(row: Any) -> Resource:
    codings = []
    ingredient = t.RXNORM_INGREDIENT.get(DRUG_TEXT.get(row.drug, ""))
    if ingredient:
        codings.append(coding(t.RXNORM, *ingredient))
    ndc = row.ledger_lot__product__ndc
    if ndc:
        codings.append(coding(t.NDC, ndc))
    return _prune(
        {
            "resourceType": "Medication",
            "id": "med",
            "code": concept(*codings, text=row.product),
            "batch": {"lotNumber": row.lot_number},
        }
    )


def medication_administration(row: Any) -> Resource:
    """What was given in a session: drug and product (RxNorm, NDC), lot, dose, route, times.

    `row` is a named tuple of sources.ADMINISTRATION_FIELDS.
    """
    state = row.session__state
    status = "in-progress" if state in ("pre_dose", "dosing") else "completed"
    if state == "stopped":
        status = "stopped"
    given_mg = row.total_given_mg if row.total_given_mg is not None else row.dose_mg
    route = t.ROUTES.get(row.route)
    dosage = _prune(
        {
            "route": concept(coding(t.ROUTE, *route), text=route[1]) if route else None,
            "dose": _quantity(given_mg, "mg", "mg"),
            "rateQuantity": (
                _quantity(row.rate_ml_per_h, "mL/h", "mL/h") if row.rate_ml_per_h else None
            ),
        }
    )
    start = row.session__dose_started_at or row.recorded_at
    ended = row.session__dose_ended_at
    effective = (
        {"effectivePeriod": {"start": instant(start), "end": instant(ended)}}
        if ended
        else {"effectiveDateTime": instant(start)}
    )
    return _prune(
        {
            "resourceType": "MedicationAdministration",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "contained": [_medication(row)],
            "status": status,
            "medicationReference": {"reference": "#med", "display": row.product},
            "subject": ref("Patient", row.session__patient_id),
            "context": ref("Encounter", row.session__appointment_id),
            **effective,
            "performer": [{"actor": ref("Practitioner", row.recorded_by_id)}],
            "partOf": [ref("Procedure", row.session_id)],
            "dosage": dosage,
        }
    )


AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
# Our outcome -> FHIR adverse-event-outcome; "transferred" says nothing of recovery.
AE_OUTCOMES = {"resolved": "resolved", "resolving": "recovering", "ongoing": "ongoing"}


def adverse_event(row: Any) -> Resource:
    session = row.session
    outcome = AE_OUTCOMES.get(row.outcome)
    return _prune(
        {
            "resourceType": "AdverseEvent",
            "id": str(row.pk),
            "actuality": "actual",
            "event": concept(coding(t.LOCAL_CODES, f"ae-{row.type}"), text=row.get_type_display()),
            "subject": ref("Patient", session.patient_id),
            "encounter": ref("Encounter", session.appointment_id),
            "date": instant(row.onset_at),
            "recordedDate": instant(row.recorded_at),
            "recorder": ref("Practitioner", row.recorded_by_id),
            "seriousness": concept(
                coding(AE_SERIOUSNESS, "serious" if row.serious else "non-serious")
            ),
            "severity": concept(coding(AE_SEVERITY, row.severity)),
            "outcome": (
                concept(coding(AE_OUTCOME, outcome), text=row.get_outcome_display())
                if outcome
                else {"text": row.get_outcome_display()}
            ),
            "suspectEntity": ([{"instance": ref("Procedure", session.pk)}]),
        }
    )


def consent(row: Any, today: date) -> Resource:
    """A signed treatment consent: who, when, for how long; the text itself stays in the PDF."""
    state = row.state_on(today)
    status = "active" if state in ("valid", "not_yet") else "inactive"
    return _prune(
        {
            "resourceType": "Consent",
            "id": str(row.pk),
            "status": status,
            "scope": concept(coding(t.CONSENT_SCOPE, "treatment", "Treatment")),
            "category": [concept(coding(t.LOCAL_CODES, f"consent-{row.family}"), text=row.title)],
            "patient": ref("Patient", row.patient_id),
            "dateTime": instant(row.signed_at),
            "performer": [ref("Patient", row.patient_id)],
            "organization": [ref("Organization", row.clinic_id)],
            "policy": [
                {"uri": f"{t.LOCAL}/consent-template/{row.template_key}/{row.template_version}"}
            ],
            "provision": {
                "type": "permit",
                "period": {"start": day(row.signed_on), "end": day(row.expires_on)},
            },
        }
    )


def audit_event(row: Any) -> Resource:
    """One entry of the audit log (admins only): who did what to which record, from where."""
    agent = _prune(
        {
            "who": (
                ref("Practitioner", row.user_id, row.username)
                if row.user_id
                else {"display": row.username or "system"}
            ),
            "requestor": True,
            "network": {"address": row.ip, "type": "2"} if row.ip else None,
            "role": [{"text": row.role}] if row.role else [],
        }
    )
    entity: list[dict[str, Any]] = []
    if row.patient_id:
        entity.append({"what": ref("Patient", row.patient_id)})
    if row.object_type:
        entity.append(
            {"what": {"display": f"{row.object_type} {row.object_id}".strip()}, "type": None}
        )
    return _prune(
        {
            "resourceType": "AuditEvent",
            "id": str(row.pk),
            "type": coding(t.LOCAL_CODES, f"audit-{row.action}", row.action),
            "recorded": instant(row.at),
            "outcome": "0",
            "agent": [agent],
            "source": {
                "observer": ref("Organization", row.clinic_id)
                if row.clinic_id
                else {"display": "ketaclinic"}
            },
            "entity": [_prune(e) for e in entity],
        }
    )
