"""API shapes for integration support: notes, plans and homework, sessions and circles."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ninja import Field, Schema

from ketaclinic.api_schemas import StrictIn
from ketaclinic.integration import notes, plans


class IntegrationAmendmentOut(Schema):
    id: int
    author: str
    reason: str
    text: str
    created_at: datetime


class IntegrationNoteOut(Schema):
    id: int
    kind: Literal["progress", "psychotherapy"]
    patient_id: int
    appointment_id: int | None
    circle_id: int | None
    template: str | None
    fields: dict[str, str]
    risk: str | None
    text: str
    author: str
    created_at: datetime
    signed_at: datetime | None
    alert_id: int | None
    amendments: list[IntegrationAmendmentOut]


class IntegrationNoteIn(StrictIn):
    kind: Literal["progress", "psychotherapy"]
    appointment: int | None = None
    circle: int | None = None
    template: Literal["dap", "soap"] | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    text: str = Field("", max_length=notes.MAX_TEXT)
    sign: bool = False


class IntegrationAmendIn(StrictIn):
    reason: str = Field(..., max_length=300)
    text: str = Field(..., max_length=notes.MAX_TEXT)


class IntegrationPrivateEditIn(StrictIn):
    text: str = Field(..., max_length=notes.MAX_TEXT)


class IntegrationReleaseIn(StrictIn):
    authorized_on: date
    expires_on: date
    scope: str = Field(..., max_length=300)
    recipient: str = Field(..., max_length=200)


class IntegrationReleaseOut(Schema):
    id: int
    note_id: int
    authorized_on: date
    expires_on: date
    scope: str
    recipient: str


class IntegrationGoalIO(StrictIn):
    words: str = Field(..., max_length=300)
    measure: Literal["instrument", "nrs", "personal"]
    instrument: str = Field("", max_length=40)
    scale_label: str = Field("", max_length=80)
    baseline: Decimal | None = None
    target: Decimal
    latest: Decimal | None = None
    reached: bool | None = None


class IntegrationPlanIn(StrictIn):
    goals: list[IntegrationGoalIO] = Field(default_factory=list, max_length=plans.MAX_GOALS)
    interventions: str = Field("", max_length=4000)
    review_on: date
    version: int | None = None


class IntegrationHomeworkOut(Schema):
    id: int
    kind: str
    title: str
    instructions: str
    due_on: date | None
    done_at: datetime | None


class IntegrationPlanOut(Schema):
    patient_id: int
    version: int
    review_on: date
    interventions: str
    goals: list[IntegrationGoalIO]
    homework: list[IntegrationHomeworkOut]


class IntegrationHomeworkIn(StrictIn):
    kind: Literal["journal", "breathing", "walking", "other"]
    title: str = Field(..., max_length=120)
    instructions: str = Field("", max_length=2000)
    due_on: date | None = None


class IntegrationFormatIn(StrictIn):
    mode: Literal["in_person", "video"]
    meeting_url: str = Field("", max_length=300)


class IntegrationFormatOut(Schema):
    appointment_id: int
    mode: str
    meeting_url: str


class IntegrationCircleIn(StrictIn):
    title: str = Field(..., max_length=80)
    therapist_id: int
    room_id: int
    start: datetime
    minutes: int = Field(90, ge=15, le=240)
    capacity: int = Field(8, ge=2, le=12)
    mode: Literal["in_person", "video"] = "in_person"
    meeting_url: str = Field("", max_length=300)
    patient_ids: list[int] = Field(default_factory=list, max_length=12)


class IntegrationSeatOut(Schema):
    patient_id: int
    attendance: str


class IntegrationCircleOut(Schema):
    id: int
    title: str
    therapist_id: int
    room_id: int
    start: datetime
    end: datetime
    mode: str
    meeting_url: str
    status: str
    seats: list[IntegrationSeatOut]


class IntegrationAttendanceIn(StrictIn):
    attendance: dict[str, Literal["expected", "attended", "absent", "excused"]] = Field(
        default_factory=dict, max_length=12
    )


class IntegrationPlannedOut(Schema):
    id: int
    patient_id: int
    course_id: int
    kind: str
    dosing_number: int
    opens: datetime
    closes: datetime
    appointment_id: int | None
    status: str


class IntegrationWorklistOut(Schema):
    missed: list[IntegrationPlannedOut]
    notes_due: list[int]
