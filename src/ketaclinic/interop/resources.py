"""Map rows of the record to FHIR R4 resources (JSON dicts), one function per source.

The mapping is a whitelist: each function names exactly the fields it sends, and
`sources.py` names exactly the models that are read. A field or model added to the
record later (a private note, a journal entry) reaches no client until someone maps
it here on purpose. Free text is sent only where it is the clinical record itself
(a condition's note); cancel reasons, session notes and consent texts are not sent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.instruments import Instrument
from ketaclinic.interop import terminology as t

Resource = dict[str, Any]


def instant(value: datetime | None) -> str | None:
    """An aware datetime as FHIR instant/dateTime text (UTC, seconds precision)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds")


def day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def number(value: Decimal | int | float) -> int | float:
    """A Decimal as a JSON number without losing what was recorded (70.0 -> 70, 36.6 -> 36.6)."""
    if isinstance(value, Decimal):
        normalized = value.normalize()
        return int(normalized) if normalized == normalized.to_integral() else float(normalized)
    return value


def ref(resource_type: str, pk: object, display: str | None = None) -> dict[str, str]:
    found = {"reference": f"{resource_type}/{pk}"}
    if display:
        found["display"] = display
    return found


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if codings:
        found["coding"] = list(codings)
    if text:
        found["text"] = text
    return found


def _meta(updated: datetime | None, *profiles: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if updated is not None:
        meta["lastUpdated"] = instant(updated)
    if profiles:
        meta["profile"] = [f"{t.US_CORE}/{p}" for p in profiles]
    return meta


def _prune(resource: Resource) -> Resource:
    """Drop keys whose value is None or empty: FHIR forbids empty elements."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


# --- Administrative ------------------------------------------------------------------


def organization(clinic: Any) -> Resource:
    return _prune(
        {
            "resourceType": "Organization",
            "id": str(clinic.pk),
            "meta": _meta(clinic.created_at),
            "identifier": [{"system": f"{t.LOCAL}/clinic", "value": clinic.slug}],
            "active": True,
            "name": clinic.name,
            "telecom": [{"system": "phone", "value": clinic.phone}] if clinic.phone else [],
            "address": [{"text": clinic.address}] if clinic.address else [],
        }
    )


def practitioner(membership: Any) -> Resource:
    """A staff member; the id is the user's, so every "recorded by" points at it."""
    user = membership.user
    name = _prune({"family": user.last_name, "given": [user.first_name] if user.first_name else []})
    if "family" not in name and "given" not in name:
        name = {"text": user.username}
    return _prune(
        {
            "resourceType": "Practitioner",
            "id": str(user.pk),
            "meta": _meta(membership.created_at),
            "identifier": [{"system": f"{t.LOCAL}/staff", "value": str(user.pk)}],
            "active": membership.is_active,
            "name": [name],
        }
    )


def location(room: Any) -> Resource:
    return {
        "resourceType": "Location",
        "id": str(room.pk),
        "status": "active" if room.active else "inactive",
        "name": room.name,
        "mode": "instance",
        "type": [concept(coding(t.LOCAL_CODES, room.kind), text=room.get_kind_display())],
        "managingOrganization": ref("Organization", room.clinic_id),
    }


# --- Patient -------------------------------------------------------------------------

GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}
# US Core 5.0.1 birth sex: F, M or UNK; intersex has no code there, so it is not sent.
BIRTH_SEX = {"female": "F", "male": "M", "unknown": "UNK"}


def patient(row: Any) -> Resource:
    extensions = []
    if row.sex_at_birth in BIRTH_SEX:
        extensions.append(
            {"url": f"{t.US_CORE}/us-core-birthsex", "valueCode": BIRTH_SEX[row.sex_at_birth]}
        )
    if row.gender_identity:
        extensions.append(
            {
                "url": f"{t.US_CORE}/us-core-genderIdentity",
                "valueCodeableConcept": {"text": row.gender_identity},
            }
        )
    names: list[dict[str, Any]] = [
        {"use": "official", "family": row.family_name, "given": [row.given_name]}
    ]
    if row.preferred_name:
        names.append({"use": "usual", "given": [row.preferred_name]})
    telecom = []
    if row.phone:
        telecom.append({"system": "phone", "value": row.phone})
    if row.email:
        telecom.append({"system": "email", "value": row.email})
    contact = []
    if row.emergency_contact_name:
        contact.append(
            _prune(
                {
                    "relationship": [{"text": row.emergency_contact_relationship}]
                    if row.emergency_contact_relationship
                    else [],
                    "name": {"text": row.emergency_contact_name},
                    "telecom": [{"system": "phone", "value": row.emergency_contact_phone}]
                    if row.emergency_contact_phone
                    else [],
                }
            )
        )
    return _prune(
        {
            "resourceType": "Patient",
            "id": str(row.pk),
            "meta": _meta(row.updated_at, "us-core-patient"),
            "extension": extensions,
            "identifier": [
                {
                    "use": "usual",
                    "type": concept(coding(t.IDENTIFIER_TYPE, "MR", "Medical record number")),
                    "system": f"{t.LOCAL}/clinic/{row.clinic_id}/mrn",
                    "value": row.mrn,
                }
            ],
            "active": row.status != "inactive",
            "name": names,
            "telecom": telecom,
            "gender": GENDER[row.sex_at_birth],
            "birthDate": day(row.birth_date),
            "address": [{"text": row.address}] if row.address else [],
            "contact": contact,
            "managingOrganization": ref("Organization", row.clinic_id),
        }
    )


# --- Problems, allergies, medications ---------------------------------------------------


def condition(row: Any) -> Resource:
    known = CONDITIONS.get(row.code)
    codings = []
    if known is not None and known.snomed_ct:
        codings.append(coding(t.SNOMED, known.snomed_ct, known.snomed_ct_display))
    if row.icd10cm:
        codings.append(coding(t.ICD10CM, row.icd10cm))
    status = "active" if row.is_active else "inactive"
    return _prune(
        {
            "resourceType": "Condition",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "clinicalStatus": concept(coding(t.CONDITION_CLINICAL, status)),
            "verificationStatus": concept(coding(t.CONDITION_VERIFICATION, "confirmed")),
            "category": [
                concept(coding(t.CONDITION_CATEGORY, "problem-list-item", "Problem List Item"))
            ],
            "code": concept(*codings, text=known.display if known else row.code),
            "subject": ref("Patient", row.patient_id),
            "onsetDateTime": day(row.onset),
            "recordedDate": instant(row.recorded_at),
            "note": [{"text": row.note}] if row.note else [],
        }
    )


ALLERGY_SEVERITY = {"mild": "mild", "moderate": "moderate", "severe": "severe"}


def allergy(row: Any) -> Resource:
    status = "active" if row.is_active else "inactive"
    reaction = _prune(
        {
            "manifestation": [{"text": row.reaction or "Reaction not recorded"}],
            "severity": ALLERGY_SEVERITY.get(row.severity),
        }
    )
    return _prune(
        {
            "resourceType": "AllergyIntolerance",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "clinicalStatus": concept(coding(t.ALLERGY_CLINICAL, status)),
            "code": {"text": row.substance},
            "patient": ref("Patient", row.patient_id),
            "recordedDate": instant(row.recorded_at),
            "reaction": [reaction] if row.reaction or row.severity in ALLERGY_SEVERITY else [],
        }
    )


def medication_statement(row: Any) -> Resource:
    dosage = " ".join(part for part in (row.dose, row.frequency) if part)
    return _prune(
        {
            "resourceType": "MedicationStatement",
            "id": str(row.pk),
            "meta": _meta(row.recorded_at),
            "status": "active" if row.is_active else "stopped",
            "category": concept(
                coding(t.LOCAL_CODES, f"class-{row.med_class}"), text=row.get_med_class_display()
            ),
            "medicationCodeableConcept": {"text": row.name},
            "subject": ref("Patient", row.patient_id),
            "dateAsserted": instant(row.recorded_at),
            "dosage": [{"text": dosage}] if dosage else [],
        }
    )


# --- Observations ----------------------------------------------------------------------


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [concept(coding(t.OBSERVATION_CATEGORY, code, display))]


VITAL_CATEGORY = ("vital-signs", "Vital Signs")
SURVEY_CATEGORY = ("survey", "Survey")
EXAM_CATEGORY = ("exam", "Exam")


def _quantity(value: Decimal | int, unit: str, ucum: str) -> dict[str, Any]:
    return {"value": number(value), "unit": unit, "system": t.UCUM, "code": ucum}


def _vital_parts(vital: t.VitalSign) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts every Observation of one vital sign shares: its profile and its code."""
    codings = [coding(t.LOINC, vital.loinc, vital.display)]
    codings += [coding(t.LOINC, code, display) for code, display in vital.also]
    return {"profile": [f"{t.US_CORE}/{vital.profile}"]}, concept(*codings, text=vital.display)


# Built once: a bulk export writes these for every reading (the JSON writer only reads them).
_VITAL_PARTS = {key: _vital_parts(vital) for key, vital in t.VITALS.items()}
_VITAL_CATEGORY = _category(*VITAL_CATEGORY)
_BP_PROFILE = [f"{t.US_CORE}/{t.BP_PROFILE}"]
_BP_CODE = concept(coding(t.LOINC, *t.BP_PANEL), text="Blood pressure")
_BP_SYSTOLIC = concept(coding(t.LOINC, *t.BP_SYSTOLIC))
_BP_DIASTOLIC = concept(coding(t.LOINC, *t.BP_DIASTOLIC))


def vital_observation(
    *,
    obs_id: str,
    key: str,
    value: Decimal | int,
    subject: dict[str, str],
    effective: str,
    encounter: dict[str, str] | None,
    updated: str | None,
) -> Resource:
    vital = t.VITALS[key]
    profile, code = _VITAL_PARTS[key]
    found: Resource = {
        "resourceType": "Observation",
        "id": obs_id,
        "meta": {"lastUpdated": updated, **profile} if updated else profile,
        "status": "final",
        "category": _VITAL_CATEGORY,
        "code": code,
        "subject": subject,
        "effectiveDateTime": effective,
        "valueQuantity": {
            "value": number(value),
            "unit": vital.unit,
            "system": t.UCUM,
            "code": vital.ucum,
        },
    }
    if encounter is not None:
        found["encounter"] = encounter
    return found


# Reading field -> (id suffix, vital key); blood pressure is its own panel.
# In id order, so that a reading's resources come out sorted as searches list them.
READING_VITALS = (
    ("hr", "heart_rate", "heart_rate"),
    ("rr", "respiratory_rate", "respiratory_rate"),
    ("spo2", "spo2", "spo2"),
    ("temp", "temperature_c", "temperature_c"),
)


def reading_observations(row: Any, *, patient_id: int, encounter_id: int) -> list[Resource]:
    """The Observations of one vital-sign reading: the BP panel, then each single sign."""
    effective = instant(row.taken_at) or ""
    updated = instant(row.recorded_at)
    subject = {"reference": f"Patient/{patient_id}"}
    encounter = {"reference": f"Encounter/{encounter_id}"}
    found = []
    if row.systolic is not None and row.diastolic is not None:
        found.append(
            {
                "resourceType": "Observation",
                "id": f"vital-{row.pk}-bp",
                "meta": {"lastUpdated": updated, "profile": _BP_PROFILE},
                "status": "final",
                "category": _VITAL_CATEGORY,
                "code": _BP_CODE,
                "subject": subject,
                "encounter": encounter,
                "effectiveDateTime": effective,
                "component": [
                    {
                        "code": _BP_SYSTOLIC,
                        "valueQuantity": _quantity(row.systolic, "mmHg", "mm[Hg]"),
                    },
                    {
                        "code": _BP_DIASTOLIC,
                        "valueQuantity": _quantity(row.diastolic, "mmHg", "mm[Hg]"),
                    },
                ],
            }
        )
    for suffix, field, key in READING_VITALS:
        value = getattr(row, field)
        if value is None:
            continue
        found.append(
            vital_observation(
                obs_id=f"vital-{row.pk}-{suffix}",
                key=key,
                value=value,
                subject=subject,
                effective=effective,
                encounter=encounter,
                updated=updated,
            )
        )
    return found


def body_observations(row: Any) -> list[Resource]:
    """Weight and height as last measured, from the patient's record."""
    found = []
    for suffix, key, value, measured in (
        ("weight", "weight_kg", row.weight_kg, row.weight_measured_on),
        ("height", "height_cm", row.height_cm, row.height_measured_on),
    ):
        if value is None or measured is None:
            continue  # a vital sign without a time is not an observation a client can use
        found.append(
            vital_observation(
                obs_id=f"body-{row.pk}-{suffix}",
                key=key,
                value=value,
                subject=ref("Patient", row.pk),
                effective=day(measured) or "",
                encounter=None,
                updated=instant(row.updated_at),
            )
        )
    return found


def _score_code(instrument: Instrument | None, code: str) -> dict[str, Any]:
    title = instrument.title if instrument else code
    if instrument is not None and instrument.loinc.total:
        return concept(coding(t.LOINC, instrument.loinc.total), text=f"{title} total score")
    if instrument is not None and instrument.loinc.risk_level:
        return concept(coding(t.LOINC, instrument.loinc.risk_level), text=f"{title} risk level")
    return concept(coding(t.LOCAL_CODES, f"{code}-total"), text=f"{title} total score")


def score_observations(row: Any, instrument: Instrument | None) -> list[Resource]:
    """A scored questionnaire as Observations: the total (or risk level), and PHQ-9 item 9."""
    base = {
        "resourceType": "Observation",
        "meta": _meta(row.created_at),
        "status": "final",
        "category": _category(*SURVEY_CATEGORY),
        "subject": ref("Patient", row.patient_id),
        "effectiveDateTime": instant(row.taken_at),
        "derivedFrom": [ref("QuestionnaireResponse", row.pk)],
    }
    found = []
    if row.total is not None:
        found.append(
            {
                **base,
                "id": f"score-{row.pk}",
                "code": _score_code(instrument, row.instrument),
                "valueQuantity": {
                    "value": row.total,
                    "unit": "{score}",
                    "system": t.UCUM,
                    "code": "{score}",
                },
                "interpretation": [{"text": row.severity_label}] if row.severity_label else [],
            }
        )
    elif row.severity and instrument is not None and instrument.scoring.kind == "risk_level":
        found.append(
            {
                **base,
                "id": f"score-{row.pk}",
                "code": _score_code(instrument, row.instrument),
                "valueCodeableConcept": concept(
                    coding(t.LOCAL_CODES, f"{row.instrument}-{row.severity}"),
                    text=row.severity_label or row.severity,
                ),
            }
        )
    if instrument is not None and row.instrument == "phq9" and len(row.answers) >= 9:
        answer = row.answers[8]
        item = instrument.items[8]
        if answer is not None and item.loinc:
            found.append(
                {
                    **base,
                    "id": f"score-{row.pk}-item9",
                    "code": concept(coding(t.LOINC, item.loinc), text="PHQ-9 item 9"),
                    "valueInteger": answer,
                }
            )
    return [_prune(r) for r in found]


def session_observation(row: Any, *, patient_id: int, encounter_id: int) -> Resource:
    """MOAA/S or CADSS-6 during a session (local codes: LOINC has none in our sources)."""
    return {
        "resourceType": "Observation",
        "id": f"session-{row.pk}",
        "status": "final",
        "category": _category(*EXAM_CATEGORY),
        "code": concept(
            coding(t.LOCAL_CODES, row.kind, t.LOCAL_OBSERVATIONS[row.kind]),
            text=t.LOCAL_OBSERVATIONS[row.kind],
        ),
        "subject": ref("Patient", patient_id),
        "encounter": ref("Encounter", encounter_id),
        "effectiveDateTime": instant(row.taken_at),
        "valueInteger": row.value,
    }


# --- Questionnaires ----------------------------------------------------------------------


def questionnaire_id(instrument: Instrument) -> str:
    return f"{instrument.code.replace('_', '-')}-{instrument.version}"


def questionnaire_url(instrument: Instrument) -> str:
    return f"{t.LOCAL}/Questionnaire/{questionnaire_id(instrument)}"


def _answer_coding(instrument: Instrument, value: int | bool, label: str) -> dict[str, Any]:
    return coding(f"{t.LOCAL}/CodeSystem/{instrument.code}-answers", str(value).lower(), label)


def questionnaire(instrument: Instrument) -> Resource:
    items = []
    for item in instrument.items:
        boolean = item.is_boolean
        entry: dict[str, Any] = {
            "linkId": str(item.number),
            "text": item.text,
            "type": "boolean" if boolean else "choice",
            "required": False,
        }
        if item.loinc:
            entry["code"] = [coding(t.LOINC, item.loinc)]
        if not boolean:
            entry["answerOption"] = [
                {"valueCoding": _answer_coding(instrument, o.value, o.label)} for o in item.options
            ]
        items.append(entry)
    return _prune(
        {
            "resourceType": "Questionnaire",
            "id": questionnaire_id(instrument),
            "url": questionnaire_url(instrument),
            "version": str(instrument.version),
            "name": instrument.code.replace("_", "").upper(),
            "title": instrument.title,
            "status": "active",
            "subjectType": ["Patient"],
            "code": [coding(t.LOINC, instrument.loinc.panel)] if instrument.loinc.panel else [],
            "copyright": instrument.license,
            "item": items,
        }
    )


def questionnaire_response(row: Any, instrument: Instrument | None) -> Resource:
    items = []
    if instrument is not None:
        for item, value in zip(instrument.items, row.answers, strict=False):
            if value is None:
                continue  # a skipped item has no answer; it is listed in the score's note
            if item.is_boolean:
                answer = {"valueBoolean": bool(value)}
            else:
                label = next((o.label for o in item.options if o.value == value), str(value))
                answer = {"valueCoding": _answer_coding(instrument, value, label)}
            items.append({"linkId": str(item.number), "text": item.text, "answer": [answer]})
    author = (
        ref("Patient", row.patient_id)
        if row.source == "patient_link"
        else (ref("Practitioner", row.entered_by_id) if row.entered_by_id else None)
    )
    return _prune(
        {
            "resourceType": "QuestionnaireResponse",
            "id": str(row.pk),
            "meta": _meta(row.created_at),
            "questionnaire": (
                f"{questionnaire_url(instrument)}|{instrument.version}" if instrument else None
            ),
            "status": "completed",
            "subject": ref("Patient", row.patient_id),
            "authored": instant(row.taken_at),
            "author": author,
            "source": ref("Patient", row.patient_id) if row.source == "patient_link" else None,
            "item": items,
        }
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
    entity = []
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
