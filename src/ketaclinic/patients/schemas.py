"""API shapes for the patient record; field names match the model (snake_case)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import EmailStr, Field, ValidationInfo, field_validator

from ketaclinic.api_schemas import StrictIn
from ketaclinic.clinical.conditions import CONDITION_CODES
from ketaclinic.clinical.eligibility.facts import MEDICATION_CLASSES

Sex = Literal["female", "male", "intersex", "unknown"]
Status = Literal["referred", "screening", "active", "maintenance", "inactive"]
# Physiological plausibility, docs/clinical-sources.md §5 (Monitoring thresholds) (policy).
WeightKg = Annotated[Decimal, Field(ge=25, le=350, decimal_places=1)]
HeightCm = Annotated[Decimal, Field(ge=100, le=250, decimal_places=1)]
Short = Annotated[str, Field(max_length=100)]


# Fields the record may clear by sending null; every other field refuses an explicit null.
NULLABLE = {"weight_kg", "weight_measured_on", "height_cm", "height_measured_on", "version"}


def _not_future(value: date | None) -> date | None:
    """Refuse a date after today anywhere on Earth (UTC+14); the service then checks the
    clinic's own date, which this schema does not know."""
    if value is not None and value > datetime.now(timezone(timedelta(hours=14))).date():
        raise ValueError("must not be in the future")
    return value


class PatientPatch(StrictIn):
    mrn: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    given_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    family_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    preferred_name: Short | None = None
    birth_date: date | None = None
    sex_at_birth: Sex | None = None
    gender_identity: Annotated[str, Field(max_length=60)] | None = None
    pronouns: Annotated[str, Field(max_length=30)] | None = None
    email: EmailStr | Literal[""] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    emergency_contact_name: Annotated[str, Field(max_length=150)] | None = None
    emergency_contact_phone: Annotated[str, Field(max_length=40)] | None = None
    emergency_contact_relationship: Annotated[str, Field(max_length=60)] | None = None
    escort_name: Annotated[str, Field(max_length=150)] | None = None
    escort_phone: Annotated[str, Field(max_length=40)] | None = None
    weight_kg: WeightKg | None = None
    weight_measured_on: date | None = None
    height_cm: HeightCm | None = None
    height_measured_on: date | None = None
    status: Status | None = None
    version: int | None = Field(
        default=None, description="The version you loaded; a stale one answers 409."
    )

    _dates = field_validator("birth_date", "weight_measured_on", "height_measured_on")(_not_future)

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: object, info: ValidationInfo) -> object:
        # Validators run only for fields sent, so this sees an explicit null only.
        if value is None and info.field_name not in NULLABLE:
            raise ValueError("may not be null")
        return value


class PatientIn(PatientPatch):
    given_name: Annotated[str, Field(min_length=1, max_length=100)]
    family_name: Annotated[str, Field(min_length=1, max_length=100)]
    birth_date: date
    sex_at_birth: Sex


class ConditionOut(Schema):
    id: int
    code: str
    icd10cm: str
    note: str
    is_active: bool


class MedicationOut(Schema):
    id: int
    name: str
    med_class: str
    dose: str
    frequency: str
    is_active: bool


class AllergyOut(Schema):
    id: int
    substance: str
    reaction: str
    severity: str
    is_active: bool


class PatientOut(Schema):
    id: int
    mrn: str
    given_name: str
    family_name: str
    preferred_name: str
    birth_date: date
    sex_at_birth: str
    gender_identity: str
    pronouns: str
    email: str
    phone: str
    address: str
    emergency_contact_name: str
    emergency_contact_phone: str
    emergency_contact_relationship: str
    escort_name: str
    escort_phone: str
    weight_kg: Decimal | None
    weight_measured_on: date | None
    height_cm: Decimal | None
    height_measured_on: date | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class PatientListItem(Schema):
    id: int
    mrn: str
    given_name: str
    family_name: str
    preferred_name: str
    birth_date: date
    status: str


class ConditionIn(StrictIn):
    code: Literal[CONDITION_CODES]  # type: ignore[valid-type]
    icd10cm: Annotated[str, Field(max_length=10)] = ""
    note: Annotated[str, Field(max_length=200)] = ""
    onset: date | None = None


class MedicationIn(StrictIn):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    med_class: Literal[(*MEDICATION_CLASSES, "other")]  # type: ignore[valid-type]
    dose: Annotated[str, Field(max_length=60)] = ""
    frequency: Annotated[str, Field(max_length=60)] = ""


class AllergyIn(StrictIn):
    substance: Annotated[str, Field(min_length=1, max_length=120)]
    reaction: Annotated[str, Field(max_length=200)] = ""
    severity: Literal["mild", "moderate", "severe", "unknown"] = "unknown"
