"""The whitelist: every FHIR resource type the API and the bulk export can read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db.models import Q

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.roles import STAFF_ROLES
from ketaclinic.audit.models import AuditEvent
from ketaclinic.interop import resources as r
from ketaclinic.interop import terminology as term
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from ketaclinic.scheduling.models import Appointment, Room
from ketaclinic.screening.models import Consent
from ketaclinic.treatment.models import (
    Administration,
    AdverseEvent,
    TreatmentSession,
    VitalReading,
)
from ketaclinic.treatment.models import Observation as SessionObservation

from .builders import (
    ADMINISTRATION_FIELDS,
    APPOINTMENT_FIELDS,
    READING_FIELDS,
    RESPONSE_FIELDS,
    SESSION_FIELDS,
    Source,
    _narrow_body,
    _narrow_readings,
    _narrow_scores,
    _narrow_session_obs,
    _one,
    _questionnaire_response,
    _reading,
    _scores,
    _session_obs,
)

# --- The whitelist ---------------------------------------------------------------------------

ENCOUNTER_STATES = ("checked_in", "in_progress", "completed")


@dataclass(frozen=True)
class ResourceType:
    """A FHIR resource type we serve: its sources, the action that may read it, its searches."""

    name: str
    action: str
    sources: tuple[Source, ...]
    # search parameter -> lookup on the row (dates: a date field; "token" searches
    # below are handled by name). `patient` is implied by the source's patient path.
    dates: dict[str, str] = field(default_factory=dict)
    params: frozenset[str] = frozenset()
    includes: frozenset[str] = frozenset()
    us_core: str | None = None

    @property
    def patient_linked(self) -> bool:
        return all(s.patient for s in self.sources)


VITAL_ID = re.compile(r"vital-(\d{1,18})-(?:bp|hr|spo2|rr|temp)")
BODY_ID = re.compile(r"body-(\d{1,18})-(?:weight|height)")
SCORE_ID = re.compile(r"score-(\d{1,18})(?:-item9)?")
SESSION_OBS_ID = re.compile(r"session-(\d{1,18})")

TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "Patient",
            "patient.view",
            (
                Source(
                    Patient, "clinic", _one(r.patient), patient="pk",
                    updated="updated_at",
                ),
            ),
            params=frozenset({"identifier", "name", "family", "given", "birthdate", "gender"}),
            dates={"birthdate": "birth_date"},
            us_core="us-core-patient",
        ),
        ResourceType(
            "Condition",
            "clinical.view",
            (
                Source(
                    Condition, "clinic", _one(r.condition), patient="patient_id",
                    when="recorded_at", updated="recorded_at",
                ),
            ),
            params=frozenset({"category", "clinical-status", "code"}),
            dates={"onset-date": "onset", "recorded-date": "recorded_at"},
            includes=frozenset({"Condition:patient", "Condition:subject"}),
        ),
        ResourceType(
            "AllergyIntolerance",
            "clinical.view",
            (
                Source(
                    Allergy, "clinic", _one(r.allergy), patient="patient_id",
                    when="recorded_at", updated="recorded_at",
                ),
            ),
            params=frozenset({"clinical-status"}),
            includes=frozenset({"AllergyIntolerance:patient"}),
        ),
        ResourceType(
            "MedicationStatement",
            "clinical.view",
            (
                Source(
                    Medication, "clinic", _one(r.medication_statement), patient="patient_id",
                    when="recorded_at", updated="recorded_at",
                ),
            ),
            params=frozenset({"status"}),
            includes=frozenset({"MedicationStatement:patient", "MedicationStatement:subject"}),
        ),
        ResourceType(
            "Observation",
            "clinical.view",
            (
                Source(
                    VitalReading, "session__clinic", _reading, patient="session__patient_id",
                    when="taken_at", updated="recorded_at", fields=READING_FIELDS,
                    id_pattern=VITAL_ID, categories=frozenset({"vital-signs"}),
                    narrow=_narrow_readings,
                ),
                Source(
                    Patient, "clinic", lambda row, ctx: r.body_observations(row),
                    patient="pk", when="weight_measured_on", updated="updated_at",
                    id_pattern=BODY_ID, categories=frozenset({"vital-signs"}),
                    where=Q(weight_measured_on__isnull=False) | Q(height_measured_on__isnull=False),
                    narrow=_narrow_body,
                ),
                Source(
                    Response, "clinic", _scores, patient="patient_id", when="taken_at",
                    updated="created_at", id_pattern=SCORE_ID, fields=RESPONSE_FIELDS,
                    categories=frozenset({"survey"}), narrow=_narrow_scores,
                ),
                Source(
                    SessionObservation, "session__clinic", _session_obs,
                    patient="session__patient_id", when="taken_at", related=("session",),
                    updated="taken_at",  # never edited once recorded (amendments are separate)
                    where=Q(kind__in=tuple(term.LOCAL_OBSERVATIONS)),
                    id_pattern=SESSION_OBS_ID, categories=frozenset({"exam"}),
                    narrow=_narrow_session_obs,
                ),
            ),
            params=frozenset({"category", "code"}),
            dates={"date": "*"},
            includes=frozenset({"Observation:patient", "Observation:subject"}),
        ),
        ResourceType(
            "QuestionnaireResponse",
            "clinical.view",
            (
                Source(
                    Response, "clinic", _questionnaire_response, patient="patient_id",
                    when="taken_at", updated="created_at", fields=RESPONSE_FIELDS,
                ),
            ),
            params=frozenset({"questionnaire"}),
            dates={"authored": "taken_at"},
            includes=frozenset(
                {"QuestionnaireResponse:patient", "QuestionnaireResponse:questionnaire"}
            ),
        ),
        ResourceType(
            "Encounter",
            "clinical.view",
            (
                Source(
                    Appointment, "clinic", _one(r.encounter), patient="patient_id",
                    when="start", updated="updated_at", fields=APPOINTMENT_FIELDS,
                    where=Q(status__in=ENCOUNTER_STATES),
                ),
            ),
            dates={"date": "start"},
            params=frozenset({"status"}),
            includes=frozenset({"Encounter:patient", "Encounter:subject"}),
        ),
        ResourceType(
            "Procedure",
            "clinical.view",
            (
                Source(
                    TreatmentSession, "clinic", _one(r.procedure), patient="patient_id",
                    when="started_at", updated="updated_at", fields=SESSION_FIELDS,
                ),
            ),
            dates={"date": "started_at"},
            includes=frozenset({"Procedure:patient", "Procedure:subject"}),
        ),
        ResourceType(
            "MedicationAdministration",
            "clinical.view",
            (
                Source(
                    Administration, "session__clinic", _one(r.medication_administration),
                    patient="session__patient_id", when="recorded_at", updated="recorded_at",
                    fields=ADMINISTRATION_FIELDS,
                ),
            ),
            dates={"effective-time": "recorded_at"},
            includes=frozenset({"MedicationAdministration:patient"}),
        ),
        ResourceType(
            "AdverseEvent",
            "clinical.view",
            (
                Source(
                    AdverseEvent, "session__clinic", _one(r.adverse_event),
                    patient="session__patient_id", when="onset_at", updated="recorded_at",
                    related=("session",),
                ),
            ),
            dates={"date": "onset_at"},
            includes=frozenset({"AdverseEvent:subject"}),
        ),
        ResourceType(
            "Consent",
            "clinical.view",
            (
                Source(
                    Consent, "clinic", lambda row, ctx: [r.consent(row, ctx.today)],
                    patient="patient_id", when="signed_at", updated="signed_at",
                ),
            ),
            dates={"date": "signed_at"},
            includes=frozenset({"Consent:patient"}),
        ),
        ResourceType(
            "Appointment",
            "schedule.view",
            (
                Source(
                    Appointment, "clinic", _one(r.appointment), patient="patient_id",
                    when="start", updated="updated_at", fields=APPOINTMENT_FIELDS,
                ),
            ),
            dates={"date": "start"},
            params=frozenset({"status"}),
            includes=frozenset({"Appointment:patient"}),
        ),
        ResourceType(
            "Practitioner",
            "schedule.view",
            (
                Source(
                    Membership, "clinic", _one(r.practitioner), related=("user",),
                    where=Q(role__in=[role.value for role in STAFF_ROLES]),
                    updated="created_at", id_field="user_id",
                ),
            ),
        ),
        ResourceType(
            "Organization",
            "schedule.view",
            (Source(Clinic, "pk", _one(r.organization), updated="created_at"),),
        ),
        ResourceType(
            "Location",
            "schedule.view",
            (Source(Room, "clinic", _one(r.location)),),
        ),
        ResourceType(
            "AuditEvent",
            "audit.view",
            (
                Source(
                    AuditEvent, "clinic", _one(r.audit_event), when="at", updated="at",
                    patient="patient_id",
                ),
            ),
            dates={"date": "at"},
        ),
    )
}  # fmt: skip

# Questionnaires come from the instrument definitions, not from rows.
QUESTIONNAIRE_ACTION = "instruments.view"

COMMON_PARAMS = frozenset({"_id", "_count", "_offset", "_lastUpdated", "_include", "_format"})


def allowed_params(kind: ResourceType) -> frozenset[str]:
    found = COMMON_PARAMS | kind.params | set(kind.dates)
    if any(s.patient for s in kind.sources) and kind.name != "Patient":
        found |= {"patient", "subject"}
    return frozenset(found)
