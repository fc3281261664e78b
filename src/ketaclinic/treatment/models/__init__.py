"""Monitored treatment sessions: checklist, administration, vitals, events, discharge, signing.

A session belongs to one checked-in treatment appointment of an active course. Its
`version` is bumped by every write (compare-and-set), so two people charting the same
session cannot overwrite each other: the second save is refused. Once the nurse has
signed, nothing in the session changes; corrections are `Amendment` rows that keep
the original value.

The models live in modules by aggregate (`session`, `dosing`, `monitoring`, `safety`,
`followup`); this package names them all, so `ketaclinic.treatment.models.X` and the
migrations stay as they were.
"""

from ketaclinic.treatment.models.dosing import (
    Administration,
    ChecklistResult,
    DeviceDose,
    InfusionChange,
    ItemStatus,
)
from ketaclinic.treatment.models.followup import FollowUpAttempt, FollowUpCall, RemsForm
from ketaclinic.treatment.models.monitoring import (
    ANXIETY_SCALE,
    NAUSEA_SCALE,
    Observation,
    ObservationKind,
    SessionAlert,
    VitalReading,
)
from ketaclinic.treatment.models.safety import (
    INTERVENTIONS,
    AdverseEvent,
    AdverseEventReport,
    LiverTest,
)
from ketaclinic.treatment.models.session import (
    ACTIVE_STATES,
    FINAL_STATES,
    Amendment,
    SessionEvent,
    State,
    TreatmentSession,
)

# The patient's portal check-in (treatment/patient_checkin.py), for the nurse to confirm.
from ketaclinic.treatment.patient_checkin import PatientCheckin

__all__ = [
    "ACTIVE_STATES",
    "ANXIETY_SCALE",
    "FINAL_STATES",
    "INTERVENTIONS",
    "NAUSEA_SCALE",
    "AdverseEvent",
    "AdverseEventReport",
    "Administration",
    "Amendment",
    "ChecklistResult",
    "DeviceDose",
    "FollowUpAttempt",
    "FollowUpCall",
    "InfusionChange",
    "ItemStatus",
    "LiverTest",
    "Observation",
    "ObservationKind",
    "PatientCheckin",
    "RemsForm",
    "SessionAlert",
    "SessionEvent",
    "State",
    "TreatmentSession",
    "VitalReading",
]
