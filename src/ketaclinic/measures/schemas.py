"""API shapes for measures, alerts and outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from ketaclinic.api_schemas import StrictIn

Answer = int | bool | None


class MeasureIn(StrictIn):
    instrument: Annotated[str, Field(min_length=1, max_length=40)]
    # Validated against the instrument by the scoring core, which names the item.
    answers: list[Any]
    taken_at: datetime | None = None


class AlertBrief(Schema):
    code: str
    level: str
    message: str


class ScoreDetails(Schema):
    """How the total was made, and PCL-5's provisional-diagnosis results (None elsewhere)."""

    # True when skipped items were filled in by the mean of the answered ones (PHQ-9).
    prorated: bool
    # Items left blank that counted as missing, by item number.
    missing_items: list[int]
    # PCL-5: the DSM-5 item rule is met; the total is at or above the cut-off.
    provisional_diagnosis: bool | None
    above_cutoff: bool | None


class MeasureOut(ScoreDetails):
    id: int
    instrument: str
    version: int
    total: int | None
    severity: str | None
    severity_label: str | None
    subscores: dict[str, int]
    alerts: list[AlertBrief]
    taken_at: datetime


class MeasureListItem(ScoreDetails):
    id: int
    instrument: str
    version: int
    total: int | None
    severity: str | None
    severity_label: str | None
    subscores: dict[str, int]
    answers: list[Any]
    source: str
    taken_at: datetime


class OptionOut(Schema):
    value: int | bool
    label: str


class ItemOut(Schema):
    number: int
    text: str
    options: list[OptionOut]


class InstrumentOut(Schema):
    code: str
    version: int
    title: str
    recall_period: str | None
    rater: str
    license: str
    items: list[ItemOut]
    severity_codes: list[str]
    patient_may_fill: bool


class AlertOut(Schema):
    id: int
    patient_id: int
    response_id: int | None
    origin: str
    code: str
    level: str
    message: str
    opened_at: datetime
    status: str
    resolved_by: str | None
    resolved_at: datetime | None
    action: str
    note: str

    @staticmethod
    def resolve_resolved_by(obj: Any) -> str | None:
        return obj.resolved_by.username if obj.resolved_by_id else None


class AlertsQuery(Schema):
    status: Literal["open", "resolved", "all"] = "open"


class MeasuresQuery(Schema):
    instrument: str | None = None


class AlertResolveIn(StrictIn):
    action: Literal["safety_assessment", "safety_plan", "referral", "emergency_services", "other"]
    note: Annotated[str, Field(max_length=2000)] = ""


class OutcomeRow(Schema):
    instrument: str
    baseline: int
    # False when treatment started before any score: the baseline then reflects treatment,
    # and response and remission are not judged (null).
    baseline_before_treatment: bool
    latest: int
    # Null until there is a score after the baseline.
    change: int | None
    percent_change: float | None
    response: bool | None
    remission: bool | None
    count: int


class OutcomesOut(Schema):
    instruments: list[OutcomeRow]
