"""What the treatment API answers, as schemas (the OpenAPI document shows every field).

The session's shape is built by `presenters.detail` (shared with the charting page and
the PDF); these schemas describe it. Times are ISO 8601 strings in UTC as the presenter
writes them, numbers keep their JSON type (an integer stays an integer). Each schema
allows extra keys so a field added to the presenter is never silently dropped from an
answer; the OpenAPI snapshot test shows it as missing here instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Number = int | float


class _Out(BaseModel):
    # A plain pydantic model: ninja's Schema reads attributes and would drop the extras.
    model_config = ConfigDict(extra="allow")


class VersionConflictOut(_Out):
    """409: what blocks the change (`detail`, plus e.g. `blocking`, `unmet`)."""

    detail: Any


class SessionAlertOut(_Out):
    id: int
    code: str
    level: str
    message: str
    raised_at: str | None
    open: bool


class ReadingOut(_Out):
    id: int
    taken_at: str | None
    phase: str
    systolic: int | None
    diastolic: int | None
    heart_rate: int | None
    spo2: int | None
    respiratory_rate: int | None
    temperature_c: Number | None
    alerts: list[SessionAlertOut]


class RecordedReadingOut(ReadingOut):
    session_version: int


class ChecklistItemOut(_Out):
    item: str
    label: str
    hard_stop: bool
    automatic: bool
    status: str
    finding: str
    overridden: bool
    override_reason: str
    blocks: bool


class DueOut(_Out):
    kind: str
    label: str
    due_at: str | None
    overdue: bool
    in_minutes: int


class UnmetOut(_Out):
    code: str
    message: str


class DischargeOut(_Out):
    earliest_at: str | None
    unmet: list[UnmetOut]
    dissociation_resolved: bool | None
    walks_steadily: bool | None
    escort_present: bool | None
    could_have_left_at: str | None
    discharged_at: str | None


class TreatmentSessionOut(_Out):
    """One treatment session with its checklist, dose, readings, alerts and what is due."""

    id: int
    version: int
    state: str
    patient_id: int
    appointment_id: int | None
    course_id: int | None
    room: str
    protocol: dict[str, Any]
    drug: str
    route: str
    started_at: str | None
    dose_started_at: str | None
    dose_ended_at: str | None
    checklist: list[ChecklistItemOut]
    fasting: dict[str, Number | None]
    administration: dict[str, Any] | None
    devices: list[dict[str, Any]]
    infusion_changes: list[dict[str, Any]]
    readings: list[ReadingOut]
    observations: list[dict[str, Any]]
    alerts: list[SessionAlertOut]
    due: list[DueOut]
    discharge: DischargeOut
    adverse_events: list[dict[str, Any]]
    overrides: list[dict[str, Any]]
    checklist_changes: list[dict[str, Any]]
    stop_reason: str
    signed: dict[str, str | None]
    amendments: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


class DeviceOut(_Out):
    number: int
    given_at: str
    mg: Number
    warnings: list[Any]
    session_version: int


class ObservationOut(_Out):
    id: int
    kind: str
    value: Number | None
    text: str
    taken_at: str
    alerts: list[SessionAlertOut]
    session_version: int


class AdverseEventOut(_Out):
    id: int
    type: str
    serious: bool


class RemsFormOut(_Out):
    id: int
    session_id: int
    due_on: str
    submitted_on: str | None
    status: str


class RemsSubmittedOut(_Out):
    id: int
    submitted_on: str
