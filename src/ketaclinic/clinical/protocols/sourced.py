"""The vocabulary of protocol files: source keys, code types, the sourced values. Pure.

Sources are the keys of docs/clinical-sources.md (``SPRAVATO-LABEL``, ``ANDRADE-2017`` ...) or
``policy`` for the clinic's own defaults; ``verify: true`` marks a number docs/clinical-sources.md
marks [verify]: a clinic-editable default, never a hard fact.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

# The source keys of docs/clinical-sources.md (and the sub-keys of clinical-sources.md it names).
# A typo in a data file must fail loudly, so an unknown key is a validation error.
KNOWN_SOURCES: frozenset[str] = frozenset(
    {
        "policy",
        "SPRAVATO-LABEL",
        "PI-CUR",
        "PI-2019",
        "HCP-DOSE",
        "MIMS-HK",
        "OPENFDA-NDC",
        "JNJ-SED",
        "JNJ-DISS",
        "SPRAVATO-REMS",
        "REMS-OUT",
        "REMS-PT",
        "PMF",
        "FDA-REMS",
        "APA-2017",
        "ANDRADE-2017",
        "FAVA-2020",
        "CANMAT-2021",
        "ASKP3",
        "COHEN-2018",
        "YALE-2024",
        "EMORY-684",
        "SZARMACH-2020",
        "IMMPACT",
    }
)

Signal = Literal[
    "systolic_bp",
    "diastolic_bp",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "temperature_c",
    "moaas",
]
SIGNALS: tuple[str, ...] = (
    "systolic_bp",
    "diastolic_bp",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "temperature_c",
    "moaas",
)
# Patient circumstances a checklist item can depend on; the caller says which hold.
ChecklistCondition = Literal[
    "pregnancy_possible", "first_session", "cardiovascular_risk", "liver_risk", "after_induction"
]
CHECKLIST_CONDITIONS: tuple[str, ...] = (
    "pregnancy_possible",
    "first_session",
    "cardiovascular_risk",
    "liver_risk",
    "after_induction",
)

Family = Literal["esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood", "ketamine-iv-pain"]
Drug = Literal["racemic_ketamine", "esketamine"]
Route = Literal["iv", "intranasal", "im"]
WeightBasis = Literal["actual", "ideal", "adjusted"]
AlertLevel = Literal["caution", "high", "urgent"]
_LEVEL_RANK = {"caution": 1, "high": 2, "urgent": 3}
Comparison = Literal[">", ">=", "<", "<="]
DosePhase = Literal["pre_dose", "during"]

KebabCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
SnakeCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(min_length=1)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]


def _check_source(value: str) -> str:
    """Return the source string unchanged after checking every key in it is known."""
    keys = [part.strip() for part in value.replace(";", ",").split(",")]
    unknown = [key for key in keys if key not in KNOWN_SOURCES]
    if not keys or unknown:
        raise ValueError(
            f"unknown source key(s) {unknown or [value]!r}; use keys from docs/clinical-sources.md or 'policy'"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourcedBase(_Model):
    """Where a value comes from: a docs/clinical-sources.md key (or 'policy'), [verify], and a note."""

    source: Text
    verify: StrictBool = False
    note: str | None = None

    @field_validator("source")
    @classmethod
    def _source_is_known(cls, value: str) -> str:
        return _check_source(value)


class Sourced(SourcedBase):
    """A positive decimal number with its source."""

    value: PositiveDecimal


class SourcedInt(SourcedBase):
    """A non-negative whole number (minutes, days, counts) with its source."""

    value: Annotated[int, Field(ge=0)]


class SourcedList(SourcedBase):
    """A list of positive numbers (allowed doses, concentrations) with one source."""

    values: tuple[PositiveDecimal, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _values_are_unique(cls, values: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if len(set(values)) != len(values):
            raise ValueError("values repeat")
        return values


class SourcedRange(SourcedBase):
    """An inclusive range where either end may be open (None)."""

    min: Annotated[Decimal, Field(ge=0)] | None = None
    max: Annotated[Decimal, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SourcedRange:
        if self.min is None and self.max is None:
            raise ValueError("a range needs a min, a max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("range min is above max")
        return self
