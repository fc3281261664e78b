"""Map rows of the record to FHIR R4 resources (JSON dicts), one function per source.

The mapping is a whitelist: each function names exactly the fields it sends, and
`sources` names exactly the models that are read. A field or model added to the
record later (a private note, a journal entry) reaches no client until someone maps
it here on purpose. Free text is sent only where it is the clinical record itself
(a condition's note); cancel reasons, session notes and consent texts are not sent.

The parts: ``base`` (value types, references, codings), ``record`` (the clinic, staff,
rooms, the patient and their problems, allergies, medications), ``observations``,
``questionnaires`` and ``visits`` (encounters, appointments, treatment, adverse
events, consent, audit events).
"""

from __future__ import annotations

from .base import Resource, coding, concept, day, instant, number, ref
from .observations import (
    EXAM_CATEGORY,
    READING_VITALS,
    SURVEY_CATEGORY,
    VITAL_CATEGORY,
    body_observations,
    reading_observations,
    score_observations,
    session_observation,
    vital_observation,
)
from .questionnaires import (
    questionnaire,
    questionnaire_id,
    questionnaire_response,
    questionnaire_url,
)
from .record import (
    ALLERGY_SEVERITY,
    BIRTH_SEX,
    GENDER,
    allergy,
    condition,
    location,
    medication_statement,
    organization,
    patient,
    practitioner,
)
from .visits import (
    AE_OUTCOME,
    AE_OUTCOMES,
    AE_SERIOUSNESS,
    AE_SEVERITY,
    APPOINTMENT_STATUS,
    DRUG_TEXT,
    ENCOUNTER_STATUS,
    ENCOUNTER_TYPE,
    PROCEDURE_STATUS,
    ROUTE_TEXT,
    adverse_event,
    appointment,
    audit_event,
    consent,
    encounter,
    medication_administration,
    procedure,
)

__all__ = [
    "AE_OUTCOME",
    "AE_OUTCOMES",
    "AE_SERIOUSNESS",
    "AE_SEVERITY",
    "ALLERGY_SEVERITY",
    "APPOINTMENT_STATUS",
    "BIRTH_SEX",
    "DRUG_TEXT",
    "ENCOUNTER_STATUS",
    "ENCOUNTER_TYPE",
    "EXAM_CATEGORY",
    "GENDER",
    "PROCEDURE_STATUS",
    "READING_VITALS",
    "ROUTE_TEXT",
    "Resource",
    "SURVEY_CATEGORY",
    "VITAL_CATEGORY",
    "adverse_event",
    "allergy",
    "appointment",
    "audit_event",
    "body_observations",
    "coding",
    "concept",
    "condition",
    "consent",
    "day",
    "encounter",
    "instant",
    "location",
    "medication_administration",
    "medication_statement",
    "number",
    "organization",
    "patient",
    "practitioner",
    "procedure",
    "questionnaire",
    "questionnaire_id",
    "questionnaire_response",
    "questionnaire_url",
    "reading_observations",
    "ref",
    "score_observations",
    "session_observation",
    "vital_observation",
]
