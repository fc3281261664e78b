"""API shapes for dosing, courses, rooms, appointments and series planning."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field

from ketaclinic.api_safety import LocalTime
from ketaclinic.api_schemas import StrictIn

Basis = Literal["actual", "ideal", "adjusted"]
Kind = Literal["consultation", "treatment", "integration", "follow_up", "preparation"]
Positive = Annotated[Decimal, Field(gt=0, le=10000)]


class DoseIn(StrictIn):
    protocol: str
    weight_kg: Annotated[Decimal, Field(gt=0, le=1000)] | None = None
    height_cm: Annotated[Decimal, Field(gt=0, le=1000)] | None = None
    sex_at_birth: Literal["female", "male", "intersex", "unknown"] | None = None
    dose_mg_per_kg: Positive | None = None
    dose_mg: Positive | None = None
    weight_basis: Basis | None = None
    concentration_mg_per_ml: Positive | None = None
    weight_measured_on: date | None = None
    first_session: bool = False


class DoseOut(Schema):
    protocol: str
    protocol_version: int
    dose_mg: float
    weight_basis: str | None
    weight_used_kg: float | None
    ideal_weight_kg: float | None
    effective_mg_per_kg: float | None
    concentration_mg_per_ml: float | None
    infusion_minutes: int | None
    volume_ml: float | None
    rate_ml_per_h: float | None
    devices: int | None
    warnings: list[str]


class PhaseOut(Schema):
    code: str
    kind: str
    label: str
    sessions: int | None
    min_hours_between_sessions: float | None
    max_span_days: int | None


class ProtocolOut(Schema):
    code: str
    version: int
    title: str
    family: str
    drug: str
    route: str
    off_label: bool
    dose_kind: str
    default_mg_per_kg: float | None
    hard_max_mg_per_kg: float | None
    allowed_doses_mg: list[float] | None
    weight_bases: list[str] | None
    infusion_minutes: int | None
    chair_minutes: int
    phases: list[PhaseOut]
    patient_instructions: list[str]


class CourseIn(StrictIn):
    protocol: str
    dose_mg_per_kg: Positive | None = None
    dose_mg: Positive | None = None
    weight_basis: Basis | None = None
    start_date: date


class DoseOrderIn(StrictIn):
    dose_mg_per_kg: Positive | None = None
    dose_mg: Positive | None = None
    weight_basis: Basis | None = None
    reason: Annotated[str, Field(min_length=1, max_length=300)]


class DoseOrderOut(Schema):
    id: int
    dose_mg_per_kg: Decimal | None
    dose_mg: Decimal | None
    weight_basis: str
    reason: str
    signed_by: int = Field(alias="signed_by_id")
    signed_at: datetime


class CourseOut(Schema):
    id: int
    patient: int = Field(alias="patient_id")
    protocol: str = Field(alias="protocol_code")
    protocol_version: int
    family: str
    phase: str
    planned_sessions: int
    start_date: date
    status: str
    # Null for a role without dose.view (the front desk, therapists), like current_dose.
    stop_reason: str | None
    prescriber: int = Field(alias="prescriber_id")
    signed_at: datetime
    current_dose: DoseOrderOut | None = None


class CourseEndIn(StrictIn):
    status: Literal["paused", "completed", "stopped"]
    reason: Annotated[str, Field(max_length=300)] = ""


class RoomIn(StrictIn):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    kind: Literal["treatment_chair", "consult_room"]


class RoomOut(Schema):
    id: int
    name: str
    kind: str
    active: bool


class AppointmentIn(StrictIn):
    patient: int
    kind: Kind
    start: datetime
    room: int
    course: int | None = None
    staff: int | None = None
    end: datetime | None = None


class AppointmentPatch(StrictIn):
    start: datetime | None = None
    end: datetime | None = None
    room: int | None = None
    # A membership id; null clears it (a treatment then gets any free nurse).
    staff: int | None = None
    status: (
        Literal["booked", "checked_in", "in_progress", "completed", "no_show", "cancelled"] | None
    ) = None
    reason: Annotated[str, Field(max_length=300)] = ""


class AppointmentOut(Schema):
    id: int
    patient: int = Field(alias="patient_id")
    kind: str
    room: int = Field(alias="room_id")
    course: int | None = Field(alias="course_id")
    staff: int | None = Field(alias="staff_id")
    start: datetime
    end: datetime
    status: str
    cancel_reason: str


class ConflictOut(Schema):
    detail: str
    conflicts: list[dict]


class CheckOut(Schema):
    conflicts: list[dict]


class MissingOut(Schema):
    detail: str
    missing: list[str]


class MoveIn(StrictIn):
    appointment: int
    start: datetime


class PlanIn(StrictIn):
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default=[0, 1, 2, 3, 4], min_length=1)
    earliest: LocalTime = time(8, 0)
    latest_start: LocalTime = time(17, 0)
    move: MoveIn | None = None


class SessionOut(Schema):
    index: int
    start: datetime
    end: datetime
    room: int
    room_name: str
    in_window: bool
    appointment: int | None
    moved_from: datetime | None
    staff: int | None  # the nurse proposed to monitor it
    staff_name: str | None


class PlanOut(Schema):
    course: int
    kept: int
    unplaced: int
    window_start: date
    window_end: date
    notes: list[str]
    sessions: list[SessionOut]


class SessionIn(StrictIn):
    start: datetime
    room: int
    appointment: int | None = None
    # A membership to assign (checked as chosen); omitted: a free nurse is assigned.
    staff: int | None = None


class BookIn(StrictIn):
    sessions: list[SessionIn] = Field(min_length=1, max_length=50)


class IntervalIn(StrictIn):
    weekday: Annotated[int, Field(ge=0, le=6)]
    starts: LocalTime
    ends: LocalTime


class WeeklyIn(StrictIn):
    hours: list[IntervalIn] = Field(max_length=50)


class WeeklyOut(Schema):
    hours: list[IntervalIn]


class ExceptionIn(StrictIn):
    day: date
    starts: LocalTime | None = None
    ends: LocalTime | None = None
    note: Annotated[str, Field(max_length=100)] = ""


class ExceptionOut(Schema):
    id: int
    day: date
    starts: LocalTime | None
    ends: LocalTime | None
    note: str


class SettingsIn(StrictIn):
    nurse_capacity: int | None = None
    reminder_hours_before: int | None = None


class SettingsOut(Schema):
    nurse_capacity: int
    reminder_hours_before: int
