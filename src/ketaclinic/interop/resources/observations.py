"""Vital signs, body measures, questionnaire scores and session observations as Observations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ketaclinic.clinical.instruments import Instrument
from ketaclinic.interop import terminology as t

from .base import Resource, _meta, _prune, coding, concept, day, instant, number, ref

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
